"""What a test cost: tokens processed, tokens per second, and the GPU memory in use at its peak."""

from __future__ import annotations

import math
import statistics
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from quantgate.engines.device import gpu_used_mib


@dataclass(frozen=True)
class Usage:
    tokens: int | None
    """Prompt and generated tokens the engine processed for this test (None: served from the cache)."""
    tokens_per_s: float | None
    gpu_peak_mib: float | None
    """Most device memory in use on the worker's GPUs while the test ran (None without a GPU).
    vLLM reserves its share of memory at load, so this is mostly that reservation."""
    serving: dict[str, Any] | None = None
    """A served engine's request latencies and throughput (serving_summary)."""
    data_parallel_size: int | None = None
    """Engine replicas that served the test (quantgate.engines.data_parallel); None: one engine."""


class PeakGpuMemory:
    """Samples device memory in use (NVML) on a thread while the block runs."""

    def __init__(self, interval_s: float = 0.5, read: Callable[[], float | None] = gpu_used_mib):
        self.interval_s = interval_s
        self.read = read
        self.peak_mib: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakGpuMemory:
        self.peak_mib = self.read()
        if self.peak_mib is not None:
            self._thread = threading.Thread(target=self._sample, name="quantgate-gpu-memory", daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._note(self.read())

    def _note(self, used: float | None) -> None:
        if used is not None and (self.peak_mib is None or used > self.peak_mib):
            self.peak_mib = used

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._note(self.read())


def usage(
    engine: Any, tokens_before: int | None, wall_s: float, memory: PeakGpuMemory, served_before: int | None = None
) -> Usage:
    """The test's usage from the engine's token counter (engines without one count nothing) and,
    for a served engine, its requests since ``served_before``."""
    counter = getattr(engine, "tokens", None)
    replicas = getattr(engine, "data_parallel_size", None)
    if counter is None or tokens_before is None:
        return Usage(None, None, memory.peak_mib, data_parallel_size=replicas)
    tokens = counter.total - tokens_before
    serving = None
    if served_before is not None:
        serving = serving_summary(engine.serving_log.since(served_before), engine.concurrency)
    return Usage(tokens, tokens / wall_s if wall_s > 0 and tokens else None, memory.peak_mib, serving, replicas)


def served_so_far(engine: Any) -> int | None:
    log = getattr(engine, "serving_log", None)
    return None if log is None else len(log.entries)


def tokens_so_far(engine: Any) -> int | None:
    counter = getattr(engine, "tokens", None)
    return None if counter is None else int(counter.total)


@dataclass(frozen=True)
class Served:
    """One request as it was served."""

    started: float
    latency_s: float
    output_tokens: int
    first_token_s: float | None = None
    """Streamed requests: time to the first text chunk."""
    inter_token_s: tuple[float, ...] = ()
    """Streamed requests: the gaps between text chunks (vLLM sends one token a chunk by default)."""


@dataclass
class ServingLog:
    entries: list[Served] = field(default_factory=list)

    def since(self, start: int) -> list[Served]:
        return self.entries[start:]


def serving_summary(entries: Sequence[Served], concurrency: int) -> dict[str, Any] | None:
    """Latency percentiles and throughput of a test's requests; time to first token and inter-token
    latency where its generations were streamed."""
    if not entries:
        return None
    span = max(e.started + e.latency_s for e in entries) - min(e.started for e in entries)
    output = sum(e.output_tokens for e in entries)
    summary = {
        "requests": len(entries),
        "concurrency": concurrency,
        **_percentiles_ms("latency", [e.latency_s for e in entries]),
        "requests_per_s": round(len(entries) / span, 2) if span > 0 else None,
        "output_tokens_per_s": round(output / span, 1) if span > 0 else None,
    }
    first = [e.first_token_s for e in entries if e.first_token_s is not None]
    gaps = [gap for e in entries for gap in e.inter_token_s]
    if first:
        summary.update(_percentiles_ms("ttft", first))
    if gaps:
        summary.update(_percentiles_ms("itl", gaps))
    return summary


def _percentiles_ms(name: str, seconds: Sequence[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return {f"{name}_p50_ms": round(1000 * statistics.median(ordered), 1), f"{name}_p95_ms": round(1000 * p95, 1)}

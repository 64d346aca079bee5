"""What a test cost: tokens processed, tokens per second, and the GPU memory in use at its peak."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
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


def usage(engine: Any, tokens_before: int | None, wall_s: float, memory: PeakGpuMemory) -> Usage:
    """The test's usage from the engine's token counter (engines without one count nothing)."""
    counter = getattr(engine, "tokens", None)
    if counter is None or tokens_before is None:
        return Usage(None, None, memory.peak_mib)
    tokens = counter.total - tokens_before
    return Usage(tokens, tokens / wall_s if wall_s > 0 and tokens else None, memory.peak_mib)


def tokens_so_far(engine: Any) -> int | None:
    counter = getattr(engine, "tokens", None)
    return None if counter is None else int(counter.total)

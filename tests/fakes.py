"""A scripted engine for unit tests of the plugin's logic; real models are tested in tests/e2e."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quantgate.engines.base import EngineInfo, Release, TokenCount
from quantgate.errors import EngineError, EngineLoadError
from quantgate.records import (
    Generation,
    GenerationRequest,
    LoglikelihoodRequest,
    NextTokenRequest,
    RollingLoglikelihoodRequest,
)


def _no_answer(_request: object) -> str:
    return ""


@dataclass
class FakeEngine:
    """Answers each request with the given functions and records every batch it was sent."""

    answer: Callable[[GenerationRequest], str] = _no_answer
    loglikelihood_of: Callable[[LoglikelihoodRequest], float] = lambda r: -float(len(r.continuation))
    next_token_of: Callable[[NextTokenRequest], dict[str, float]] = lambda r: {c: -1.0 for c in r.candidates}
    rolling_of: Callable[[RollingLoglikelihoodRequest], float] = lambda r: -float(len(r.text.split()))
    name: str = "fake"
    batches: list[tuple[str, int]] = field(default_factory=list)
    closed: bool = False
    load_s: float = 0.0

    def __post_init__(self) -> None:
        self.info = EngineInfo("fake", "0", "cpu", "fake device", {"model": self.name})

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        self.batches.append(("generate", len(requests)))
        return [Generation(self.answer(r), "stop", 1) for r in requests]

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[float]:
        self.batches.append(("loglikelihood", len(requests)))
        return [self.loglikelihood_of(r) for r in requests]

    def next_token_logprobs(self, requests: Sequence[NextTokenRequest]) -> list[dict[str, float]]:
        self.batches.append(("next_token", len(requests)))
        return [self.next_token_of(r) for r in requests]

    def loglikelihood_rolling(self, requests: Sequence[RollingLoglikelihoodRequest]) -> list[float]:
        self.batches.append(("rolling", len(requests)))
        return [self.rolling_of(r) for r in requests]

    def close(self) -> Release:
        self.closed = True
        return Release(0.0, 0, None, None)


def oracle(prepared_benchmarks, correct: bool = True, name: str = "oracle") -> FakeEngine:
    """An engine that knows the gold answers of these prepared benchmarks and gives them (or avoids them)."""
    gold: dict[str, str] = {}
    for bench in prepared_benchmarks:
        for item in bench.items:
            target = item.sample.target
            gold[item.context] = target.split("#### ")[-1] if item.sample.gold is None else " " + target

    def answer(request: GenerationRequest) -> str:
        number = gold[request.prompt]
        return f" #### {number if correct else number + '1'}"

    def loglikelihood_of(request: LoglikelihoodRequest) -> float:
        return 0.0 if (request.continuation == gold[request.context]) == correct else -9.0

    def next_token_of(request: NextTokenRequest) -> dict[str, float]:
        return {c: 0.0 if (c == gold[request.context]) == correct else -9.0 for c in request.candidates}

    return FakeEngine(answer, loglikelihood_of, next_token_of, name=name)


def result_entry(data: dict):
    """A results.json entry as the readers take it; an id ``family-variant-benchmark`` fills those fields."""
    from quantgate.results.model import ErrorEntry, TestResult

    if "nodeid" in data:
        return ErrorEntry.model_validate(data)
    family, variant, benchmark = data["id"].split("-", 2)
    return TestResult.model_validate({"family": family, "variant": variant, "benchmark": benchmark, **data})


def result_entries(*data: dict) -> list:
    return [result_entry(d) for d in data]


class ReplicaFake(FakeEngine):
    """A fake engine for a data-parallel replica's process (quantgate.engines.replica): each answer
    names its request, the process that served it and the devices it saw, so tests can check order,
    sharding and device claims across real processes. A helper process stands in for vLLM's engine
    process: close stops it, and a replica that dies leaves it behind for the parent to kill."""

    def __init__(self, *, device_name: str = "fake device", delay_s: float = 0.0, raise_on: str | None = None,
                 die_on: str | None = None, helper: bool = True):  # fmt: skip
        super().__init__(name="replica")
        self.info = EngineInfo("fake", "0", "cpu", device_name, {"model": "replica"})
        self.tokens = TokenCount()
        self.delay_s, self.raise_on, self.die_on = delay_s, raise_on, die_on
        self.helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]) if helper else None

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        start = time.time()
        for r in requests:
            if r.prompt == self.die_on:
                print("RuntimeError: CUDA error: an illegal memory access was encountered", file=sys.stderr, flush=True)
                os._exit(3)
            if r.prompt == self.raise_on:
                raise EngineError(f"1 of {len(requests)} requests exceed max_model_len=8 (prompt + max_tokens)")
        time.sleep(self.delay_s)
        self.tokens.prompt += sum(len(r.prompt) for r in requests)
        self.tokens.generated += len(requests)
        seen = f"{os.getpid()}|{os.environ.get('CUDA_VISIBLE_DEVICES')}|{sorted(os.sched_getaffinity(0))}"
        return [Generation(f"{r.prompt}|{seen}|{start}|{time.time()}", "stop", 1) for r in requests]

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[float]:
        return [-float(r.context.split()[-1]) for r in requests]

    def close(self) -> Release:
        if self.helper is not None:
            self.helper.terminate()
            self.helper.wait()
        return Release(0.0, 1 if self.helper else 0, None, None)


def replica_fake(log_path: Path | None = None, fail_load: bool = False, **options: Any) -> ReplicaFake:
    """The factory a ReplicaSpec names (``tests.fakes:replica_fake``)."""
    if fail_load:
        print("SafetensorError: Error while deserializing header: invalid JSON", file=sys.stderr, flush=True)
        raise EngineLoadError("vLLM could not load 'replica': RuntimeError: Engine core initialization failed")
    return ReplicaFake(**options)

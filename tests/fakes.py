"""A scripted engine for unit tests of the plugin's logic; real models are tested in tests/e2e."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from quantgate.engines.base import EngineInfo, Release
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

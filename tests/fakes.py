"""A scripted engine for unit tests of the plugin's logic; real models are tested in tests/e2e."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from quantgate.engines.base import EngineInfo, Release
from quantgate.records import Generation, GenerationRequest, LoglikelihoodRequest, NextTokenRequest


def _no_answer(_request: object) -> str:
    return ""


@dataclass
class FakeEngine:
    """Answers each request with the given functions and records every batch it was sent."""

    answer: Callable[[GenerationRequest], str] = _no_answer
    loglikelihood_of: Callable[[LoglikelihoodRequest], float] = lambda r: -float(len(r.continuation))
    next_token_of: Callable[[NextTokenRequest], dict[str, float]] = lambda r: {c: -1.0 for c in r.candidates}
    name: str = "fake"
    batches: list[tuple[str, int]] = field(default_factory=list)
    closed: bool = False
    load_s: float = 0.0

    def __post_init__(self) -> None:
        self.info = EngineInfo("fake", "0", "cpu", self.name, {})

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        self.batches.append(("generate", len(requests)))
        return [Generation(self.answer(r), "stop", 1) for r in requests]

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[float]:
        self.batches.append(("loglikelihood", len(requests)))
        return [self.loglikelihood_of(r) for r in requests]

    def next_token_logprobs(self, requests: Sequence[NextTokenRequest]) -> list[dict[str, float]]:
        self.batches.append(("next_token", len(requests)))
        return [self.next_token_of(r) for r in requests]

    def close(self) -> Release:
        self.closed = True
        return Release(0.0, 0, None, None)

"""What every benchmark declares, and the lm-evaluation-harness prompt layout they share.

A benchmark turns hub-schema records into Samples, renders a context (description, few-shot
examples, the question) exactly as lm-evaluation-harness does, says which engine requests score
an item, and scores the responses. It knows nothing about engines, baselines or pytest.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from quantgate.benchmarks.chat import ChatFormat
from quantgate.benchmarks.scoring import argmax, choice_accuracy
from quantgate.data.sources import HubSource
from quantgate.data.splits import Record, Splits
from quantgate.records import (
    Generation,
    GenerationRequest,
    LoglikelihoodRequest,
    Metric,
    NextTokenRequest,
    Request,
    Sample,
)

Response = Generation | float | dict[str, float]

# lm-eval's evaluator seeds the few-shot sampler with 1234 unless told otherwise.
FEWSHOT_SEED = 1234


@dataclass(frozen=True)
class Scored:
    """A benchmark's verdict on one item."""

    scores: dict[str, float]
    """Metric name -> value."""
    output: str
    """The response as text (generation, or each choice's log-likelihood)."""
    extracted: str | None
    """The answer read from the response; None when none could be read."""


class Benchmark(ABC):
    """A benchmark's declaration. Subclasses set the class attributes and the abstract methods."""

    name: ClassVar[str]
    """Registry key and marker name, e.g. ``"gsm8k"``."""
    version: ClassVar[str]
    """Prompt/scoring version; bump it on every change that can move a score."""
    hub: ClassVar[HubSource]
    test_items: ClassVar[int] = 1000
    """Items in the hub dataset's scored split (sharding weighs variants by it)."""
    cost_per_item: ClassVar[float] = 4.0
    """Relative cost of scoring one item (per-choice log-likelihoods: 4; generation costs more)."""
    """Default data source."""
    metrics: ClassVar[tuple[str, ...]]
    """Metric names the benchmark reports (aggregated over items by ``aggregate``)."""
    primary_metric: ClassVar[str]
    """The metric the gate reads unless the catalogue names another."""
    higher_is_better: ClassVar[bool] = True
    """False for perplexity-like metrics: the gate then bounds the increase."""
    clustered: ClassVar[bool] = False
    """Items of a group (an MMLU subject, a BBH subtask) are correlated: the gate clusters its errors by group."""
    num_fewshot: ClassVar[int] = 0
    """Default number of few-shot examples."""
    fewshot_sampler: ClassVar[Literal["random", "first_n"]] = "random"
    """``random``: lm-eval's default sampler (one seeded generator drawn in dataset order);
    ``first_n``: the first examples of the item's group in the pool (MMLU's dev split)."""
    fewshot_draws_extra: ClassVar[bool] = False
    """lm-eval draws n + 1 random examples and drops the scored item when a task names no separate
    few-shot split (HellaSwag, WinoGrande, BoolQ, ...): the same draws keep the same shots."""
    target_delimiter: ClassVar[str] = " "
    fewshot_delimiter: ClassVar[str] = "\n\n"

    @abstractmethod
    def to_sample(self, record: Record, index: int) -> Sample:
        """Convert one hub-schema record (``index`` is its position in the split)."""

    def description(self, sample: Sample) -> str:
        """Text placed before the few-shot examples (lm-eval's ``description``)."""
        return ""

    def fewshot_records(self, splits: Splits) -> list[Record]:
        """The pool few-shot examples are drawn from: the source's few-shot split, unless the task
        carries its own exemplars."""
        return splits.fewshot

    @abstractmethod
    def requests(self, sample: Sample, context: str, *, chat: bool = False) -> tuple[Request, ...]:
        """The engine requests that score ``sample`` given its full context (chat-rendered or not)."""

    @abstractmethod
    def score(self, sample: Sample, responses: Sequence[Response]) -> Scored:
        """Score the engine's responses, in the order of ``requests``."""

    def metric(self, name: str) -> Metric:
        """How ``name`` is computed from items' scores: a mean, unless a task says otherwise."""
        return Metric(name, self.higher_is_better)

    def chance(self, sample: Sample) -> float | None:
        """The score of guessing on this item, for below-chance checks; None where guessing means nothing."""
        return None

    def category(self, group: str) -> str | None:
        """The category a group belongs to (MMLU: stem, humanities, ...), reported beside the groups."""
        return None

    def context(self, sample: Sample, shots: Sequence[Sample], chat: ChatFormat | None = None) -> str:
        """lm-eval's prompt: the description, then each shot's question, target delimiter, answer and
        few-shot delimiter, then the question; with a chat format, the description is the system
        message and the rest one user message."""
        turns = "".join(shot.text + self.target_delimiter + shot.target + self.fewshot_delimiter for shot in shots)
        if chat is not None:
            return chat.render(self.description(sample), turns + sample.text)
        return self.description(sample) + turns + sample.text

    def fewshot(self, samples: Sequence[Sample], pool: Sequence[Sample], n: int) -> list[list[Sample]]:
        """Few-shot examples for each sample, in the order lm-eval draws them."""
        if n == 0:
            return [[] for _ in samples]
        if self.fewshot_sampler == "first_n":
            by_group: dict[str | None, list[Sample]] = {}
            for shot in pool:
                by_group.setdefault(shot.group, []).append(shot)
            return [by_group.get(sample.group, [])[:n] for sample in samples]
        rnd = random.Random(FEWSHOT_SEED)
        pool = list(pool)
        if self.fewshot_draws_extra:
            return [[shot for shot in rnd.sample(pool, n + 1) if shot != sample][:n] for sample in samples]
        return [rnd.sample(pool, n) for _ in samples]


class GenerativeBenchmark(Benchmark):
    """Greedy generation until a stop string, then an answer read from the text."""

    until: ClassVar[tuple[str, ...]]
    """Stop strings."""
    max_tokens: ClassVar[int] = 256
    """lm-eval's default ``max_gen_toks``."""

    def requests(self, sample: Sample, context: str, *, chat: bool = False) -> tuple[Request, ...]:
        return (GenerationRequest(context, self.max_tokens, self.until),)


class ChoiceBenchmark(Benchmark):
    """Multiple choice scored by the log-likelihood of each choice after the context.

    ``scoring = "next_token"`` asks the engine for next-token log-probabilities of single-token
    choices (one request per item, prefix-cache friendly); it gives the same numbers as the
    per-choice path whenever each choice is one token, and the engine refuses otherwise.
    """

    scoring: ClassVar[Literal["loglikelihood", "next_token"]] = "loglikelihood"
    metrics: ClassVar[tuple[str, ...]] = ("acc", "acc_norm")

    def chance(self, sample: Sample) -> float | None:
        return 1.0 / len(sample.choices)

    def continuations(self, sample: Sample, *, chat: bool = False) -> tuple[str, ...]:
        # After a chat template's assistant prompt lm-eval drops the delimiter before the choice.
        delimiter = "" if chat else self.target_delimiter
        return tuple(delimiter + choice for choice in sample.choices)

    def requests(self, sample: Sample, context: str, *, chat: bool = False) -> tuple[Request, ...]:
        continuations = self.continuations(sample, chat=chat)
        if self.scoring == "next_token":
            return (NextTokenRequest(context, continuations),)
        return tuple(LoglikelihoodRequest(context, cont) for cont in continuations)

    def score(self, sample: Sample, responses: Sequence[Response]) -> Scored:
        if self.scoring == "next_token":
            (by_candidate,) = responses
            assert isinstance(by_candidate, dict)
            lls = list(by_candidate.values())  # in the order of the candidates
        else:
            lls = [float(r) for r in responses]  # type: ignore[arg-type]
        assert sample.gold is not None
        scores = choice_accuracy(lls, sample.choices, sample.gold)
        output = " | ".join(f"{choice!r}: {ll:.4f}" for choice, ll in zip(sample.choices, lls))
        return Scored({m: scores[m] for m in self.metrics}, output, sample.choices[argmax(lls)])

"""Records that cross module boundaries: samples, engine requests and responses, item and task results."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union


@dataclass(frozen=True)
class Sample:
    """One benchmark item, converted from its dataset record."""

    id: str
    """Stable identifier within the benchmark's dataset (e.g. ``"42"`` or ``"anatomy/7"``)."""
    text: str
    """The item's question as the prompt template renders it, without few-shot examples."""
    target: str
    """The gold answer as text: the reference solution, or the correct choice."""
    choices: tuple[str, ...] = ()
    """Answer options for choice tasks, in order; empty for generative tasks."""
    gold: int | None = None
    """Index of the correct choice in ``choices``; None for generative tasks."""
    group: str | None = None
    """Cluster the item belongs to (an MMLU subject, a BBH subtask), or None."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """What a benchmark needs beyond the prompt to score the item (tests to run, instructions to check)."""


@dataclass(frozen=True)
class GenerationRequest:
    """Generation of a continuation of ``prompt``: greedy unless a temperature is given."""

    prompt: str
    """The full prompt text, few-shot examples included."""
    max_tokens: int
    """Upper bound on generated tokens."""
    stop: tuple[str, ...] = ()
    """Generation ends before the first of these strings."""
    temperature: float = 0.0
    """Sampling temperature; 0 is greedy."""
    top_p: float = 1.0
    """Nucleus sampling: draw from the smallest set of tokens holding this much probability."""
    seed: int | None = None
    """The request's own sampling seed (one per repeated sample), so a sample is reproducible."""


@dataclass(frozen=True)
class LoglikelihoodRequest:
    """The log-probability of ``continuation`` given ``context``, tokenized as lm-evaluation-harness does."""

    context: str
    """Conditioning text (trailing whitespace moves to the continuation before tokenizing)."""
    continuation: str
    """The text whose log-probability is summed."""


@dataclass(frozen=True)
class NextTokenRequest:
    """Log-probabilities of single-token candidates as the next token after ``context``."""

    context: str
    """Conditioning text."""
    candidates: tuple[str, ...]
    """Continuations that must each be exactly one token after ``context`` (e.g. " A", " B")."""


@dataclass(frozen=True)
class RollingLoglikelihoodRequest:
    """The log-probability of a whole document, scored in disjoint windows (lm-eval's loglikelihood_rolling)."""

    text: str
    """The document."""


Request = Union[GenerationRequest, LoglikelihoodRequest, NextTokenRequest, RollingLoglikelihoodRequest]


@dataclass(frozen=True)
class Sampling:
    """How a benchmark's generations are drawn (catalogue: temperature, top_p, repeats)."""

    temperature: float = 0.0
    """0 is greedy."""
    top_p: float = 1.0
    repeats: int = 1
    """Samples per item; 1 scores one generation."""

    def apply(self, requests: Sequence[Request]) -> tuple[Request, ...]:
        """The requests with this temperature and top-p on each generation; a sampled one gets seed
        0, so a single sample is reproducible and the variant draws as its reference does (repeated
        samples take seeds 0 to k - 1: quantgate.run.repeats)."""
        seed = 0 if self.temperature > 0 else None
        return tuple(
            dataclasses.replace(r, temperature=self.temperature, top_p=self.top_p, seed=seed)
            if isinstance(r, GenerationRequest)
            else r
            for r in requests
        )


@dataclass(frozen=True)
class Generation:
    """What the engine generated for one GenerationRequest."""

    text: str
    """Generated text, cut before the stop string."""
    finish_reason: str
    """``"stop"`` (stop string or end of sequence) or ``"length"`` (max_tokens reached)."""
    num_tokens: int
    """Number of generated tokens."""


@dataclass(frozen=True)
class ItemResult:
    """One item's outcome: what was asked, what came back, and how it scored."""

    id: str
    """The sample's id."""
    scores: dict[str, float]
    """Metric name -> value for this item (1.0 / 0.0 for accuracy-like metrics)."""
    prompt: str
    """The prompt sent to the engine (for choice tasks: the shared context)."""
    prompt_sha: str
    """Hash of the prompt and its request parameters; compared with the baseline's to detect prompt edits."""
    output: str
    """Generated text, or the choices' log-likelihoods rendered as text."""
    extracted: str | None
    """The answer read from the output (a number, a choice), or None when none was found."""
    target: str
    """The gold answer."""
    invalid: bool = False
    """True when no answer could be extracted from the output."""
    group: str | None = None
    """The sample's group (subject, subtask), if any."""
    trace_chars: int | None = None
    """Characters of the think trace removed before the answer was read; None when the family
    declares no reasoning format (quantgate.benchmarks.reasoning)."""
    unterminated: bool = False
    """The think trace never closed: the item is invalid and scores 0."""
    samples: tuple[ItemResult, ...] = ()
    """With ``repeats: k``: the k seeded samples this item's scores are the mean of (each one
    cached as it finishes); empty for a single generation."""


@dataclass(frozen=True)
class GroupResult:
    """A benchmark's score on one group of items (an MMLU subject or category, a BBH subtask)."""

    n: int
    """Items in the group."""
    score: float
    """The gated metric over the group."""
    chance: float | None
    """The expected score of guessing, where it is defined."""
    below_chance_p: float | None
    """One-sided binomial p-value of a score this low if the model guessed; None where undefined."""


@dataclass(frozen=True)
class TaskResult:
    """A benchmark's outcome for one variant."""

    benchmark: str
    """The catalogue's benchmark name (e.g. ``"mmlu-0shot"``)."""
    task: str
    """The task that produced it (e.g. ``"mmlu"``)."""
    task_version: str
    """The task's prompt/scoring version."""
    metric: str
    """The metric the gate reads."""
    items: tuple[ItemResult, ...]
    """Per-item results, in dataset order."""
    dataset_fingerprint: str
    """Hash of the whole dataset the items were drawn from (test and few-shot records)."""
    wall_s: float
    """Seconds spent serving and scoring the requests (engine load excluded)."""
    metrics: dict[str, float] = field(default_factory=dict)
    """Every metric of the benchmark over the items."""
    higher_is_better: bool = True
    """False for perplexity-like metrics."""
    groups: dict[str, GroupResult] = field(default_factory=dict)
    """Per-group scores: groups by name, categories as ``category:<name>``."""
    flags: tuple[str, ...] = ()
    """Warnings a release engineer should read (a group below chance, ...)."""

    @property
    def n(self) -> int:
        return len(self.items)

    @property
    def score(self) -> float:
        return self.metrics[self.metric]

    @property
    def invalid(self) -> int:
        """Answers that could not be read: samples, where items were sampled k times."""
        return sum(sum(s.invalid for s in item.samples) if item.samples else item.invalid for item in self.items)

    @property
    def answers(self) -> int:
        """Answers scored: items, or items times their samples."""
        return sum(len(item.samples) or 1 for item in self.items)


ItemScores = Mapping[str, float]


@dataclass(frozen=True)
class Metric:
    """A benchmark metric: its name, its direction, and how items' scores combine into it."""

    name: str
    """e.g. ``acc``, ``strict_match``, ``word_perplexity``."""
    higher_is_better: bool = True
    """False for perplexity-like metrics."""
    combine: Callable[[Sequence[ItemScores]], float] | None = None
    """Aggregation over items; None means the mean of each item's value of ``name``."""

    def value(self, items: Sequence[ItemScores]) -> float:
        if self.combine is not None:
            return self.combine(items)
        return math.fsum(item[self.name] for item in items) / len(items)

    def item_value(self, item: ItemScores) -> float:
        """The metric on one item alone (a document's perplexity, an item's accuracy)."""
        return self.combine([item]) if self.combine is not None else item[self.name]

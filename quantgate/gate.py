"""The release gate: a pure function over paired per-item results of a variant and its BF16 baseline."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

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


@dataclass(frozen=True)
class Tolerance:
    """How far the score may move in the bad direction from the baseline."""

    kind: Literal["absolute", "relative"]
    """``absolute``: in score units (0.02 = two points); ``relative``: a fraction of the baseline."""
    value: float
    """The allowed change."""

    def threshold(self, baseline: float, higher_is_better: bool = True) -> float:
        step = self.value if self.kind == "absolute" else abs(baseline) * self.value
        return baseline - step if higher_is_better else baseline + step

    def __str__(self) -> str:
        return f"{self.kind} {self.value:g}"


@dataclass(frozen=True)
class GateResult:
    """The gate's decision and every number behind it."""

    passed: bool
    """True when the score holds against the baseline."""
    score: float
    """The variant's value of the metric over the compared items."""
    baseline: float
    """The baseline's value over the same items."""
    threshold: float
    """The worst passing score."""
    tolerance: Tolerance
    """The configured tolerance."""
    n: int
    """Number of paired items compared."""
    message: str
    """One line a release engineer can act on."""

    @property
    def delta(self) -> float:
        return self.score - self.baseline


def compare(
    scores: Mapping[str, ItemScores],
    baseline_scores: Mapping[str, ItemScores],
    metric: Metric,
    tolerance: Tolerance,
    *,
    label: str,
) -> GateResult:
    """Compare a run's per-item scores with the baseline's on the same items.

    Both map item id -> that item's scores; every id of the run must be in the baseline (the
    caller checks coverage first). ``label`` names the variant and benchmark in the message.
    """
    missing = [item for item in scores if item not in baseline_scores]
    if missing:
        raise ValueError(f"{len(missing)} items have no baseline value (first: {missing[0]!r})")
    if not scores:
        raise ValueError("no items to compare")
    score = metric.value(list(scores.values()))
    baseline = metric.value([baseline_scores[item] for item in scores])
    threshold = tolerance.threshold(baseline, metric.higher_is_better)
    if metric.higher_is_better:
        passed, worse, bound = score >= threshold - 1e-12, "DROPPED", "<"
    else:
        passed, worse, bound = score <= threshold + 1e-12, "ROSE", ">"
    sign = "-" if metric.higher_is_better else "+"
    message = (
        f"{label}: {metric.name} {score:.4f} {'holds' if passed else worse} against baseline {baseline:.4f} "
        f"(delta {score - baseline:+.4f}; {'within' if passed else bound} threshold {threshold:.4f} = "
        f"baseline {sign} {tolerance}; n={len(scores)})"
    )
    return GateResult(passed, score, baseline, threshold, tolerance, len(scores), message)

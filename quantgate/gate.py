"""The release gate: a pure function over paired per-item results of a variant and its BF16 baseline."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Tolerance:
    """How far below the baseline a score may fall."""

    kind: Literal["absolute", "relative"]
    """``absolute``: in score units (0.02 = two points); ``relative``: a fraction of the baseline."""
    value: float
    """The allowed drop."""

    def threshold(self, baseline: float) -> float:
        if self.kind == "absolute":
            return baseline - self.value
        return baseline * (1.0 - self.value)

    def __str__(self) -> str:
        return f"{self.kind} {self.value:g}"


@dataclass(frozen=True)
class GateResult:
    """The gate's decision and every number behind it."""

    passed: bool
    """True when the score holds against the baseline."""
    score: float
    """The variant's mean over the compared items."""
    baseline: float
    """The baseline's mean over the same items."""
    threshold: float
    """The lowest passing score."""
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
    scores: Mapping[str, float],
    baseline_scores: Mapping[str, float],
    tolerance: Tolerance,
    *,
    label: str,
) -> GateResult:
    """Compare a run's per-item scores with the baseline's on the same items.

    ``scores`` and ``baseline_scores`` map item id -> metric value; every id of the run must be in
    the baseline (the caller checks coverage first). ``label`` names the variant and benchmark.
    """
    missing = [item for item in scores if item not in baseline_scores]
    if missing:
        raise ValueError(f"{len(missing)} items have no baseline value (first: {missing[0]!r})")
    n = len(scores)
    if n == 0:
        raise ValueError("no items to compare")
    score = sum(scores.values()) / n
    baseline = sum(baseline_scores[item] for item in scores) / n
    threshold = tolerance.threshold(baseline)
    passed = score >= threshold - 1e-12
    verdict = "holds" if passed else "DROPPED"
    relation = ">=" if passed else "<"
    message = (
        f"{label}: score {score:.4f} {verdict} against baseline {baseline:.4f} "
        f"(delta {score - baseline:+.4f}; {relation} threshold {threshold:.4f} = baseline - {tolerance}; "
        f"n={n})"
    )
    return GateResult(passed, score, baseline, threshold, tolerance, n, message)

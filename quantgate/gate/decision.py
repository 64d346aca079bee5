"""The release gate: a pure function over paired per-item results of a variant and its BF16 baseline.

Three decision modes, one meaning each (``GateRule``):

- ``non-inferiority`` (the default): the one-sided 1 - alpha lower confidence bound of the change
  lies above -margin. A variant passes only when the data show it lost less than the margin.
- ``absolute``: the observed change is at least -tolerance, in score units.
- ``relative``: the variant keeps at least ``recovery`` of the baseline's score.

Every mode reports the paired comparison (delta, interval, p, items lost and gained) and the
minimum detectable drop, and marks a run too small to resolve its allowed drop as underpowered.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from quantgate.gate import stats
from quantgate.gate.stats import PairedComparison
from quantgate.records import ItemScores, Metric

Mode = Literal["non-inferiority", "absolute", "relative"]
COMBINED_RESAMPLES = 1000


@dataclass(frozen=True)
class GateRule:
    """How a benchmark decides; ``value`` is the margin, the tolerance or the recovery, by ``mode``."""

    mode: Mode
    value: float
    """non-inferiority: margin and absolute: tolerance, both in score units (0.02 = two points);
    relative: the share of the baseline to keep (0.98)."""
    alpha: float = 0.05
    """One-sided error rate of the confidence bound (non-inferiority) and of the power calculation."""

    def allowed_drop(self, baseline: float, higher_is_better: bool = True) -> float:
        """The largest change in the bad direction that still passes, in score units."""
        if self.mode != "relative":
            return self.value
        if higher_is_better:
            return abs(baseline) * (1 - self.value)
        return abs(baseline) * (1 / self.value - 1) if self.value > 0 else math.inf

    def __str__(self) -> str:
        name = {"non-inferiority": "margin", "absolute": "tolerance", "relative": "recovery"}[self.mode]
        return f"{self.mode}, {name} {self.value:g}, alpha {self.alpha:g}"


@dataclass(frozen=True)
class GateResult:
    """The gate's decision and every number behind it."""

    passed: bool
    """True when the score holds against the baseline under the rule."""
    score: float
    """The variant's value of the metric over the compared items."""
    baseline: float
    """The baseline's value over the same items."""
    rule: GateRule
    comparison: PairedComparison
    higher_is_better: bool
    minimum_detectable_drop: float
    """The smallest drop this run resolves at 80% power and the rule's alpha."""
    underpowered: bool
    """The run is too small to resolve the rule's allowed drop: a pass says little."""
    message: str
    """One paragraph a release engineer can act on."""
    unchanged_pass: float = 1.0
    """Chance that a variant with no true change passes this gate, at this run's n and flip rate."""
    drop_blocked_95: float = 0.0
    """The smallest true drop (score units, bad direction) this gate blocks with 95% probability."""

    @property
    def delta(self) -> float:
        return self.score - self.baseline

    @property
    def n(self) -> int:
        return self.comparison.n

    @property
    def allowed_drop(self) -> float:
        """The rule's largest passing change in the bad direction, in score units, for this baseline."""
        return self.rule.allowed_drop(self.baseline, self.higher_is_better)

    @property
    def worst_credible(self) -> float:
        """The bad end of the interval, oriented so that negative is worse (for perplexity too)."""
        c = self.comparison
        return c.ci_low if self.higher_is_better else -c.ci_high


def compare(
    scores: Mapping[str, ItemScores],
    baseline_scores: Mapping[str, ItemScores],
    metric: Metric,
    rule: GateRule,
    *,
    label: str,
    clusters: Mapping[str, str | None] | None = None,
) -> GateResult:
    """Compare a run's per-item scores with the baseline's on the same items.

    Both map item id -> that item's scores; every id of the run must be in the baseline (the
    caller checks coverage first). ``clusters`` maps item id -> cluster (an MMLU subject) where
    items are correlated. ``label`` names the variant and benchmark in the message.
    """
    missing = [item for item in scores if item not in baseline_scores]
    if missing:
        raise ValueError(f"{len(missing)} items have no baseline value (first: {missing[0]!r})")
    if not scores:
        raise ValueError("no items to compare")
    ids = list(scores)
    ours = [scores[i] for i in ids]
    theirs = [baseline_scores[i] for i in ids]
    labels = [clusters.get(i) for i in ids] if clusters else None
    comparison = paired(ours, theirs, metric, rule.alpha, labels)
    score, baseline = metric.value(ours), metric.value(theirs)
    return decide(score, baseline, comparison, metric, rule, label)


def paired(
    ours: Sequence[ItemScores],
    theirs: Sequence[ItemScores],
    metric: Metric,
    alpha: float,
    clusters: Sequence[str | None] | None,
) -> PairedComparison:
    """McNemar with clustered errors for a mean of 0/1 scores; a paired bootstrap for anything else."""
    mine = np.array([metric.item_value(item) for item in ours])
    base = np.array([metric.item_value(item) for item in theirs])
    if metric.combine is None and np.isin(mine, (0.0, 1.0)).all() and np.isin(base, (0.0, 1.0)).all():
        return stats.paired_binary(mine, base, alpha=alpha, clusters=clusters)
    better = mine > base if metric.higher_is_better else mine < base
    worse = mine < base if metric.higher_is_better else mine > base
    lost, gained, n = int(worse.sum()), int(better.sum()), len(mine)
    if metric.combine is None:
        diffs = mine - base
        return stats.paired_bootstrap(
            stats.mean_delta_of(diffs), delta=float(diffs.mean()), lost=lost, gained=gained, n=n, alpha=alpha,
            clusters=clusters,
        )  # fmt: skip
    combine = metric.combine

    def delta_of(weights: np.ndarray) -> np.ndarray:
        out = np.empty(len(weights))
        for row, w in enumerate(weights):
            picked = np.repeat(np.arange(len(w)), w)
            out[row] = combine([ours[int(i)] for i in picked]) - combine([theirs[int(i)] for i in picked])
        return out

    return stats.paired_bootstrap(
        delta_of, delta=combine(ours) - combine(theirs), lost=lost, gained=gained, n=n, alpha=alpha,
        clusters=clusters, resamples=COMBINED_RESAMPLES,
    )  # fmt: skip


def decide(
    score: float, baseline: float, comparison: PairedComparison, metric: Metric, rule: GateRule, label: str
) -> GateResult:
    hib = metric.higher_is_better
    oriented = comparison.delta if hib else -comparison.delta
    lower_bound = comparison.ci_low if hib else -comparison.ci_high
    allowed = rule.allowed_drop(baseline, hib)
    if rule.mode == "non-inferiority":
        passed = lower_bound > -allowed
        why = f"lower bound {lower_bound:+.4f} {'>' if passed else '<='} -{allowed:.4f}"
    elif rule.mode == "absolute":
        passed = oriented >= -allowed - 1e-12
        why = f"delta {oriented:+.4f} {'>=' if passed else '<'} -{allowed:.4f}"
    else:
        kept = _kept(score, baseline, hib)
        passed = kept >= rule.value - 1e-12
        why = f"keeps {kept:.2%} {'>=' if passed else '<'} {rule.value:.2%} of the baseline"
    mdd = stats.minimum_detectable_drop(comparison.se, rule.alpha)
    underpowered = mdd > allowed
    unchanged_pass, blocked_95 = error_rates(rule, allowed, comparison.se)
    c = comparison
    direction = "" if hib else " (lower is better)"
    clusters = f", errors clustered over {c.clusters} groups" if c.clusters else ""
    lines = [
        f"{label}: {'PASSED' if passed else 'FAILED'} ({rule}: {why})",
        f"  {metric.name}{direction} {score:.4f} vs baseline {baseline:.4f}: delta {c.delta:+.4f}, "
        f"{c.level:.0%} CI [{c.ci_low:+.4f}, {c.ci_high:+.4f}], p={c.p_value:.3g} ({c.method}{clusters})",
        f"  items lost {c.lost}, gained {c.gained}, n={c.n}; minimum detectable drop {mdd:.4f} "
        f"(80% power, alpha {rule.alpha:g})",
    ]
    if underpowered:
        lines.append(
            f"  UNDERPOWERED: this run cannot resolve a drop of {allowed:.4f}; score more items or widen the margin"
        )
    return GateResult(passed, score, baseline, rule, c, hib, mdd, underpowered, "\n".join(lines), unchanged_pass,
                      blocked_95)  # fmt: skip


def error_rates(rule: GateRule, allowed: float, se: float) -> tuple[float, float]:
    """(chance an unchanged variant passes, smallest true drop blocked with 95% probability) for a
    gate whose change is estimated with standard error ``se``. Non-inferiority blocks when the
    lower bound falls to -allowed; the other modes when the observed change does."""
    z95 = stats.z_value(0.95)
    if rule.mode == "non-inferiority":
        unchanged = stats.pass_probability_non_inferiority(0.0, se, allowed, rule.alpha)
        return unchanged, max(0.0, allowed + se * (z95 - stats.z_value(1 - rule.alpha)))
    return stats.pass_probability_absolute(0.0, se, allowed), allowed + z95 * se


def _kept(score: float, baseline: float, higher_is_better: bool) -> float:
    """Share of the baseline the variant keeps (baseline/score for lower-is-better metrics)."""
    numerator, denominator = (score, baseline) if higher_is_better else (baseline, score)
    if denominator == 0:
        return 1.0 if numerator >= 0 else 0.0
    return numerator / denominator

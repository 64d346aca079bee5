"""Paired statistics for the gate: the variant and its baseline answered the same items.

Binary scores (right/wrong) get an exact McNemar p-value and Tango's score interval for the
difference of paired proportions (Tango 1998, Statistics in Medicine 17:891-908; the standard
non-inferiority test for matched pairs): each bound is the change at which the score test, with the
discordant probabilities re-estimated under that change, reaches z. Wald-type intervals use the
observed discordant counts for the variance and so shrink exactly when a drop happens to show few
lost items: Bonett and Price's adjusted Wald interval let a true 8-point drop through 7.5% of the
time at alpha 5% on a 100-item run with 1% flips (tests/unit/test_release_rates.py); Tango's keeps
it under alpha. Its standard error (``se``, for power and minimum detectable drops) still counts
one extra item in each discordant cell, as Bonett and Price do. Where items cluster, the variance
widens by the design effect (Miller 2024, "Adding Error Bars to Evals", eq. 4).
Other scores (F1, perplexity per document) get a paired bootstrap that resamples items, or whole
clusters. Pure numpy/scipy: no engine, no pytest.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import optimize, stats

Method = Literal["mcnemar", "bootstrap"]
DEFAULT_POWER = 0.8
BOOTSTRAP_RESAMPLES = 2000


@dataclass(frozen=True)
class PairedComparison:
    """Variant minus baseline over the same items, with its uncertainty."""

    n: int
    """Paired items."""
    delta: float
    """Variant's metric minus the baseline's, in metric units."""
    se: float
    """Standard error of ``delta`` (clustered, or the bootstrap's standard deviation)."""
    ci_low: float
    """Lower end of the two-sided ``level`` interval; also the one-sided 1 - alpha lower bound."""
    ci_high: float
    """Upper end of the interval (the one-sided 1 - alpha upper bound)."""
    level: float
    """Coverage of [ci_low, ci_high]: 1 - 2 alpha, so each end is a one-sided bound at 1 - alpha."""
    p_value: float
    """Two-sided p-value for 'no change': exact McNemar, or from the bootstrap distribution."""
    lost: int
    """Items the variant scores worse on than the baseline (right -> wrong for binary scores)."""
    gained: int
    """Items the variant scores better on."""
    method: Method
    clusters: int | None
    """Number of clusters the error accounts for; None when items are independent."""

    @property
    def flip_rate(self) -> float:
        return (self.lost + self.gained) / self.n


def z_value(probability: float) -> float:
    return float(stats.norm.ppf(probability))


def cluster_ids(clusters: Sequence[str | None] | None, n: int) -> np.ndarray:
    """Integer cluster index per item; each item its own cluster when ``clusters`` is None."""
    if clusters is None:
        return np.arange(n)
    if len(clusters) != n:
        raise ValueError(f"{len(clusters)} cluster labels for {n} items")
    _, ids = np.unique(np.array([str(c) for c in clusters]), return_inverse=True)
    return ids


def clustered_se(diffs: np.ndarray, ids: np.ndarray) -> float:
    """Standard error of the mean of ``diffs`` when items in a cluster are correlated (Miller 2024)."""
    n = len(diffs)
    residual_sums = np.bincount(ids, weights=diffs - diffs.mean())
    return float(np.sqrt(np.sum(residual_sums**2)) / n)


def design_effect(diffs: np.ndarray, ids: np.ndarray) -> float:
    """Variance inflation from clustering, never below 1: clustering only widens the interval."""
    independent = clustered_se(diffs, np.arange(len(diffs)))
    if independent == 0:
        return 1.0
    return max(1.0, (clustered_se(diffs, ids) / independent) ** 2)


def paired_binary(
    variant: np.ndarray, baseline: np.ndarray, *, alpha: float, clusters: Sequence[str | None] | None = None
) -> PairedComparison:
    """Right/wrong scores (0/1) of the same items: McNemar's exact test and a clustered normal interval."""
    variant, baseline = np.asarray(variant, float), np.asarray(baseline, float)
    n = len(variant)
    if n == 0 or len(baseline) != n:
        raise ValueError(f"need the same non-zero number of items, got {n} and {len(baseline)}")
    lost = int(np.sum((baseline == 1) & (variant == 0)))
    gained = int(np.sum((baseline == 0) & (variant == 1)))
    diffs = variant - baseline
    ids = cluster_ids(clusters, n)
    delta = float(diffs.mean())
    p_lost, p_gained = (lost + 1) / n, (gained + 1) / n
    se = np.sqrt(max(p_lost + p_gained - delta**2, 0.0) / n * design_effect(diffs, ids))
    p = 1.0 if lost + gained == 0 else float(stats.binomtest(gained, lost + gained, 0.5).pvalue)
    low, high = tango_interval(lost, gained, n, alpha, design_effect(diffs, ids))
    return PairedComparison(
        n=n,
        delta=delta,
        se=float(se),
        ci_low=low,
        ci_high=high,
        level=1 - 2 * alpha,
        p_value=p,
        lost=lost,
        gained=gained,
        method="mcnemar",
        clusters=None if clusters is None else int(ids.max()) + 1,
    )


def tango_score(lost: int, gained: int, n: int, delta0: float, design: float = 1.0) -> float:
    """Tango's score statistic for H0: (gained - lost) / n = delta0, with the discordant cell
    probabilities estimated by maximum likelihood under H0; the variance times the design effect."""
    b, c = gained, lost
    w = -b - c + (2 * n - b + c) * delta0
    p_lost = (-w + math.sqrt(max(w * w + 8 * n * c * delta0 * (1 - delta0), 0.0))) / (4 * n)
    variance = n * (2 * p_lost + delta0 * (1 - delta0)) * design
    return (b - c - n * delta0) / math.sqrt(max(variance, 1e-300))


def tango_interval(lost: int, gained: int, n: int, alpha: float, design: float = 1.0) -> tuple[float, float]:
    """The two one-sided 1 - alpha bounds of the paired change: where Tango's score reaches +-z."""
    z = z_value(1 - alpha)
    delta = (gained - lost) / n
    eps = 1e-12

    def bound(target: float, edge: float) -> float:
        if (tango_score(lost, gained, n, edge, design) - target) * (0.0 - target) > 0:
            return edge  # the score never reaches z inside (-1, 1): the bound is the edge
        return float(optimize.brentq(lambda d: tango_score(lost, gained, n, d, design) - target, edge, delta,
                                     xtol=1e-10))  # fmt: skip

    return bound(z, -1 + eps), bound(-z, 1 - eps)


def bootstrap_weights(ids: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(resamples x items) multiplicities: clusters drawn with replacement, each bringing all its items."""
    n_clusters = int(ids.max()) + 1
    counts = rng.multinomial(n_clusters, np.full(n_clusters, 1 / n_clusters), size=resamples)
    return counts[:, ids]


def paired_bootstrap(
    delta_of: Callable[[np.ndarray], np.ndarray],
    *,
    delta: float,
    lost: int,
    gained: int,
    n: int,
    alpha: float,
    clusters: Sequence[str | None] | None = None,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> PairedComparison:
    """Percentile bootstrap of ``delta_of(weights)``, which maps a (resamples x n) matrix of item
    multiplicities to one delta per row. Seeded, so a result is reproducible."""
    ids = cluster_ids(clusters, n)
    weights = bootstrap_weights(ids, resamples, np.random.default_rng(seed))
    draws = np.asarray(delta_of(weights), float)
    low, high = (float(q) for q in np.quantile(draws, [alpha, 1 - alpha]))
    at_or_below, at_or_above = float(np.mean(draws <= 0)), float(np.mean(draws >= 0))
    p = min(1.0, 2 * min(at_or_below, at_or_above))
    return PairedComparison(
        n=n,
        delta=delta,
        se=float(draws.std(ddof=1)),
        ci_low=low,
        ci_high=high,
        level=1 - 2 * alpha,
        p_value=p,
        lost=lost,
        gained=gained,
        method="bootstrap",
        clusters=None if clusters is None else int(ids.max()) + 1,
    )


def mean_delta_of(diffs: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """``delta_of`` for a metric that is the mean of per-item values."""
    diffs = np.asarray(diffs, float)
    return lambda weights: (weights @ diffs) / weights.sum(axis=1)


def minimum_detectable_drop(se: float, alpha: float, power: float = DEFAULT_POWER) -> float:
    """The smallest true drop a one-sided paired test at level ``alpha`` detects with ``power``."""
    return (z_value(1 - alpha) + z_value(power)) * se


def pass_probability_non_inferiority(true_delta: float, se: float, margin: float, alpha: float) -> float:
    """Chance that the one-sided lower bound lies above -margin, for a true (oriented) delta."""
    if se == 0:
        return 1.0 if true_delta > -margin else 0.0
    return float(stats.norm.cdf((true_delta + margin) / se - z_value(1 - alpha)))


def pass_probability_absolute(true_delta: float, se: float, tolerance: float) -> float:
    """Chance that the observed (oriented) delta is at least -tolerance, for a true delta."""
    if se == 0:
        return 1.0 if true_delta >= -tolerance else 0.0
    return float(stats.norm.cdf((true_delta + tolerance) / se))

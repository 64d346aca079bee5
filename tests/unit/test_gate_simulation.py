"""The gate's error rates, by simulation (seeded, CPU): it stays quiet on noise, catches a drop of
the margin, and decides at the rates its power calculation predicts.

Paired binary runs are drawn item by item: an item is lost (baseline right, variant wrong) with
probability (flip + drop) / 2, gained with (flip - drop) / 2, unchanged otherwise; the true change
is then -drop and the share of flipped items is ``flip``.
"""

import math

import numpy as np
import pytest

from quantgate.gate.decision import GateRule, decide
from quantgate.gate.stats import (
    mean_delta_of,
    paired_binary,
    paired_bootstrap,
    pass_probability_absolute,
    pass_probability_non_inferiority,
)
from quantgate.records import Metric

RUNS = 2000
ALPHA = 0.05
ACC = Metric("acc")


def simulate_binary(rng, n, flip, drop, accuracy=0.75):
    kind = rng.choice(3, size=n, p=[(flip + drop) / 2, (flip - drop) / 2, 1 - flip])  # lost, gained, same
    same_right = rng.random(n) < accuracy
    base = np.where(kind == 0, 1, np.where(kind == 1, 0, same_right)).astype(float)
    ours = np.where(kind == 0, 0, np.where(kind == 1, 1, same_right)).astype(float)
    return ours, base


def fail_rate(rule, n, flip, drop, seed, clusters=None, simulate=None, runs=RUNS):
    rng = np.random.default_rng(seed)
    failures = 0
    for _ in range(runs):
        ours, base = (simulate or simulate_binary)(rng, n, flip, drop)
        comparison = paired_binary(ours, base, alpha=rule.alpha, clusters=clusters)
        failures += not decide(ours.mean(), base.mean(), comparison, ACC, rule, "sim").passed
    return failures / runs


def expected_se(n, flip, drop):
    return math.sqrt(flip - drop**2) / math.sqrt(n)


def test_no_true_drop_false_alarms_stay_below_alpha_on_a_gsm8k_sized_run():
    """GSM8K test set (n = 1319), 5% of answers flipping, a 2.5-point margin."""
    rule = GateRule("non-inferiority", 0.025, ALPHA)
    assert fail_rate(rule, 1319, 0.05, 0.0, seed=1) <= ALPHA + 0.01


def test_a_true_drop_of_the_margin_passes_at_most_alpha_of_the_time():
    """Non-inferiority's own guarantee: a variant that really lost the margin is let through <= alpha.
    5,000 runs each, so one point is three standard errors of the simulated rate."""
    for n, flip, margin in ((1319, 0.05, 0.02), (400, 0.10, 0.04), (200, 0.15, 0.05), (100, 0.03, 0.02)):
        rule = GateRule("non-inferiority", margin, ALPHA)
        assert 1 - fail_rate(rule, n, flip, margin, seed=2, runs=5000) <= ALPHA + 0.01, (n, flip, margin)


@pytest.mark.parametrize(
    ("n", "flip", "margin", "drop"),
    [
        (400, 0.10, 0.04, 0.0),  # no drop: the gate passes at its computed power (about 81%)
        (400, 0.10, 0.04, 0.04),  # a drop of the margin: it fails at the computed rate (about 95%)
        (1319, 0.05, 0.02, 0.01),  # half the margin
        (1319, 0.05, 0.015, 0.0),  # a margin at the minimum detectable drop
    ],
)
def test_non_inferiority_decides_at_the_computed_rates(n, flip, margin, drop):
    rule = GateRule("non-inferiority", margin, ALPHA)
    predicted = 1 - pass_probability_non_inferiority(-drop, expected_se(n, flip, drop), margin, ALPHA)
    assert fail_rate(rule, n, flip, drop, seed=3) == pytest.approx(predicted, abs=0.05)


@pytest.mark.parametrize(("drop", "tolerance"), [(0.0, 0.02), (0.02, 0.02), (0.01, 0.03)])
def test_absolute_mode_decides_at_the_computed_rates(drop, tolerance):
    rule = GateRule("absolute", tolerance, ALPHA)
    predicted = 1 - pass_probability_absolute(-drop, expected_se(1319, 0.05, drop), tolerance)
    assert fail_rate(rule, 1319, 0.05, drop, seed=4) == pytest.approx(predicted, abs=0.05)


def simulate_clustered(rng, n, flip, drop):
    """57 subjects of 25 items whose drops differ by subject (sd 6 points) around the mean drop."""
    subject_drop = drop + rng.normal(0, 0.06, 57)
    subject_drop -= subject_drop.mean() - drop
    parts = [simulate_binary(rng, 25, flip, float(np.clip(d, -flip, flip))) for d in subject_drop]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def test_clustered_errors_keep_the_guarantee_when_subjects_differ():
    """MMLU-shaped: ignoring the subjects lets a drop of the margin through too often."""
    rule = GateRule("non-inferiority", 0.03, ALPHA)
    subjects = [str(i // 25) for i in range(57 * 25)]
    clustered = 1 - fail_rate(rule, 57 * 25, 0.12, 0.03, seed=5, clusters=subjects, simulate=simulate_clustered)
    naive = 1 - fail_rate(rule, 57 * 25, 0.12, 0.03, seed=5, simulate=simulate_clustered)
    assert clustered <= ALPHA + 0.02
    assert naive > clustered + 0.02


def test_bootstrap_keeps_the_guarantee_for_continuous_scores():
    """F1-like scores: a true drop of the margin passes at most alpha (+ bootstrap slack) of the time."""
    rng = np.random.default_rng(6)
    rule, n, runs, passes = GateRule("non-inferiority", 0.03, ALPHA), 200, 1000, 0
    for seed in range(runs):
        base = rng.uniform(0, 1, n)
        ours = base + rng.normal(-0.03, 0.15, n)
        diffs = ours - base
        comparison = paired_bootstrap(
            mean_delta_of(diffs),
            delta=float(diffs.mean()),
            lost=0,
            gained=0,
            n=n,
            alpha=ALPHA,
            resamples=500,
            seed=seed,
        )
        passes += decide(ours.mean(), base.mean(), comparison, Metric("f1"), rule, "sim").passed
    assert passes / runs <= ALPHA + 0.02

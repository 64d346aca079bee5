"""The gate compares paired per-item scores; its message carries every number behind the decision."""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from quantgate.gate.decision import GateRule, compare
from quantgate.gate.stats import clustered_se, minimum_detectable_drop, paired_binary, tango_score
from quantgate.records import Metric

ACC = Metric("acc")
NI = GateRule("non-inferiority", 0.05)


def scores(values, name="acc"):
    return {str(i): {name: float(v)} for i, v in enumerate(values)}


def paired_run(both_right, lost, gained, both_wrong):
    """Baseline and variant scores with the given counts of each kind of item."""
    base = [1] * both_right + [1] * lost + [0] * gained + [0] * both_wrong
    ours = [1] * both_right + [0] * lost + [1] * gained + [0] * both_wrong
    return scores(ours), scores(base)


def test_binary_scores_get_exact_mcnemar_and_counts_of_items_lost_and_gained():
    ours, base = paired_run(50, 1, 9, 40)
    result = compare(ours, base, ACC, NI, label="v on b")
    c = result.comparison
    assert (c.lost, c.gained, c.n, c.method) == (1, 9, 100, "mcnemar")
    assert c.p_value == pytest.approx(2 * 11 / 1024)  # two-sided exact: 2 P(X <= 1), X ~ Bin(10, 1/2)
    assert result.delta == pytest.approx(0.08)


def test_standard_error_counts_one_extra_item_in_each_discordant_cell():
    ours, base = paired_run(50, 6, 2, 42)
    c = compare(ours, base, ACC, NI, label="x").comparison
    se = math.sqrt((7 / 100 + 3 / 100 - 0.04**2) / 100)
    assert c.se == pytest.approx(se)
    assert c.level == pytest.approx(0.9)


def test_interval_bounds_are_where_tangos_score_with_restricted_estimates_reaches_z():
    ours, base = paired_run(50, 6, 2, 42)  # 6 lost, 2 gained of 100
    c = compare(ours, base, ACC, NI, label="x").comparison
    z = 1.6448536269514722
    assert tango_score(6, 2, 100, c.ci_low) == pytest.approx(z, abs=1e-6)
    assert tango_score(6, 2, 100, c.ci_high) == pytest.approx(-z, abs=1e-6)
    assert c.ci_low < -0.04 < c.ci_high
    # The restricted estimate is the maximum-likelihood one: no other lost-cell probability under
    # H0 (gained - lost) / n = d scores the observed table higher.
    d = c.ci_low
    grid = np.linspace(max(0.0, -d) + 1e-6, (1 - d) / 2 - 1e-6, 20001)
    loglik = 2 * np.log(grid + d) + 6 * np.log(grid) + 92 * np.log(1 - 2 * grid - d)
    b, lost, n = 2, 6, 100
    w = -b - lost + (2 * n - b + lost) * d
    restricted = (-w + math.sqrt(w * w + 8 * n * lost * d * (1 - d))) / (4 * n)
    assert restricted == pytest.approx(grid[np.argmax(loglik)], abs=1e-4)


def test_clusters_widen_the_interval_by_the_design_effect_and_never_narrow_it():
    ours, base = paired_run(0, 20, 0, 80)  # all 20 losses in the first subject
    subjects = {str(i): str(i // 20) for i in range(100)}
    independent = compare(ours, base, ACC, NI, label="x").comparison
    clustered = compare(ours, base, ACC, NI, label="x", clusters=subjects).comparison
    assert clustered.clusters == 5 and clustered.se > independent.se
    spread = {str(i): str(i % 5) for i in range(100)}  # losses spread evenly over the subjects
    assert compare(ours, base, ACC, NI, label="x", clusters=spread).comparison.se == pytest.approx(independent.se)


def test_clustered_standard_error_matches_millers_formula_and_grows_when_flips_cluster():
    diffs = np.array([-1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 1], float)
    ids = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    mean = diffs.mean()
    by_hand = math.sqrt(sum(((diffs[ids == k] - mean).sum()) ** 2 for k in range(3))) / len(diffs)
    assert clustered_se(diffs, ids) == pytest.approx(by_hand)
    assert clustered_se(diffs, ids) > clustered_se(diffs, np.arange(12))


def test_non_inferiority_passes_only_when_the_lower_bound_clears_the_margin():
    ours, base = paired_run(700, 30, 20, 250)  # delta -0.01, n = 1000
    result = compare(ours, base, ACC, GateRule("non-inferiority", 0.03), label="fam-int4 on gsm8k")
    assert result.passed and result.comparison.ci_low > -0.03
    strict = compare(ours, base, ACC, GateRule("non-inferiority", 0.015), label="fam-int4 on gsm8k")
    assert not strict.passed and strict.comparison.ci_low <= -0.015
    for text in (
        "FAILED",
        "non-inferiority, margin 0.015",
        "delta -0.0100",
        "90% CI",
        "p=",
        "lost 30, gained 20",
        "n=1000",
        "minimum detectable drop",
        "fam-int4 on gsm8k",
    ):
        assert text in strict.message


def test_absolute_mode_compares_the_observed_delta_with_the_tolerance():
    ours, base = paired_run(70, 5, 0, 25)  # delta -0.05
    assert compare(ours, base, ACC, GateRule("absolute", 0.05), label="x").passed
    assert not compare(ours, base, ACC, GateRule("absolute", 0.04), label="x").passed


def test_relative_mode_compares_the_share_of_the_baseline_kept():
    ours, base = paired_run(72, 8, 0, 20)  # 0.72 of 0.80 = 90%
    assert compare(ours, base, ACC, GateRule("relative", 0.90), label="x").passed
    failed = compare(ours, base, ACC, GateRule("relative", 0.91), label="x")
    assert not failed.passed and "keeps 90.00% < 91.00% of the baseline" in failed.message


def test_a_small_run_is_marked_underpowered_and_a_large_one_is_not():
    small = compare(*paired_run(30, 3, 2, 15), ACC, NI, label="x")
    assert small.underpowered and "UNDERPOWERED" in small.message
    assert small.minimum_detectable_drop > 0.05
    large = compare(*paired_run(1400, 30, 30, 540), ACC, NI, label="x")
    assert not large.underpowered
    se = large.comparison.se
    assert large.minimum_detectable_drop == pytest.approx((1.6448536 + 0.8416212) * se)


def test_a_small_run_without_flips_cannot_show_non_inferiority():
    """Twenty items that all agree still leave room for a 5-point drop: the gate says so."""
    tiny = compare(*paired_run(10, 0, 0, 10), ACC, NI, label="x")
    assert not tiny.passed and tiny.underpowered and tiny.comparison.se > 0
    assert compare(*paired_run(100, 0, 0, 100), ACC, NI, label="x").passed


def test_the_issue_numbers_for_gsm8k_paired_resolution():
    """n = 1319 and 5% of answers flipping: the paired test resolves about 1.5 points at 80% power."""
    se = math.sqrt(0.05 / 1319)
    assert minimum_detectable_drop(se, 0.05) == pytest.approx(0.0153, abs=5e-4)


def test_non_binary_scores_use_a_seeded_paired_bootstrap():
    rng = np.random.default_rng(1)
    base_f1 = rng.uniform(0, 1, 300)
    ours_f1 = np.clip(base_f1 + rng.normal(-0.02, 0.1, 300), 0, 1)
    ours, base = scores(ours_f1, "f1"), scores(base_f1, "f1")
    first = compare(ours, base, Metric("f1"), NI, label="x")
    again = compare(ours, base, Metric("f1"), NI, label="x")
    assert first.comparison.method == "bootstrap" and first.comparison == again.comparison
    c = first.comparison
    assert c.ci_low < c.delta < c.ci_high
    assert c.se == pytest.approx(np.std(ours_f1 - base_f1, ddof=1) / math.sqrt(300), rel=0.1)
    assert c.lost + c.gained == int(np.sum(ours_f1 != base_f1))


def test_identical_runs_pass_with_an_interval_around_zero():
    base = scores([1, 0, 1, 1, 0] * 40)
    result = compare(base, base, ACC, NI, label="bf16 on itself")
    c = result.comparison
    assert result.passed and (c.lost, c.gained, c.delta, c.p_value) == (0, 0, 0.0, 1.0)
    assert c.ci_low == pytest.approx(-c.ci_high) and c.ci_low > -0.02


def test_baseline_is_taken_over_the_run_items_only():
    run = {"a": {"acc": 1.0}, "b": {"acc": 0.0}}
    baseline = {"a": {"acc": 1.0}, "b": {"acc": 0.0}, "c": {"acc": 1.0}, "d": {"acc": 1.0}}  # more items
    result = compare(run, baseline, ACC, GateRule("absolute", 0.0), label="x")
    assert result.baseline == 0.5 and result.n == 2 and result.passed


def test_items_without_baseline_are_an_error():
    with pytest.raises(ValueError, match="1 items have no baseline value"):
        compare({"a": {"acc": 1.0}, "z": {"acc": 1.0}}, {"a": {"acc": 1.0}}, ACC, NI, label="x")


def perplexity(items):
    return math.exp(-math.fsum(i["ll"] for i in items) / math.fsum(i["words"] for i in items))


def test_lower_is_better_bounds_the_increase_with_a_custom_aggregate():
    metric = Metric("word_perplexity", higher_is_better=False, combine=perplexity)
    rng = np.random.default_rng(0)
    words = rng.integers(20, 200, 60).astype(float)
    base_ll = -words * rng.uniform(2.0, 3.0, 60)
    base = {str(i): {"ll": base_ll[i], "words": words[i]} for i in range(60)}
    worse = {str(i): {"ll": base_ll[i] * 1.04, "words": words[i]} for i in range(60)}  # every document worse
    rule = GateRule("relative", 0.95)
    result = compare(worse, base, metric, rule, label="v on wikitext")
    assert result.score > result.baseline and result.comparison.method == "bootstrap"
    assert result.comparison.lost == 60 and result.comparison.gained == 0
    assert result.comparison.ci_low > 0  # the increase is certain
    kept = result.baseline / result.score
    assert result.passed == (kept >= 0.95)
    assert f"keeps {kept:.2%}" in result.message and "(lower is better)" in result.message
    assert not compare(worse, base, metric, GateRule("relative", 0.99), label="x").passed
    assert compare(base, base, metric, rule, label="x").passed


def test_mcnemar_agrees_with_scipy_on_a_direct_call():
    ours = np.array([1] * 40 + [0] * 12 + [1] * 5 + [0] * 43)
    base = np.array([1] * 40 + [1] * 12 + [0] * 5 + [0] * 43)
    c = paired_binary(ours, base, alpha=0.05)
    assert c.p_value == pytest.approx(scipy_stats.binomtest(5, 17, 0.5).pvalue)

"""The gate compares paired per-item scores; its message carries every number behind the decision."""

import math

import pytest

from quantgate.gate import Metric, Tolerance, compare

ACC = Metric("acc")


def scores(values, name="acc"):
    return {str(i): {name: float(v)} for i, v in enumerate(values)}


def test_absolute_tolerance_passes_a_drop_within_it():
    result = compare(scores([1, 1, 1, 0]), scores([1, 1, 1, 1]), ACC, Tolerance("absolute", 0.25), label="v on b")
    assert result.passed
    assert result.delta == pytest.approx(-0.25)
    assert result.threshold == pytest.approx(0.75)


def test_absolute_tolerance_fails_a_larger_drop_and_says_so():
    result = compare(
        scores([1, 0, 0, 0]), scores([1, 1, 1, 0]), ACC, Tolerance("absolute", 0.2), label="fam-int4 on gsm8k"
    )
    assert not result.passed
    assert result.message == (
        "fam-int4 on gsm8k: acc 0.2500 DROPPED against baseline 0.7500 (delta -0.5000; "
        "< threshold 0.5500 = baseline - absolute 0.2; n=4)"
    )


def test_relative_tolerance_scales_with_the_baseline():
    tolerance = Tolerance("relative", 0.1)
    assert tolerance.threshold(0.8) == pytest.approx(0.72)
    assert compare(scores([1] * 72 + [0] * 28), scores([1] * 80 + [0] * 20), ACC, tolerance, label="x").passed
    assert not compare(scores([1] * 71 + [0] * 29), scores([1] * 80 + [0] * 20), ACC, tolerance, label="x").passed


def test_baseline_is_taken_over_the_run_items_only():
    run = {"a": {"acc": 1.0}, "b": {"acc": 0.0}}
    baseline = {"a": {"acc": 1.0}, "b": {"acc": 0.0}, "c": {"acc": 1.0}, "d": {"acc": 1.0}}  # more items
    result = compare(run, baseline, ACC, Tolerance("absolute", 0.0), label="x")
    assert result.baseline == 0.5 and result.n == 2 and result.passed


def test_items_without_baseline_are_an_error():
    with pytest.raises(ValueError, match="1 items have no baseline value"):
        compare({"a": {"acc": 1.0}, "z": {"acc": 1.0}}, {"a": {"acc": 1.0}}, ACC, Tolerance("absolute", 0.0), label="x")


def perplexity(items):
    return math.exp(-math.fsum(i["ll"] for i in items) / math.fsum(i["words"] for i in items))


def test_lower_is_better_bounds_the_increase_with_a_custom_aggregate():
    metric = Metric("word_perplexity", higher_is_better=False, combine=perplexity)
    base = {"d1": {"ll": -100.0, "words": 50.0}, "d2": {"ll": -300.0, "words": 100.0}}
    worse = {"d1": {"ll": -110.0, "words": 50.0}, "d2": {"ll": -300.0, "words": 100.0}}
    tolerance = Tolerance("relative", 0.05)
    result = compare(worse, base, metric, tolerance, label="v on wikitext")
    assert result.baseline == pytest.approx(math.exp(400 / 150))
    assert result.score == pytest.approx(math.exp(410 / 150))
    assert result.threshold == pytest.approx(result.baseline * 1.05)
    assert (
        not result.passed and "ROSE against baseline" in result.message and "baseline + relative 0.05" in result.message
    )
    assert compare(base, base, metric, tolerance, label="x").passed

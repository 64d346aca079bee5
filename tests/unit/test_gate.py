"""The gate compares paired per-item scores; its message carries every number behind the decision."""

import pytest

from quantgate.gate import Tolerance, compare


def scores(values):
    return {str(i): float(v) for i, v in enumerate(values)}


def test_absolute_tolerance_passes_a_drop_within_it():
    result = compare(scores([1, 1, 1, 0]), scores([1, 1, 1, 1]), Tolerance("absolute", 0.25), label="v on b")
    assert result.passed
    assert result.delta == pytest.approx(-0.25)
    assert result.threshold == pytest.approx(0.75)


def test_absolute_tolerance_fails_a_larger_drop_and_says_so():
    result = compare(scores([1, 0, 0, 0]), scores([1, 1, 1, 0]), Tolerance("absolute", 0.2), label="fam-int4 on gsm8k")
    assert not result.passed
    assert result.message == (
        "fam-int4 on gsm8k: score 0.2500 DROPPED against baseline 0.7500 (delta -0.5000; "
        "< threshold 0.5500 = baseline - absolute 0.2; n=4)"
    )


def test_relative_tolerance_scales_with_the_baseline():
    tolerance = Tolerance("relative", 0.1)
    assert tolerance.threshold(0.8) == pytest.approx(0.72)
    assert compare(scores([1] * 72 + [0] * 28), scores([1] * 80 + [0] * 20), tolerance, label="x").passed
    assert not compare(scores([1] * 71 + [0] * 29), scores([1] * 80 + [0] * 20), tolerance, label="x").passed


def test_baseline_is_taken_over_the_run_items_only():
    run = {"a": 1.0, "b": 0.0}
    baseline = {"a": 1.0, "b": 0.0, "c": 1.0, "d": 1.0}  # recorded on more items
    result = compare(run, baseline, Tolerance("absolute", 0.0), label="x")
    assert result.baseline == 0.5 and result.n == 2 and result.passed


def test_items_without_baseline_are_an_error():
    with pytest.raises(ValueError, match="1 items have no baseline value"):
        compare({"a": 1.0, "z": 1.0}, {"a": 1.0}, Tolerance("absolute", 0.0), label="x")

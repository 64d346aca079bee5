"""Answer extraction and metrics, checked on tricky strings (lm-eval gsm8k filters and exact_match)."""

import pytest

from quantgate.benchmarks.scoring import (
    GSM8K_FLEXIBLE,
    GSM8K_STRICT,
    argmax,
    choice_accuracy,
    exact_match,
    normalize_for_exact_match,
    regex_extract,
)


@pytest.mark.parametrize(
    ("output", "strict"),
    [
        (" 3 + 4 = 7.\n#### 7", "7"),
        ("#### 1,234", "1,234"),
        ("#### -5", "-5"),
        ("#### 3.50", "3.50"),
        ("#### 7\n\nQuestion: #### 9", "7"),  # the first "#### N" counts
        ("####7", None),  # the space is part of the pattern
        ("The answer is 42.", None),
        ("#### $18", None),  # "$" is not in the strict pattern
        ("", None),
    ],
)
def test_strict_match_extraction(output, strict):
    assert regex_extract(output, GSM8K_STRICT) == strict


@pytest.mark.parametrize(
    ("output", "flexible"),
    [
        ("She pays $18 for 3 items, so 6 each.", "6"),
        ("Total: 1,234 apples", "1,234"),
        ("It costs $18.", "$18."),  # the last number-like run, punctuation included
        ("-3 degrees", "-3"),
        ("no digits here", None),
        ("7", "7"),
    ],
)
def test_flexible_extract_takes_the_last_number(output, flexible):
    assert regex_extract(output, GSM8K_FLEXIBLE, group_select=-1) == flexible


@pytest.mark.parametrize(
    ("prediction", "reference", "expected"),
    [
        ("18", "She sold 16 - 3 - 4 = 9 eggs.\n#### 18", 1.0),
        ("1,800", "#### 1800", 1.0),  # commas are ignored on both sides
        ("$18", "#### 18", 1.0),  # so is "$"
        ("18.", "#### 18", 1.0),  # and a trailing period
        ("18.0", "#### 18", 0.0),  # but not a decimal part
        ("19", "#### 18", 0.0),
        (None, "#### 18", 0.0),  # no extracted answer is wrong, not an error
    ],
)
def test_gsm8k_exact_match(prediction, reference, expected):
    assert exact_match(prediction, reference) == expected


def test_normalization_removes_reasoning_before_the_last_marker():
    assert normalize_for_exact_match("a #### b #### 12") == "12"


def test_argmax_takes_the_first_of_equal_values():
    assert argmax([-1.0, -0.5, -0.5]) == 1


def test_choice_accuracy_normalizes_by_length_in_characters():
    # The long choice has the higher total log-likelihood per character, the short one in total.
    lls = [-2.0, -3.0]
    choices = ["ab", "abcdefghij"]
    assert choice_accuracy(lls, choices, gold=1) == {"acc": 0.0, "acc_norm": 1.0}
    assert choice_accuracy(lls, choices, gold=0) == {"acc": 1.0, "acc_norm": 0.0}

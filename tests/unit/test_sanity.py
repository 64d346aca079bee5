"""Below-chance groups and unreadable answers are flagged; noise in small groups is not."""

from quantgate.gate.sanity import flags_for, group_results
from quantgate.records import ItemResult, Metric


def items(subject, correct, total):
    return [
        ItemResult(f"{subject}/{i}", {"acc": float(i < correct)}, "p", "s", "o", "A", "B", group=subject)
        for i in range(total)
    ]


def category(subject):
    return {"world_history": "humanities", "us_history": "humanities", "physics": "stem"}[subject]


def test_a_subject_far_below_chance_is_flagged_with_its_category():
    results = items("world_history", 1, 60) + items("us_history", 15, 60) + items("physics", 30, 60)
    groups = group_results(results, [0.25] * len(results), Metric("acc"), category)
    assert groups["world_history"].score == 1 / 60 and groups["world_history"].below_chance_p < 1e-5
    assert groups["us_history"].below_chance_p > 0.4  # exactly at chance
    assert groups["category:humanities"].n == 120
    flags = flags_for("mmlu", groups, invalid=0, n=len(results))
    assert [flag.split(": ")[0] for flag in flags] == [
        "mmlu/category:humanities",  # 16 of 120: the bad subject drags its category below chance too
        "mmlu/world_history",
    ]
    assert flags[1].startswith("mmlu/world_history: 0.017 over 60 items is below chance 0.250 (binomial p=")


def test_a_small_group_at_a_low_score_is_not_flagged():
    groups = group_results(items("physics", 1, 8), [0.25] * 8, Metric("acc"), category)
    assert groups["physics"].below_chance_p > BELOW and flags_for("mmlu", groups, 0, 8) == ()


BELOW = 0.01


def test_without_a_chance_level_nothing_is_tested():
    groups = group_results(items("physics", 0, 50), [None] * 50, Metric("acc"), category)
    assert groups["physics"].chance is None and groups["physics"].below_chance_p is None


def test_many_unparseable_answers_are_flagged():
    assert flags_for("gsm8k", {}, invalid=30, n=100) == (
        "gsm8k: 30 of 100 answers could not be parsed: check the prompt and stop strings",
    )
    assert flags_for("gsm8k", {}, invalid=5, n=100) == ()

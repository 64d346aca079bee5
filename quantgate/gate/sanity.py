"""Checks of a result that point at a broken evaluation rather than a weak model.

A group of multiple-choice items scoring significantly below chance usually means the prompt was
damaged (a published Qwen1.5 run had three history subjects at 2-12% on a 25%-chance task: its
long prompts were truncated). Each group's score is tested against guessing with an exact
one-sided binomial test (scipy), so small groups are not flagged by noise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from scipy.stats import binomtest

from quantgate.records import GroupResult, ItemResult, Metric

BELOW_CHANCE_ALPHA = 0.01


def group_results(
    items: Sequence[ItemResult],
    chances: Sequence[float | None],
    metric: Metric,
    category_of: Callable[[str], str | None],
) -> dict[str, GroupResult]:
    """Scores per group and per category (``category:<name>``), with a below-chance test each."""
    members: dict[str, list[int]] = {"all": list(range(len(items)))} if items else {}
    for index, item in enumerate(items):
        if item.group:
            members.setdefault(item.group, []).append(index)
            category = category_of(item.group)
            if category:
                members.setdefault(f"category:{category}", []).append(index)
    return {name: _group(items, chances, metric, indices) for name, indices in sorted(members.items())}


def _group(
    items: Sequence[ItemResult], chances: Sequence[float | None], metric: Metric, indices: list[int]
) -> GroupResult:
    score = metric.value([items[i].scores for i in indices])
    odds = [chances[i] for i in indices]
    chance = None if any(c is None for c in odds) else sum(c for c in odds if c is not None) / len(odds)
    values = [items[i].scores.get(metric.name) for i in indices]
    binary = all(v in (0.0, 1.0) for v in values)
    p_value = None
    if chance is not None and binary and metric.higher_is_better:
        successes = int(sum(v for v in values if v is not None))
        p_value = float(binomtest(successes, len(indices), chance, alternative="less").pvalue)
    return GroupResult(len(indices), score, chance, p_value)


INVALID_SHARE = 0.1


def flags_for(benchmark: str, groups: dict[str, GroupResult], invalid: int, n: int) -> tuple[str, ...]:
    """Below-chance groups, and a large share of answers that could not be read."""
    flags = []
    if n and invalid / n > INVALID_SHARE:
        flags.append(f"{benchmark}: {invalid} of {n} answers could not be parsed: check the prompt and stop strings")
    for name, group in groups.items():
        if group.below_chance_p is not None and group.below_chance_p < BELOW_CHANCE_ALPHA:
            flags.append(
                f"{benchmark}/{name}: {group.score:.3f} over {group.n} items is below chance {group.chance:.3f} "
                f"(binomial p={group.below_chance_p:.1e}): look for truncated or malformed prompts"
            )
    return tuple(flags)

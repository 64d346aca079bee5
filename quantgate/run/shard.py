"""Split the catalogue's accuracy tests over N CI runners: whole variants (one engine load each),
balanced by an estimate of their cost, the same way on every runner.

The estimate is relative, not seconds: items the benchmark scores (its catalogue limit, else the
full test split's size) times a weight for how the items are scored (generation is the dearest).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# Test-split sizes of the hub datasets and a relative cost per item.
ITEMS = {
    "gsm8k": 1319, "mmlu": 14042, "ceval": 1346, "humaneval": 164, "hellaswag": 10042, "arc_easy": 2376,
    "arc_challenge": 1172, "piqa": 1838, "winogrande": 1267, "wikitext": 62, "bbh": 6511, "drop": 9536,
    "aime2024": 30, "ifeval": 541, "boolq": 3270, "openbookqa": 500, "commonsense_qa": 1221, "siqa": 1954,
}  # fmt: skip
PER_ITEM = {"gsm8k": 20.0, "humaneval": 40.0, "bbh": 20.0, "drop": 5.0, "aime2024": 1000.0, "ifeval": 40.0,
            "wikitext": 50.0, "mmlu": 1.0, "ceval": 1.0}  # fmt: skip
DEFAULT_PER_ITEM = 4.0  # per-choice log-likelihoods


@dataclass(frozen=True)
class Shard:
    index: int
    """1-based."""
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
        if not match or not 1 <= int(match[1]) <= int(match[2]):
            raise ValueError(f"--shard takes K/N with 1 <= K <= N, e.g. 2/4 (got {text!r})")
        return cls(int(match[1]), int(match[2]))


def case_cost(task: str, limit: int | None) -> float:
    items = min(limit, ITEMS.get(task, 1000)) if limit else ITEMS.get(task, 1000)
    return items * PER_ITEM.get(task, DEFAULT_PER_ITEM)


def assign(costs: Iterable[tuple[str, float]], count: int) -> dict[str, int]:
    """Variant -> shard (1-based): dearest first to the least loaded shard (ties: lowest index)."""
    loads = [0.0] * count
    placed = {}
    for variant, cost in sorted(costs, key=lambda vc: (-vc[1], vc[0])):
        shard = min(range(count), key=lambda i: (loads[i], i))
        loads[shard] += cost
        placed[variant] = shard + 1
    return placed

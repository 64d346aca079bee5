"""Split the catalogue's accuracy tests over N CI runners: whole variants (one engine load each),
balanced by an estimate of their cost, the same way on every runner.

The estimate is relative, not seconds: items the benchmark scores (its catalogue limit, else the
full test split's size, as each benchmark declares it) times the benchmark's cost per item (generation
is the dearest).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from quantgate.benchmarks import get_benchmark


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
    """Items scored (the limit, at most the split's size) times the benchmark's cost per item."""
    benchmark = get_benchmark(task)
    items = min(limit, benchmark.test_items) if limit else benchmark.test_items
    return items * benchmark.cost_per_item


def assign(costs: Iterable[tuple[str, float]], count: int) -> dict[str, int]:
    """Variant -> shard (1-based): dearest first to the least loaded shard (ties: lowest index)."""
    loads = [0.0] * count
    placed = {}
    for variant, cost in sorted(costs, key=lambda vc: (-vc[1], vc[0])):
        shard = min(range(count), key=lambda i: (loads[i], i))
        loads[shard] += cost
        placed[variant] = shard + 1
    return placed

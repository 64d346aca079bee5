"""Release-level error rates of a family's gates, and the margins or sizes that meet them.

A variant faces one gate per benchmark, and any failing gate blocks it. With K gates, an unchanged
variant (no true change, but answers that flip at the measured rate) clears all of them with the
product of each gate's pass chance, so each gate gets the share beta = 1 - (1 - block)^(1/K) of the
family's false-block budget (a Bonferroni-style split; Sidak's form). A true drop of the margin on
any one benchmark is shipped only if that gate passes it, which non-inferiority at alpha = ship
bounds by alpha. A gate meets both when its margin is at least (z_{1-alpha} + z_{1-beta}) x SE,
where SE is the standard error of the paired change at the run's size and flip rate.

Measurements come from per-item files of real runs (``measure``); ``recommend`` turns them into a
margin and an item count per benchmark for the family's catalogue.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from quantgate.baselines.reruns import read_items
from quantgate.benchmarks import get_benchmark
from quantgate.catalogue.model import Case
from quantgate.gate.decision import paired
from quantgate.gate.stats import pass_probability_non_inferiority, z_value


@dataclass(frozen=True)
class Measurement:
    """One variant's paired comparison with its reference on one benchmark, from a real run."""

    label: str
    """Where it was measured (machine, engine)."""
    variant: str
    benchmark: str
    n: int
    lost: int
    gained: int
    se: float
    """Standard error of the paired change, as the gate computed it."""
    binary: bool
    """Right/wrong scores: the standard error scales with the flip rate (Bonett-Price adjusted)."""

    @property
    def flip_rate(self) -> float:
        return (self.lost + self.gained) / self.n

    def se_at(self, n: int) -> float:
        """The standard error a run of ``n`` items would have at this flip rate."""
        if self.binary:
            return binary_se(n, self.flip_rate)
        return self.se * math.sqrt(self.n / n)


def binary_se(n: int, flip_rate: float) -> float:
    """Standard error of an unchanged variant's paired change: flip_rate x n discordant items plus
    the interval's one extra item in each discordant cell (quantgate.gate.stats.paired_binary)."""
    return math.sqrt(flip_rate * n + 2) / n


def measure(directory: Path, cases: Sequence[Case], label: str) -> list[Measurement]:
    """Each non-reference case's paired comparison with the reference of the same run, from the
    per-item files ``<directory>/<test id>.jsonl`` (a run's ``reports/items``)."""
    found = []
    for case in cases:
        if case.variant.is_reference or case.waiver:  # a waived test does not block: it sets no margin
            continue
        mine, theirs = directory / f"{case.id}.jsonl", directory / f"{case.reference_id}.jsonl"
        if not (mine.exists() and theirs.exists()):
            continue
        ours = {i: row["scores"] for i, row in read_items(mine).items()}
        reference = {i: row["scores"] for i, row in read_items(theirs).items()}
        ids = [i for i in ours if i in reference]
        benchmark = get_benchmark(case.task)
        metric = benchmark.metric(case.spec.metric or benchmark.primary_metric)
        c = paired([ours[i] for i in ids], [reference[i] for i in ids], metric, 0.05, None)
        binary = c.method == "mcnemar"  # the gate's own test of right/wrong scores
        found.append(Measurement(label, case.variant.name, case.benchmark, c.n, c.lost, c.gained, c.se, binary))
    return found


def read_measurements(path: Path) -> list[Measurement]:
    return [Measurement(**row) for row in json.loads(path.read_text(encoding="utf-8"))["measurements"]]


def write_measurements(path: Path, rows: Sequence[Measurement], sources: Mapping[str, str]) -> None:
    payload = {"sources": dict(sources), "measurements": [asdict(m) for m in rows]}
    path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class Recommendation:
    benchmark: str
    n: int
    """The catalogue's item count."""
    flip_rate: float | None
    """The largest measured flip rate (binary benchmarks)."""
    se: float
    """The largest standard error expected at ``n`` over the measurements."""
    margin: float
    """The smallest non-inferiority margin that meets both targets at ``n``."""
    current: float | None
    """The catalogue's allowed drop (its margin), for comparison."""
    n_for_current: int | None
    """Items the current margin needs to meet both targets (binary benchmarks)."""
    current_pass: float | None
    """Chance that an unchanged variant passes the current rule at ``n``."""


def per_gate_block(block: float, gates: int) -> float:
    """Each gate's share of the family's false-block budget."""
    return 1 - (1 - block) ** (1 / gates)


def factor(block: float, ship: float, gates: int) -> float:
    """(z_{1-alpha} + z_{1-beta}): margins in units of the paired change's standard error."""
    return z_value(1 - ship) + z_value(1 - per_gate_block(block, gates))


def items_for(margin: float, flip_rate: float, k: float) -> int:
    """Smallest n with k x binary_se(n, flip_rate) <= margin."""
    a = (margin / k) ** 2
    return math.ceil((flip_rate + math.sqrt(flip_rate**2 + 8 * a)) / (2 * a))


def recommend(
    cases: Sequence[Case], measurements: Sequence[Measurement], *, block: float = 0.05, ship: float = 0.05
) -> list[Recommendation]:
    """Per benchmark of the family's reference: the margin that keeps an unchanged variant blocked in
    at most ``block`` of runs over all its gates and ships a true drop of the margin on any one
    benchmark in at most ``ship``, from the largest measured noise."""
    benchmarks = [c for c in cases if c.variant.is_reference]
    k = factor(block, ship, len(benchmarks))
    out = []
    for case in benchmarks:
        seen = [m for m in measurements if m.benchmark == case.benchmark]
        if not seen:
            continue
        n = case.spec.limit or max(m.n for m in seen)
        worst = max(seen, key=lambda m: m.se_at(n))
        se = worst.se_at(n)
        rule = case.spec.gate.rule()
        current = rule.value if rule.mode == "non-inferiority" else None
        out.append(
            Recommendation(
                benchmark=case.benchmark,
                n=n,
                flip_rate=worst.flip_rate if worst.binary else None,
                se=se,
                margin=k * se,
                current=current,
                n_for_current=items_for(current, worst.flip_rate, k) if current and worst.binary else None,
                current_pass=pass_probability_non_inferiority(0.0, se, current, rule.alpha) if current else None,
            )
        )
    return out


def render(rows: Sequence[Recommendation], block: float, ship: float) -> str:
    gates = len(rows)
    lines = [
        f"{gates} gates per variant; unchanged variant blocked in <= {block:.0%} of runs -> each gate "
        f"<= {per_gate_block(block, gates):.2%}; a true drop of the margin shipped in <= {ship:.0%}",
        f"{'benchmark':<16} {'n':>6} {'flips':>7} {'SE':>9} {'margin needed':>14} {'current':>9} "
        f"{'n for current':>14} {'unchanged passes':>17}",
    ]
    clear = 1.0
    for r in rows:
        flips = f"{r.flip_rate:.1%}" if r.flip_rate is not None else "-"
        current = f"{r.current:g}" if r.current is not None else "-"
        needed = str(r.n_for_current) if r.n_for_current is not None else "-"
        passes = f"{r.current_pass:.2%}" if r.current_pass is not None else "-"
        clear *= r.current_pass if r.current_pass is not None else 1.0
        cells = f"{r.benchmark:<16} {r.n:>6} {flips:>7} {r.se:>9.4g} {r.margin:>14.4g} {current:>9}"
        lines.append(f"{cells} {needed:>14} {passes:>17}")
    lines.append(f"with the current margins an unchanged variant clears all gates with probability {clear:.1%}")
    return "\n".join(lines)


def as_json(rows: Sequence[Recommendation]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]

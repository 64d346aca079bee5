"""Release-level error rates of the embedded catalogue, by simulation (seeded, CPU).

A variant faces all of the family's gates at the catalogue's sizes and the largest flip rates
measured on real runs (docs/sizing/smollm2-135m.json: Intel Xeon and AMD EPYC CPUs). Binary
benchmarks are drawn item by item and decided by the real gate (quantgate.gate.stats.paired_binary,
quantgate.gate.decision.decide): an item is lost with probability flip / 2 + drop and gained with flip / 2.
WikiText's perplexity change is drawn from a normal with its measured standard error (the gate
reads it through a bootstrap; this tests the rule and its sizing, not the bootstrap).
"""

from pathlib import Path

import numpy as np
import pytest

from quantgate.catalogue.loader import load_catalogue
from quantgate.gate.decision import GateResult, decide
from quantgate.gate.stats import PairedComparison, paired_binary, z_value
from quantgate.records import Metric
from quantgate.results.sizing import read_measurements

REPO = Path(__file__).parents[2]
RUNS = 2000
TARGET = 0.05
# Three standard errors of a rate of 5% estimated from RUNS runs.
SLACK = 3 * (TARGET * (1 - TARGET) / RUNS) ** 0.5


def embedded_gates():
    """(benchmark, n, rule, metric, flip rate or None, standard error) for each of the family's gates."""
    cases = [c for c in load_catalogue([REPO / "catalogue" / "smollm2-135m.yaml"]).cases if c.variant.is_reference]
    measured = read_measurements(REPO / "docs" / "sizing" / "smollm2-135m.json")
    gates = []
    for case in cases:
        seen = [m for m in measured if m.benchmark == case.benchmark]
        worst = max(seen, key=lambda m: m.se_at(case.spec.limit))
        metric = Metric("acc") if worst.binary else Metric("word_perplexity", higher_is_better=False)
        flip = worst.flip_rate if worst.binary else None
        gates.append(
            (case.benchmark, case.spec.limit, case.spec.gate.rule(), metric, flip, worst.se_at(case.spec.limit))
        )
    return gates


GATES = embedded_gates()


def decide_once(rng, gate, drop: float) -> GateResult:
    benchmark, n, rule, metric, flip, se = gate
    if flip is not None:
        kind = rng.choice(3, size=n, p=[flip / 2 + drop, flip / 2, 1 - flip - drop])  # lost, gained, same
        same_right = rng.random(n) < 0.5
        base = np.where(kind == 0, 1, np.where(kind == 1, 0, same_right)).astype(float)
        ours = np.where(kind == 0, 0, np.where(kind == 1, 1, same_right)).astype(float)
        comparison = paired_binary(ours, base, alpha=rule.alpha)
        return decide(ours.mean(), base.mean(), comparison, metric, rule, benchmark)
    delta = rng.normal(drop, se)  # perplexity: a drop is a rise
    z = z_value(1 - rule.alpha)
    comparison = PairedComparison(n, delta, se, delta - z * se, delta + z * se, 1 - 2 * rule.alpha, 1.0, 0, 0,
                                  "bootstrap", None)  # fmt: skip
    baseline = 21768.0
    return decide(baseline + delta, baseline, comparison, metric, rule, benchmark)


def test_the_embedded_family_faces_ten_sized_gates():
    assert [g[0] for g in GATES] == ["gsm8k", "mmlu-0shot", "mmlu-5shot", "piqa", "boolq", "openbookqa",
                                     "commonsense_qa", "siqa", "humaneval", "wikitext"]  # fmt: skip
    assert all(rule.mode == "non-inferiority" for _, _, rule, *_ in GATES)


def test_an_unchanged_variant_is_blocked_in_at_most_five_percent_of_runs():
    rng = np.random.default_rng(12)
    blocked = sum(not all(decide_once(rng, gate, 0.0).passed for gate in GATES) for _ in range(RUNS))
    assert blocked / RUNS <= TARGET + SLACK, f"{blocked} of {RUNS} unchanged variants blocked"


@pytest.mark.parametrize("index", range(len(GATES)), ids=[g[0] for g in GATES])
def test_a_true_drop_of_the_margin_on_one_benchmark_ships_in_at_most_five_percent(index):
    """Shipping needs every gate to pass, so the dropped gate's pass rate bounds the ship rate."""
    rng = np.random.default_rng(100 + index)
    gate = GATES[index]
    margin = gate[2].value
    shipped = sum(decide_once(rng, gate, margin).passed for _ in range(RUNS))
    assert shipped / RUNS <= TARGET + SLACK, f"{gate[0]}: {shipped} of {RUNS} drops of {margin} shipped"


def test_the_verdicts_stated_rates_agree_with_the_simulation():
    """The chance the verdict states (product of each gate's unchanged_pass) is within a few
    points of the simulated clear rate."""
    rng = np.random.default_rng(7)
    stated, cleared = [], 0
    for _ in range(500):
        results = [decide_once(rng, gate, 0.0) for gate in GATES]
        stated.append(float(np.prod([r.unchanged_pass for r in results])))
        cleared += all(r.passed for r in results)
    assert abs(np.mean(stated) - cleared / 500) < 0.05

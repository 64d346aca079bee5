"""The power command and the noise-floor summary."""

import numpy as np
import pytest

from quantgate.cli.power import main
from quantgate.gate.power import items_needed, paired_se
from quantgate.gate.stats import minimum_detectable_drop
from quantgate.results.noise_floor import render, summarize
from tests.fakes import result_entries


def test_items_needed_is_the_smallest_n_that_resolves_the_margin():
    n = items_needed(0.02, 0.05, 0.05, 0.8)
    assert minimum_detectable_drop(paired_se(n, 0.05), 0.05) <= 0.02
    assert minimum_detectable_drop(paired_se(n - 1, 0.05), 0.05) > 0.02
    assert items_needed(0.02, 0.05, 0.05, 0.8, design_effect=2.0) in (2 * n - 1, 2 * n)


def test_power_command_flags_an_underpowered_limit(capsys):
    assert main(["--n", "50", "--flip-rate", "0.05", "--margin", "0.02"]) == 0
    out = capsys.readouterr().out
    assert "minimum detectable drop at 80% power, alpha 0.05: 0.0786" in out
    assert "is UNDERPOWERED for a margin of 0.02" in out


def test_k_samples_per_item_shrink_the_within_item_variance_by_k():
    # Simulated: 30 items with solve rates spread over [0, 1], variant unchanged, k samples each side.
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 30)
    flip = float(np.mean(2 * p * (1 - p)))  # one sample against one: the chance they disagree
    for k in (1, 8):
        deltas = [(rng.binomial(k, p) - rng.binomial(k, p)).mean() / k for _ in range(4000)]
        assert np.std(deltas) == pytest.approx(paired_se(30, flip, repeats=k), rel=0.05)
    assert items_needed(0.1, 0.33, 0.05, 0.8, repeats=8) == items_needed(0.1, 0.33 / 8, 0.05, 0.8)


def test_power_command_takes_repeats(capsys):
    assert main(["--n", "30", "--flip-rate", "0.33", "--repeats", "8", "--margin", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "8 samples per item" in out and "resolves a margin of 0.1" in out
    assert main(["--n", "30", "--flip-rate", "0.33", "--margin", "0.1"]) == 0
    assert "UNDERPOWERED" in capsys.readouterr().out


def test_noise_floor_summary_counts_flips_and_keeps_errors():
    results = [
        {"id": "f-bf16-gsm8k", "status": "passed", "n": 200, "lost": 1, "gained": 3, "delta": 0.01,
         "ci_low": -0.01, "ci_high": 0.03},
        {"nodeid": "test_accuracy[f-bf16-mmlu]", "outcome": "error"},
    ]  # fmt: skip
    rows = summarize(result_entries(*results))
    assert rows[0]["flip_rate"] == pytest.approx(0.02) and rows[1]["status"] == "error"
    assert "2.00%" in render(rows) and "test_accuracy[f-bf16-mmlu]" in render(rows)

"""bench/dp_estimate.py: a family's wall on N GPUs from per-test times measured on one."""

import json
from pathlib import Path

import pytest

from bench.dp_estimate import Measured, Model, Variant, estimate, main, speedup

MATRIX = Path(__file__).parents[2] / "docs" / "performance" / "matrix-h200.json"
EXACT = Model(efficiency=1.0, replica_start_s=0.0)


def variants(count, load=10.0, wall=100.0):
    return [Variant(f"f-v{i}", load, [Measured("mmlu", wall, 10_000, False)], reference="f-v0") for i in range(count)]


def best(found):
    return found["best"]["workers"], found["best"]["replicas_per_variant"], found["best"]["wall_s"]


def test_one_variant_on_two_gpus_splits_its_requests_and_loads_once():
    assert best(estimate(variants(1), 2, EXACT, 5.0)) == (1, 2, 5.0 + 10 + 50)


def test_two_variants_on_two_gpus_go_one_to_each_gpu():
    found = estimate(variants(2), 2, EXACT, 0.0)
    assert best(found) == (2, 1, 110.0)
    assert [x["wall_s"] for x in found["layouts"]] == [110.0, 120.0]  # data parallel: two loads, 50 s each


def test_three_variants_on_two_gpus_are_balanced_by_replicas_not_left_to_one_worker():
    assert best(estimate(variants(3), 2, EXACT, 0.0)) == (1, 2, 180.0)  # 3 x (10 + 50) against 2 x 110


def test_replica_start_and_efficiency_are_charged():
    model = Model(efficiency=0.5, replica_start_s=4.0)
    assert best(estimate(variants(1), 2, model, 0.0)) == (1, 2, round(10 + 4 + 100 / 1.5, 1))


def test_a_generative_test_stops_gaining_once_replicas_run_short_of_sequences():
    generation = Measured("gsm8k", 100.0, 256, True)
    assert speedup(generation, 8, Model(efficiency=1.0, min_seqs=128)) == 2.0
    assert speedup(Measured("mmlu", 100.0, 256, False), 8, Model(efficiency=1.0)) == 8.0


def test_rescoring_the_reference_charges_the_workers_without_it():
    model = Model(efficiency=1.0, replica_start_s=0.0, rescore_reference=True)
    found = {x["workers"]: x["wall_s"] for x in estimate(variants(2), 2, model, 0.0)["layouts"]}
    assert found == {1: 120.0, 2: 220.0}  # the second worker scores f-v0 again before f-v1


def test_the_h200_seed_matrix_estimate(tmp_path, capsys):
    out = main([str(MATRIX), "--gpus", "1", "2", "8", "--out", str(tmp_path / "estimate.json")])
    measured = json.loads(MATRIX.read_text())
    assert out == json.loads((tmp_path / "estimate.json").read_text())
    one, two, eight = (e["best"]["wall_s"] for e in out["estimates"])
    assert one == pytest.approx(measured["wall_s"], abs=0.1)  # one GPU reproduces the measured run
    parts = sum(t["wall_s"] + (t["load_s"] or 0) for t in measured["tests"].values())
    assert out["overhead_s"] == pytest.approx(measured["wall_s"] - parts, abs=0.1)
    assert out["overhead_s"] + parts / 8 < eight < two < one
    assert "ESTIMATE" in capsys.readouterr().out


def test_a_results_file_is_read_per_variant_with_its_load_and_generative_tests(tmp_path):
    entries = [
        {"family": "f", "variant": "bf16", "benchmark": "gsm8k", "reference": True, "wall_s": 40.0, "load_s": 9.0,
         "n": 300, "sampling": {"temperature": 0.0, "top_p": 1.0, "repeats": 1}},
        {"family": "f", "variant": "bf16", "benchmark": "mmlu-5shot", "task": "mmlu", "wall_s": 20.0, "n": 1000},
        {"family": "f", "variant": "int8", "benchmark": "gsm8k", "wall_s": 30.0, "load_s": 8.0, "n": 300},
        {"nodeid": "test_accuracy.py::test_accuracy[f-broken-gsm8k]", "outcome": "error"},
    ]  # fmt: skip
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"results": entries, "engine_loads": {}}))
    out = main([str(path), "--gpus", "1", "--overhead-s", "3"])
    assert out["estimates"][0]["best"]["wall_s"] == 3 + 9 + 40 + 20 + 8 + 30
    from bench.dp_estimate import read_runs

    found, wall = read_runs(json.loads(path.read_text()))
    assert wall is None and [v.key for v in found] == ["f-bf16", "f-int8"]
    assert [t.generative for t in found[0].tests] == [True, False] and found[1].tests[0].generative
    assert {v.reference for v in found} == {"f-bf16"}

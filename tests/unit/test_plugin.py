"""The pytest plugin, run in isolated inner sessions (pytester) with scripted engines.

Covers test ids and markers, ordering and one load per variant, baselines missing / recorded /
corrupted / refused, a variant that fails to load, the HTML columns and results.json.
Real models through vLLM are exercised by tests/e2e and the catalogue's accuracy tests.
"""

import dataclasses
import json
from xml.etree import ElementTree

import datasets  # noqa: F401  imported here so pytester's module snapshot keeps it (pyarrow cannot re-register)
import pytest

from quantgate.benchmarks.piqa import PIQA
from quantgate.cli import noise_floor
from quantgate.cli.merge import main as merge_main
from quantgate.cli.trend import main as trend_main
from quantgate.results.history import open_history
from quantgate.results.model import parse_results
from tests.toy import make_project, run


@pytest.fixture
def project(pytester, monkeypatch):
    return make_project(pytester, monkeypatch)


def test_ids_and_markers_select_what_a_user_expects(project):
    result = run(project, "--collect-only", "-q", "-m", "gsm8k and not int4")
    out = result.stdout.str()
    assert "test_accuracy.py::test_accuracy[toy-bf16-gsm8k]\ntest_accuracy.py::test_accuracy[toy-int8-gsm8k]\n" in out
    assert "2/12 tests collected" in out
    result = run(project, "--collect-only", "-q", "-k", "awq")
    assert "3/12 tests collected" in result.stdout.str()
    assert project.events == []  # collection loads nothing


def test_shards_split_whole_variants_and_cover_the_selection_once(project):
    shards = []
    for k in (1, 2, 3):
        out = run(project, "--collect-only", "-q", "--shard", f"{k}/3").stdout.str()
        shards.append({line.split("[")[1].rstrip("]") for line in out.splitlines() if "test_accuracy[" in line})
    assert set().union(*shards) == {f"toy-{v}-{b}" for v in ("bf16", "int8", "int4-bad", "broken")
                                    for b in ("gsm8k", "mmlu", "piqa")}  # fmt: skip
    assert sum(len(s) for s in shards) == 12 and all(shards)
    for ids in shards:
        variants = {i.rsplit("-", 1)[0] for i in ids}
        assert all(sum(i.startswith(v + "-") for i in ids) == 3 for v in variants)  # variants whole
    assert run(project, "--collect-only", "--shard", "4/3").ret == pytest.ExitCode.USAGE_ERROR


def test_missing_baseline_fails_with_the_command_before_any_model_loads(project):
    result = run(project, "-k", "int8-piqa")
    result.assert_outcomes(failed=1)
    assert (
        "baselines/toy/piqa.json: no baseline recorded\nRecord it with:\n  pytest --update-baselines "
        "--catalogue catalogue.yaml --baselines-dir baselines 'test_accuracy.py::test_accuracy[toy-bf16-piqa]'"
    ) in result.stdout.str()
    assert project.events == []


def test_full_matrix_loads_each_variant_once_and_reference_first(project):
    # Node ids given out of order: the plugin regroups them by variant, reference first.
    ids = ["toy-int8-piqa", "toy-bf16-mmlu", "toy-int8-gsm8k", "toy-bf16-piqa", "toy-int8-mmlu", "toy-bf16-gsm8k"]
    result = run(project, "--record-missing-baselines", *[f"test_accuracy.py::test_accuracy[{i}]" for i in ids])
    result.assert_outcomes(passed=6)
    assert project.events == [("load", "bf16"), ("close", "bf16"), ("load", "int8"), ("close", "int8")]
    results = json.loads((project.path / "reports" / "results.json").read_text())
    assert results["engine_loads"] == {"toy-bf16": 1, "toy-int8": 1}
    assert [r["variant"] for r in results["engine_releases"]] == ["toy-bf16", "toy-int8"]
    statuses = {r["id"]: r["status"] for r in results["results"]}
    assert statuses["toy-bf16-gsm8k"] == "recorded" and statuses["toy-int8-gsm8k"] == "passed"
    stored = json.loads((project.path / "baselines" / "toy" / "mmlu.json").read_text())
    assert stored["n"] == 8 and stored["provenance"]["variant"] == "bf16"
    items = (project.path / "reports" / "items" / "toy-int8-gsm8k.jsonl").read_text().splitlines()
    assert len(items) == 6 and {"prompt", "output", "extracted", "scores"} <= json.loads(items[0]).keys()


def test_a_drop_fails_naming_variant_benchmark_and_numbers(project):
    run(project, "--record-missing-baselines", "-k", "bf16").assert_outcomes(passed=3)
    result = run(project, "-k", "int4-bad-mmlu")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*toy-int4-bad on mmlu: FAILED (absolute, tolerance 0.1, alpha 0.05: delta -1.0000 < -0.1000)",
            "*acc 0.0000 vs baseline 1.0000: delta -1.0000, 90% CI [[]-1.0000, *], p=0.00781 (mcnemar*",
            "*items lost 8, gained 0, n=8; minimum detectable drop *",
        ]
    )


def test_the_run_ends_with_the_release_verdict_and_a_markdown_summary(project):
    run(project, "--record-missing-baselines", "-k", "bf16").assert_outcomes(passed=3)
    result = run(project, "-k", "int4-bad-mmlu or int8-gsm8k", "--report-lang", "zh")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["Release gate: **BLOCKED** by 1 test(s)", "- failed: toy-int4-bad-mmlu"])
    summary = (project.path / "reports" / "summary.md").read_text()
    assert "发布门禁：**阻止发布**" in summary and "| toy-int4-bad-mmlu | 未通过" in summary


def test_an_underpowered_run_warns_and_is_marked_in_every_output(project):
    run(project, "--record-missing-baselines", "-k", "bf16-piqa").assert_outcomes(passed=1)
    result = run(project, "-k", "int8-piqa", "--html", "reports/report.html")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*QuantgateWarning: toy-int8-piqa is underpowered: it resolves drops of 0.* at n=8, its rule allows 0.1000"]
    )
    (entry,) = json.loads((project.path / "reports" / "results.json").read_text())["results"]
    assert entry["underpowered"] is True and entry["mdd"] > 0.1 and entry["mode"] == "absolute"
    assert "UNDERPOWERED" in (project.path / "reports" / "report.html").read_text()


def test_replacing_a_baseline_reports_what_changed(project):
    run(project, "--record-missing-baselines", "-k", "bf16-mmlu").assert_outcomes(passed=1)
    result = run(project, "--update-baselines", "-k", "bf16-mmlu")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*baselines/toy/mmlu.json: replaced: acc 1.0000 -> 1.0000 (n 8 -> 8); 0 of 8 shared items scored differently*"]
    )


def test_a_baseline_from_another_machine_warns_but_compares(project):
    run(project, "--record-missing-baselines", "-k", "bf16-piqa").assert_outcomes(passed=1)
    path = project.path / "baselines" / "toy" / "piqa.json"
    stored = json.loads(path.read_text())
    stored["provenance"]["engine"]["device_name"] = "NVIDIA H100 80GB HBM3"
    path.write_text(json.dumps(stored))
    result = run(project, "-k", "int8-piqa")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*piqa.json: baseline recorded with device NVIDIA H100 80GB HBM3, this run has *"])


def test_variant_that_fails_to_load_errors_and_the_others_still_run(project):
    run(project, "--record-missing-baselines", "-k", "bf16").assert_outcomes(passed=3)
    result = run(project, "-k", "broken or int8")
    result.assert_outcomes(passed=3, errors=3)
    result.stdout.fnmatch_lines(
        ["*EngineLoadError: vLLM could not load 'models/broken': config.json is not valid JSON*"]
    )
    assert project.events.count(("load", "broken")) == 1  # not retried for each of its tests
    results = json.loads((project.path / "reports" / "results.json").read_text())
    errors = [r for r in results["results"] if r["outcome"] == "error"]
    assert [r["id"] for r in errors] == ["toy-broken-gsm8k", "toy-broken-mmlu", "toy-broken-piqa"]
    assert "config.json is not valid JSON" in errors[0]["message"]
    result.stdout.fnmatch_lines(["- error: toy-broken-gsm8k, toy-broken-mmlu, toy-broken-piqa"])
    parse_results(results)


def test_corrupted_baseline_fails_clearly(project):
    run(project, "--record-missing-baselines", "-k", "bf16-piqa").assert_outcomes(passed=1)
    path = project.path / "baselines" / "toy" / "piqa.json"
    path.write_text(path.read_text()[:100])
    result = run(project, "-k", "int8-piqa")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*baselines/toy/piqa.json: not valid JSON (line *", "*Record it with:"])


def test_edited_prompt_is_refused(project, monkeypatch):
    run(project, "--record-missing-baselines", "-k", "bf16-piqa").assert_outcomes(passed=1)
    original = PIQA.to_sample

    def edited(self, record, index):  # someone rewords the prompt template
        sample = original(self, record, index)
        return dataclasses.replace(sample, text=sample.text.replace("Question:", "Q:"))

    monkeypatch.setattr(PIQA, "to_sample", edited)
    result = run(project, "-k", "int8-piqa")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the prompt changed for 8 of 8 items since the baseline was recorded*"])
    assert ("load", "int8") not in project.events


def test_update_baselines_replaces_only_with_the_flag(project):
    run(project, "--record-missing-baselines", "-k", "bf16-mmlu").assert_outcomes(passed=1)
    path = project.path / "baselines" / "toy" / "mmlu.json"
    first = path.read_text()
    run(project, "--record-missing-baselines", "-k", "bf16-mmlu").assert_outcomes(passed=1)
    assert path.read_text() == first  # present: compared, not rewritten
    run(project, "--update-baselines", "-k", "bf16-mmlu").assert_outcomes(passed=1)
    assert json.loads(path.read_text())["provenance"]["recorded_at"] >= json.loads(first)["provenance"]["recorded_at"]


def test_html_report_has_the_release_columns(project):
    result = run(project, "--record-missing-baselines", "-k", "bf16-piqa", "--html", "reports/report.html")
    result.assert_outcomes(passed=1)
    html = (project.path / "reports" / "report.html").read_text()
    for column in (
        "Family",
        "Variant",
        "Benchmark",
        "Baseline",
        "Score",
        "Published",
        "Delta",
        "CI",
        "p",
        "Lost / gained",
        "Min. detectable drop",
        "Rule",
        "Power",
        "Invalid",
        "Wall time (s)",
        "Load (s)",
        "Tokens/s",
        "GPU peak (MiB)",
        "Served: p50 / p95 ms, req/s; streamed: TTFT, ITL p50",
        "Format / kernel",
    ):
        assert f">{column}</th>" in html
    assert "toy-bf16-piqa" in html


def test_html_report_opens_with_matrix_plots_flips_and_environment(project):
    run(project, "-m", "reference", "--record-missing-baselines").assert_outcomes(passed=3)
    result = run(project, "-k", "bf16 or int4-bad", "--html", "reports/report.html")
    result.assert_outcomes(passed=3, failed=2, xfailed=1)
    page = (project.path / "reports" / "report.html").read_text()
    matrix = page[page.index('id="qg-matrix"') : page.index("</table>", page.index('id="qg-matrix"'))]
    assert matrix.count("<tr>") == 3  # header, bf16, int4-bad
    assert 'data-test="toy-int4-bad-gsm8k"' in matrix and "failed" in matrix and "reference" in matrix
    assert "Release gate: <strong>BLOCKED</strong> by 2 test(s)" in page
    assert page.count("<svg") == 2  # forest and recovery plots, inline
    # the int4-bad variant answers every item wrongly: its flips list lost items with BF16's answer
    assert "lost: 6 item(s), BF16 right, variant wrong" in page  # gsm8k, limit 6
    assert "lost: 8 item(s), BF16 right, variant wrong" in page  # mmlu, limit 8
    for row in ("quantgate", "Date (UTC)", "CPU"):
        assert row in page


def test_catalogue_error_stops_before_collection(pytester):
    pytester.makefile(
        ".yaml", catalogue="families:\n  toy:\n    reference: bf16\n    benchmarks: {}\n    variants: {}\n"
    )
    result = pytester.runpytest("-p", "quantgate.plugin", "--catalogue", "catalogue.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*catalogue.yaml:3: families.toy.reference: names no variant of this family*"])


def test_a_waived_regression_is_an_expected_failure(project):
    run(project, "--record-missing-baselines", "-k", "bf16").assert_outcomes(passed=3)
    result = run(project, "-rx", "-k", "int4-bad-piqa or int4-bad-mmlu")
    result.assert_outcomes(failed=1, xfailed=1)  # mmlu is not waived; piqa is (strict: a pass would fail)
    result.stdout.fnmatch_lines(["XFAIL*int4-bad-piqa* - waived: known drop on piqa"])


def test_a_rerun_takes_cached_results_and_loads_nothing(project):
    run(project, "--record-missing-baselines", "-k", "bf16").assert_outcomes(passed=3)
    run(project, "-k", "int8").assert_outcomes(passed=3)
    assert project.events.count(("load", "int8")) == 1
    rerun = run(project, "-k", "int8")
    rerun.assert_outcomes(passed=3)
    assert project.events.count(("load", "int8")) == 1  # every item came from the cache
    assert json.loads((project.path / "reports" / "results.json").read_text())["engine_loads"] == {}
    run(project, "-k", "int8", "--no-cache").assert_outcomes(passed=3)
    assert project.events.count(("load", "int8")) == 2


def test_xdist_workers_each_pin_their_own_gpu(pytester):
    """A real `-n 2` session; NVML is replaced by two fake GPUs in the inner project's conftest."""
    pytester.makeconftest(
        """
import quantgate.plugin
quantgate.plugin.visible_gpus = lambda: ["0", "1"]
"""
    )
    pytester.makepyfile(
        test_pin="""
import os
def test_where(worker_id, tmp_path_factory):
    (tmp_path_factory.getbasetemp().parent / worker_id).write_text(os.environ["CUDA_VISIBLE_DEVICES"])
def test_other(worker_id, tmp_path_factory):
    (tmp_path_factory.getbasetemp().parent / worker_id).write_text(os.environ["CUDA_VISIBLE_DEVICES"])
"""
    )
    pytester.makefile(".yaml", catalogue="families: {}\n")
    result = pytester.runpytest_subprocess("-p", "quantgate.plugin", "--catalogue", "catalogue.yaml", "-n", "2")
    result.assert_outcomes(passed=2)
    pinned = {p.name: p.read_text() for p in pytester.path.parent.glob("**/gw*") if p.is_file()}
    assert sorted(pinned.values()) == ["0", "1"], pinned
    too_many = pytester.runpytest_subprocess("-p", "quantgate.plugin", "--catalogue", "catalogue.yaml", "-n", "3")
    assert "3 xdist workers for 2 GPUs" in too_many.stdout.str() + too_many.stderr.str()


def test_noise_floor_reads_results_where_pytest_ini_put_them(project):
    run(project, "-m", "reference", "--record-missing-baselines").assert_outcomes(passed=3)
    project.makeini("[pytest]\nquantgate_reports = nightly\n")
    project.chdir()
    args = ["-p", "quantgate.plugin", "-p", "no:cacheprovider", "--catalogue", "catalogue.yaml",
            "--baselines-dir", "baselines", "--cache-dir", "cache", "--no-cache", "-q"]  # fmt: skip
    assert noise_floor.main(args, project.plugins) == 0
    rows = json.loads((project.path / "nightly" / "noise-floor.json").read_text())
    assert [(r["id"], r["status"], r["lost"], r["gained"]) for r in rows] == [
        ("toy-bf16-gsm8k", "passed", 0, 0), ("toy-bf16-mmlu", "passed", 0, 0), ("toy-bf16-piqa", "passed", 0, 0)
    ]  # fmt: skip


def test_warn_only_policy_turns_a_benchmarks_failures_into_warnings(project):
    run(project, "-m", "reference", "--record-missing-baselines").assert_outcomes(passed=3)
    result = run(project, "-k", "int4-bad", "--warn-only", "gsm8k", "-W", "default")
    result.assert_outcomes(passed=1, failed=1, xfailed=1)  # gsm8k warns, mmlu blocks, piqa stays waived
    result.stdout.fnmatch_lines(["*warn-only by policy, not blocking: toy-int4-bad on gsm8k: FAILED*"])
    result.stdout.fnmatch_lines(["Release gate: **BLOCKED** by 1 test(s)", "- failed: toy-int4-bad-mmlu",
                                 "- failed, warn-only by policy (not blocking): toy-int4-bad-gsm8k"])  # fmt: skip
    project.makeini("[pytest]\nquantgate_warn_only =\n    mmlu\n    toy-*-gsm8k\n")
    run(project, "-k", "int4-bad").assert_outcomes(passed=2, xfailed=1)
    assert json.loads((project.path / "reports" / "results.json").read_text())["results"][0]["status"] == "warned"


def test_shard_reports_merge_into_one_report_and_one_gate(project, capsys):
    run(project, "-m", "reference", "--record-missing-baselines").assert_outcomes(passed=3)
    whole = run(project, "-k", "not broken", "--report-dir", "whole")
    for k in (1, 2):
        run(project, "-k", "not broken", "--shard", f"{k}/2", "--report-dir", f"shard-{k}")
    shards = [project.path / "shard-1", project.path / "shard-2" / "results.json"]
    assert merge_main([*map(str, shards), "--out", str(project.path / "merged")]) == 1  # int4-bad blocks
    merged = json.loads((project.path / "merged" / "results.json").read_text())
    parse_results(merged)
    expected = json.loads((project.path / "whole" / "results.json").read_text())["results"]
    assert sorted((r["id"], r["status"]) for r in merged["results"]) == sorted((r["id"], r["status"]) for r in expected)
    assert "Release gate: **BLOCKED** by 2 test(s)" in (project.path / "merged" / "summary.md").read_text()
    page = (project.path / "merged" / "report.html").read_text()
    assert 'id="qg-matrix"' in page and page.count("<svg") == 2 and "lost: 6 item(s)" in page
    assert whole.ret == 1

    capsys.readouterr()
    assert merge_main([str(shards[0]), str(shards[0]), "--out", str(project.path / "again")]) == 2
    assert "is also in" in capsys.readouterr().err
    broken = project.path / "broken.json"
    broken.write_text(json.dumps({**merged, "results": [{**merged["results"][0], "lost": "six"}]}))
    assert merge_main([str(broken), "--out", str(project.path / "bad")]) == 2
    assert f"{broken}: results/0/lost: Input should be a valid integer" in capsys.readouterr().err


def test_junit_xml_has_one_testcase_per_test_with_the_gates_message(project):
    run(project, "-m", "reference", "--record-missing-baselines").assert_outcomes(passed=3)
    run(project, "-k", "int4-bad or int8", "--junitxml", "reports/junit.xml")
    cases = {c.get("name"): c for c in ElementTree.parse(project.path / "reports" / "junit.xml").iter("testcase")}
    assert len(cases) == 6
    failure = cases["test_accuracy[toy-int4-bad-gsm8k]"].find("failure")
    assert failure is not None and "toy-int4-bad on gsm8k: FAILED" in failure.get("message")
    assert cases["test_accuracy[toy-int8-mmlu]"].find("failure") is None


def test_history_collects_runs_for_the_trend_page(project, capsys):
    run(project, "-m", "reference", "--record-missing-baselines").assert_outcomes(passed=3)
    for _ in range(2):
        run(project, "-k", "int8", "--history", "nightly/history.sqlite").assert_outcomes(passed=3)
    runs = open_history(project.path / "nightly" / "history.sqlite").runs()
    assert len(runs) == 2 and set(runs[-1].points) == {"toy-int8-gsm8k", "toy-int8-mmlu", "toy-int8-piqa"}
    entry = json.loads((project.path / "reports" / "results.json").read_text())["results"][0]
    assert entry["moved"] == {"previous": 1.0, "score": 1.0, "change": 0.0, "noise": entry["moved"]["noise"],
                              "moved": False}  # fmt: skip
    out = project.path / "trend.html"
    assert trend_main([str(project.path / "nightly" / "history.sqlite"), "--out", str(out)]) == 0
    assert out.read_text().count("<svg") == 3

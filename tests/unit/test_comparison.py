"""Which reference results a variant is gated against, in pytester sessions with scripted engines:
this session's reference, a stored baseline of the same environment, the reference scored first,
or (``--cross-environment``) a baseline of another environment; and the reference's drift."""

import json

import datasets  # noqa: F401  imported here so pytester's module snapshot keeps it (pyarrow cannot re-register)
import pytest

from quantgate.baselines.store import BaselineItem, item_sha
from tests.toy import make_project, run


@pytest.fixture
def project(pytester, monkeypatch):
    return make_project(pytester, monkeypatch)


def entries(project):
    return {r["id"]: r for r in json.loads((project.path / "reports" / "results.json").read_text())["results"]}


def move_baselines_to_another_machine(project):
    for path in (project.path / "baselines" / "toy").glob("*.json"):
        stored = json.loads(path.read_text())
        stored["provenance"]["engine"]["device_name"] = "Intel(R) Xeon(R) Processor (amx_bf16 avx512f avx2)"
        path.write_text(json.dumps(stored))


def test_a_variant_in_the_session_of_its_reference_is_compared_with_that_run(project):
    run(project, "--record-missing-baselines", "-k", "bf16 or int8").assert_outcomes(passed=6)
    run(project, "-k", "bf16-piqa or int8-piqa").assert_outcomes(passed=2)
    found = entries(project)
    assert found["toy-int8-piqa"]["comparison"] == "session"
    assert found["toy-bf16-piqa"]["comparison"] == "baseline"
    assert found["toy-int8-piqa"]["environment"]["device"] == "fake device"
    assert "compared with the reference's results from this session" in found["toy-int8-piqa"]["message"]


def test_a_stored_baseline_of_the_same_environment_is_used_without_loading_the_reference(project):
    run(project, "--record-missing-baselines", "-k", "bf16").assert_outcomes(passed=3)
    project.events.clear()
    run(project, "-k", "int8").assert_outcomes(passed=3)
    assert project.events == [("load", "int8"), ("close", "int8")]
    assert {e["comparison"] for e in entries(project).values()} == {"baseline"}


def test_without_results_of_this_environment_the_reference_is_scored_first_with_one_load(project):
    run(project, "--record-missing-baselines", "-k", "bf16").assert_outcomes(passed=3)
    move_baselines_to_another_machine(project)
    project.events.clear()
    result = run(project, "-k", "int8", "--no-cache")
    result.assert_outcomes(passed=3)
    assert project.events == [("load", "bf16"), ("close", "bf16"), ("load", "int8"), ("close", "int8")]
    result.stdout.fnmatch_lines(["*quantgate: toy-int8: no reference results of this environment stored; scored*"])
    assert {e["comparison"] for e in entries(project).values()} == {"scored-first"}
    assert (project.path / "reports" / "items" / "toy-bf16-gsm8k.jsonl").exists()


def test_cross_environment_compares_with_the_stored_baseline_and_loads_no_reference(project):
    run(project, "--record-missing-baselines", "-k", "bf16").assert_outcomes(passed=3)
    move_baselines_to_another_machine(project)
    project.events.clear()
    run(project, "-k", "int8", "--cross-environment").assert_outcomes(passed=3)
    assert ("load", "bf16") not in project.events
    assert {e["comparison"] for e in entries(project).values()} == {"cross-environment"}


def signed(stored):
    """A baseline edited on purpose, with its items' checksums made to match again."""
    for item in stored["items"].values():
        item["sha"] = item_sha(BaselineItem(**{k: v for k, v in item.items() if k != "sha"}))
    return stored


def test_the_reference_reports_drift_beyond_its_recorded_noise_and_a_rerun_absorbs_it(project):
    run(project, "--record-missing-baselines", "-k", "bf16-mmlu").assert_outcomes(passed=1)
    path = project.path / "baselines" / "toy" / "mmlu.json"
    stored = json.loads(path.read_text())
    first = next(iter(stored["items"]))
    stored["items"][first]["scores"]["acc"] = 0.0  # the stored run got one item wrong that this one gets right
    stored["score"] = 7 / 8
    path.write_text(json.dumps(signed(stored)))
    result = run(project, "-k", "bf16-mmlu")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*toy-bf16-mmlu: the reference drifted from *mmlu.json beyond its recorded noise: "
                                 "0 item(s) lost, 1 gained*"])  # fmt: skip
    stored["items"][first]["reruns"] = [{"acc": 1.0}]
    path.write_text(json.dumps(signed(stored)))
    result = run(project, "-k", "bf16-mmlu")
    result.assert_outcomes(passed=1)
    assert "drifted" not in result.stdout.str()
    entry = entries(project)["toy-bf16-mmlu"]
    assert (entry["lost"], entry["gained"], entry["noise_absorbed"], entry["reference_unstable"]) == (0, 0, 1, 1)


def test_the_verdict_states_each_variants_release_error_rates(project):
    run(project, "--record-missing-baselines", "-k", "bf16").assert_outcomes(passed=3)
    result = run(project, "-k", "int8")
    result.stdout.fnmatch_lines(
        ["Error rates at this run's sizes and flip rates*",
         "- toy-int8: an unchanged variant clears its 3 gates with probability *; smallest drop blocked with 95% "
         "probability: gsm8k 0.*, mmlu 0.*, piqa 0.*"]
    )  # fmt: skip
    found = entries(project)["toy-int8-mmlu"]
    assert 0 < found["unchanged_pass"] <= 1 and found["drop_blocked_95"] > 0.1  # absolute: tolerance + 1.645 SE


def test_cached_reference_results_of_this_environment_are_used_without_loading_the_reference(project):
    run(project, "--record-missing-baselines", "-k", "bf16").assert_outcomes(passed=3)  # fills the result cache
    move_baselines_to_another_machine(project)
    project.events.clear()
    result = run(project, "-k", "int8")
    result.assert_outcomes(passed=3)
    assert ("load", "bf16") not in project.events
    result.stdout.fnmatch_lines(["*no reference results of this environment stored; read toy-bf16's results of "
                                 "this environment from the result cache"])  # fmt: skip
    assert {e["comparison"] for e in entries(project).values()} == {"cache"}

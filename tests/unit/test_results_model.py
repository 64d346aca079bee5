"""The results model: the published schema is generated from it, files it writes follow that schema,
and reading a file and writing it back loses nothing."""

import importlib.util
import json
from pathlib import Path

import jsonschema
import pytest

from quantgate.results.model import ResultsFileError, parse_results
from tests.toy import make_project, run

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "quantgate" / "schemas" / "results.schema.json"


def generated_schema_text() -> str:
    spec = importlib.util.spec_from_file_location("write_results_schema", ROOT / "tools" / "write_results_schema.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.schema_text())


def test_the_committed_schema_is_the_one_the_model_generates():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == generated_schema_text(), (
        "quantgate/schemas/results.schema.json is stale: run python tools/write_results_schema.py"
    )


def test_a_runs_results_follow_the_schema_and_read_back_unchanged(pytester, monkeypatch):
    project = make_project(pytester, monkeypatch)
    run(project, "--record-missing-baselines", "-k", "bf16").assert_outcomes(passed=3)
    run(project, "-k", "int8 or broken")
    data = json.loads((project.path / "reports" / "results.json").read_text())
    jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text())).validate(data)
    assert {r["status"] for r in data["results"]} >= {"passed", "error"}
    assert parse_results(data).to_json() == data


def test_a_file_off_the_model_is_refused_with_its_name_and_key():
    entry = {"id": "f-int4-gsm8k", "family": "f", "variant": "int4", "benchmark": "gsm8k", "status": "fine"}
    data = {"created": "now", "command": [], "environment": {}, "engine_loads": {}, "results": [entry]}
    with pytest.raises(ResultsFileError, match=r"shard-2/results.json: results/0/status: Input should be"):
        parse_results(data, "shard-2/results.json")

"""The example nightly pipelines (examples/ci) pass linters from PyPI, and every quantgate option
they use exists. zizmor audits GitHub workflows (its --offline audits need no network);
check-jsonschema validates both files against the GitHub-workflow and GitLab-CI schemas it ships.
actionlint's PyPI package downloads its binary from GitHub at install time, which CI cannot reach."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).parents[2]
GITHUB = REPO / "examples" / "ci" / "github-nightly.yml"
GITLAB = REPO / "examples" / "ci" / "gitlab-ci.yml"


def tool(name: str, package: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"{name} is not installed: pip install {package} (the project's [test] extra)", pytrace=False)
    return found


def lint(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def zizmor(path: Path) -> subprocess.CompletedProcess:
    return lint(tool("zizmor", "zizmor"), "--offline", "--no-progress", str(path))


def schema_check(schema: str, path: Path) -> subprocess.CompletedProcess:
    return lint(tool("check-jsonschema", "check-jsonschema"), "--builtin-schema", schema, str(path))


def test_github_workflow_passes_zizmor_and_the_workflow_schema():
    audit = zizmor(GITHUB)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    checked = schema_check("vendor.github-workflows", GITHUB)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_gitlab_pipeline_passes_the_gitlab_ci_schema():
    checked = schema_check("vendor.gitlab-ci", GITLAB)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_gitlab_jobs_keep_when_inside_their_rules():
    """GitLab refuses a job-level `when` beside `rules` ("may not be used with rules"); the schema does not."""
    config = yaml.safe_load(GITLAB.read_text())
    for name, job in config.items():
        if isinstance(job, dict) and "script" in job:
            templates = [config[t] for t in ([job["extends"]] if isinstance(job.get("extends"), str) else [])]
            has_rules = "rules" in job or any("rules" in t for t in templates)
            assert not (has_rules and "when" in job), f"{GITLAB.name}: job {name} sets `when` beside `rules`"


def test_the_linters_reject_broken_pipelines(tmp_path):
    unpinned = tmp_path / "unpinned.yml"
    unpinned.write_text(re.sub(r"actions/checkout@\S+", "actions/checkout@main", GITHUB.read_text()))
    assert zizmor(unpinned).returncode != 0
    misspelt = tmp_path / "misspelt.yml"
    misspelt.write_text(GITHUB.read_text().replace("runs-on: ubuntu-latest", "run-on: ubuntu-latest"))
    assert schema_check("vendor.github-workflows", misspelt).returncode != 0
    no_script = tmp_path / "gitlab.yml"
    no_script.write_text(
        GITLAB.read_text().replace("  script:\n    - python3 -m pip install -e .", "  scripts:\n    - x")
    )
    assert schema_check("vendor.gitlab-ci", no_script).returncode != 0


def test_every_option_the_pipelines_pass_to_pytest_exists():
    used = set()
    for path in (GITHUB, GITLAB):
        # the nox line and its continuation lines, which start with an option
        lines = [
            line for line in path.read_text().splitlines() if "nox -s gpu" in line or line.strip().startswith("--")
        ]
        for line in lines:
            used |= set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", line.split("nox -s gpu --")[-1]))
    assert {"--history", "--junit-xml", "--report-dir", "--html", "--dist"} <= used
    help_text = lint(sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider").stdout
    assert not [option for option in used if option not in help_text]

"""Progress bars: on by default only on an interactive terminal, forced with --progress, off with
--no-progress; when on they reach the terminal past pytest's output capture."""

import os
import subprocess
import sys

import pytest

from tests.toy import CATALOGUE, REPO

ENGINE = """
from tests.fakes import FakeEngine
from tests.toy import fake_info


def pytest_quantgate_engine_loader(settings):
    return lambda variant: FakeEngine(name=variant.name)


def pytest_quantgate_expected_engine_info(variant):
    return fake_info(variant)
"""


def run_gate(pytester: pytest.Pytester, *options: str) -> str:
    pytester.makefile(".yaml", catalogue=CATALOGUE)
    pytester.makepyfile(test_accuracy=(REPO / "tests" / "test_accuracy.py").read_text(), conftest=ENGINE)
    command = [sys.executable, "-m", "pytest", "-p", "quantgate.plugin", "-p", "no:cacheprovider",
               "--catalogue", "catalogue.yaml", "--baselines-dir", "baselines", "--report-dir", "reports",
               "--cache-dir", "cache", "--no-cache", "--record-missing-baselines", "-k", "bf16-piqa",
               *options]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(command, cwd=pytester.path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_progress_bars_reach_the_terminal_with_progress_and_stay_off_otherwise(pytester):
    assert "scoring piqa" in run_gate(pytester, "--progress")  # through pytest's capture
    assert "scoring piqa" not in run_gate(pytester, "--no-progress")
    assert "scoring piqa" not in run_gate(pytester)  # output to a pipe is not an interactive terminal

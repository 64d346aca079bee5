"""A pytest plugin for bench/nightly.py: every accuracy test's figures (the properties quantgate
reports for results.json) appended to a JSON-lines file as soon as the test reports, so a run
stopped at its deadline, or killed, keeps the tests it finished. Loaded with
``-p bench.nightly_plugin``; writes to ``$QUANTGATE_NIGHTLY_LOG``."""

from __future__ import annotations

import json
import os

import pytest

from quantgate.report.html_columns import properties_of


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path, props = os.environ.get("QUANTGATE_NIGHTLY_LOG"), properties_of(report)
    if path and props is not None:
        row = {**props, "duration_s": round(report.duration, 3), "outcome": report.outcome}
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(row, default=str) + "\n")
            out.flush()

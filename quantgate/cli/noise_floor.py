"""Rerun each family's BF16 reference against its own stored baseline and report how many answers
flip: the noise floor a quantized variant's changes are read against. The gate must pass BF16
against itself; a flip rate above zero means the engine is not deterministic on this machine.

    quantgate noise-floor -k smollm2-135m [any pytest options]

Runs pytest on the reference tests (``-m reference``), then prints and writes
``<report-dir>/noise-floor.json`` from its results.json. Sampling is greedy; the baseline's
provenance records the seed and whether vLLM's batch-invariant mode was on.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from quantgate.files import write_json_atomic
from quantgate.results.model import read_results
from quantgate.results.noise_floor import render, summarize


class ResultsPath:
    """Asks the run's results collector where it wrote results.json (``--report-dir`` or pytest.ini)."""

    path: Path | None = None

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        collector = config.pluginmanager.get_plugin("quantgate-results")
        if collector is not None:
            self.path = collector.path


def main(argv: list[str], plugins: Sequence[object] = ()) -> int:
    """``plugins``: more pytest plugins for the run (an engine plugged in through quantgate.hookspecs)."""
    where = ResultsPath()
    code = pytest.main(["-m", "reference", *argv], plugins=[where, *plugins])
    results_file = where.path
    if results_file is None or not results_file.exists():
        print(f"no results at {results_file}: nothing ran", file=sys.stderr)
        return int(code) or 1
    rows = summarize(read_results(results_file).results)
    print("\nnoise floor: BF16 rerun against its stored baseline\n" + render(rows))
    write_json_atomic(results_file.with_name("noise-floor.json"), rows)
    return int(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

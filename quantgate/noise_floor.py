"""Rerun each family's BF16 reference against its own stored baseline and report how many answers
flip: the noise floor a quantized variant's changes are read against. The gate must pass BF16
against itself; a flip rate above zero means the engine is not deterministic on this machine.

    python -m quantgate.noise_floor -k smollm2-135m [any pytest options]

Runs pytest on the reference tests (``-m reference``), then prints and writes
``<report-dir>/noise-floor.json`` from its results.json. Sampling is greedy; the baseline's
provenance records the seed and whether vLLM's batch-invariant mode was on.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from quantgate.baselines import write_json_atomic


def summarize(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for entry in results:
        if entry.get("n") is None:
            rows.append({"id": entry.get("id", entry.get("nodeid")), "status": entry.get("status") or "error"})
            continue
        rows.append(
            {
                "id": entry["id"],
                "status": entry["status"],
                "n": entry["n"],
                "lost": entry["lost"],
                "gained": entry["gained"],
                "flip_rate": (entry["lost"] + entry["gained"]) / entry["n"],
                "delta": entry["delta"],
                "ci": [entry["ci_low"], entry["ci_high"]],
            }
        )
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'test':<45} {'status':<10} {'n':>6} {'lost':>5} {'gained':>6} {'flip rate':>9} {'delta':>8}"]
    for row in rows:
        if "n" not in row:
            lines.append(f"{row['id']:<45} {row['status']:<10}")
            continue
        lines.append(
            f"{row['id']:<45} {row['status']:<10} {row['n']:>6} {row['lost']:>5} {row['gained']:>6} "
            f"{row['flip_rate']:>9.2%} {row['delta']:>+8.4f}"
        )
    return "\n".join(lines)


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
    rows = summarize(json.loads(results_file.read_text())["results"])
    print("\nnoise floor: BF16 rerun against its stored baseline\n" + render(rows))
    write_json_atomic(results_file.with_name("noise-floor.json"), rows)
    return int(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Merge the reports of CI shards (or of families run as separate jobs) into one report and one gate.

    quantgate merge reports/shard-* --out reports/merged [--lang zh]

Each argument is a run's report directory (or its results.json). Every file is checked against
the published schema (quantgate/schemas/results.schema.json); a test that appears in two files is
refused, since one of them would silently win. Writes ``results.json``, ``summary.md`` and
``report.html`` (verdict, matrix, plots, environment of each shard, every test's flipped items)
under ``--out``, prints the verdict, and exits 1 when the merged gate is blocked, 0 when clear.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from quantgate.files import utc_now


class ResultsFileError(ValueError):
    """A results file that cannot be read or does not follow the schema."""


@cache
def schema() -> dict[str, Any]:
    text = resources.files("quantgate").joinpath("schemas/results.schema.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


def validate_results(data: Any, source: str = "results.json") -> None:
    """Raise ResultsFileError naming the file and the first offending key."""
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema()).iter_errors(data))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "(top level)"
        raise ResultsFileError(f"{source}: {where}: {error.message}")


def read_results(path: Path) -> dict[str, Any]:
    file = path / "results.json" if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsFileError(f"{file}: no such file (did the shard's run write its report there?)") from None
    except json.JSONDecodeError as exc:
        raise ResultsFileError(f"{file}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    validate_results(data, str(file))
    return dict(data)


def merge(runs: Sequence[tuple[Path, dict[str, Any]]]) -> dict[str, Any]:
    seen: dict[str, Path] = {}
    results: list[dict[str, Any]] = []
    loads: dict[str, int] = {}
    for path, data in runs:
        for entry in data["results"]:
            name = entry.get("id") or entry.get("nodeid")
            if name in seen:
                raise ResultsFileError(f"{path}: test {name} is also in {seen[name]}; merge each shard once")
            seen[name] = path
            results.append({**entry, "shard": str(path)})
        for variant, count in data["engine_loads"].items():
            loads[variant] = loads.get(variant, 0) + count
    return {
        "created": utc_now(),
        "command": ["quantgate.results.merge", *(str(path) for path, _ in runs)],
        "environment": {str(path): data["environment"] for path, data in runs},
        "engine_loads": loads,
        "run": merged_run(runs),
        "merged_from": [str(path) for path, _ in runs],
        "results": results,
    }


def merged_run(runs: Sequence[tuple[Path, dict[str, Any]]]) -> dict[str, Any]:
    """Complete only if every shard finished (a results.json written before runs were recorded counts
    as finished)."""
    states = [(path, data.get("run") or {"complete": True}) for path, data in runs]
    reasons = [f"{path}: {run.get('reason')}" for path, run in states if not run.get("complete", True)]
    return {
        "complete": not reasons,
        "state": "finished",
        "reason": "; ".join(reasons) or None,
        "not_run": [case for _, run in states for case in run.get("not_run", [])],
    }

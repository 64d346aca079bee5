"""A rerun of a family's reference recorded in its baselines as per-item noise: the rerun's per-item
files read and checked against the baseline (other data or prompts refused, naming file and item),
and the differing scores stored beside their items with the rerun's label and environment (the
``quantgate reruns`` command, quantgate.cli.reruns).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from quantgate.baselines.store import Baseline, BaselineFile, Rerun
from quantgate.errors import BaselineError
from quantgate.files import utc_now


def read_items(path: Path) -> dict[str, dict[str, Any]]:
    """Rows of a per-item results file by item id; errors name the file and line."""
    rows: dict[str, dict[str, Any]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"{path}: cannot read per-item results ({exc})") from None
    for number, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
            rows[str(row["id"])] = {"scores": dict(row["scores"]), "prompt_sha": str(row["prompt_sha"])}
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise BaselineError(f"{path}:{number}: not a per-item result row ({type(exc).__name__}: {exc})") from None
    return rows


def with_rerun(
    baseline: Baseline, rows: Mapping[str, Mapping[str, Any]], *, label: str, source: str, environment: dict[str, Any]
) -> BaselineFile:
    """The baseline with one more rerun recorded, over the baseline's items the rerun scored (a
    rerun with a smaller limit covers fewer) on the same prompts."""
    data = baseline.data
    shared = [item for item in data.items if item in rows]
    if not shared:
        raise BaselineError(f"{source}: none of its items is among the {len(data.items)} of {baseline.path}")
    other = [item for item in shared if rows[item]["prompt_sha"] != data.items[item].prompt_sha]
    if other:
        raise BaselineError(f"{source}: item {other[0]!r} was scored on another prompt than {baseline.path}")
    items = {}
    changed = 0
    for item, stored in data.items.items():
        scores = dict(rows[item]["scores"]) if item in rows else stored.scores
        if scores != stored.scores and scores not in stored.reruns:
            changed += 1
            stored = stored.model_copy(update={"reruns": (*stored.reruns, scores)})
        items[item] = stored
    rerun = Rerun(label=label, source=source, environment=environment, items=len(shared), changed=changed,
                  recorded_at=utc_now())  # fmt: skip
    return data.model_copy(update={"items": items, "reruns": (*data.reruns, rerun)})


def environment_of(results_file: Path, test_id: str) -> dict[str, Any]:
    """The rerun's environment key, from the provenance its results.json kept, where it did."""
    if not results_file.exists():
        return {}
    entries = json.loads(results_file.read_text(encoding="utf-8")).get("results", [])
    entry: dict[str, Any] = next((e for e in entries if e.get("id") == test_id), {})
    return dict(entry.get("environment") or {})


def items_file(directory: Path, test_id: str) -> Path:
    nested = directory / "items" / f"{test_id}.jsonl"
    return nested if nested.exists() else directory / f"{test_id}.jsonl"

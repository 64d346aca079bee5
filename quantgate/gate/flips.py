"""The items behind a change: where the variant got worse than BF16 (lost) or better (gained).

For 0/1 metrics these are the flipped items; for graded ones (F1, a document's perplexity) the
items whose own value moved most. Each comes with what a person needs to judge it: the prompt,
the target, and both models' outputs and extracted answers. BF16's output comes from the baseline,
which records each item's output and answer (for an older baseline without them, from a
reference run's per-item file that matches the baseline item for item).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from quantgate.records import ItemResult, Metric

SHOWN = 10
"""Items shown per direction in the report; the per-item JSON lines hold all of them."""
TEXT_LIMIT = 800
"""Characters kept of a prompt or an output (few-shot prompts are long; the end is what differs)."""


def clip(text: str | None, limit: int = TEXT_LIMIT) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return "…" + text[-limit:]


def reference_rows(baseline_items: Mapping[str, Any], items_file: Path) -> dict[str, dict[str, Any]]:
    """BF16's output and answer per item id, as the baseline recorded them. For a baseline recorded
    without outputs, the reference's per-item file of a run is used where its item has the
    baseline's prompt hash and scores (the same answer the gate compares against)."""
    recorded = {
        item_id: {"output": item.output, "extracted": item.extracted}
        for item_id, item in baseline_items.items()
        if item.output is not None
    }
    if recorded or not items_file.exists():
        return recorded
    rows = (json.loads(line) for line in items_file.read_text(encoding="utf-8").splitlines() if line.strip())
    return {
        row["id"]: row
        for row in rows
        if (item := baseline_items.get(row.get("id")))
        and row.get("prompt_sha") == item.prompt_sha
        and row.get("scores") == item.scores
    }


def flipped_items(
    items: Sequence[ItemResult],
    baseline_scores: Mapping[str, Mapping[str, float]],
    metric: Metric,
    reference: Mapping[str, Mapping[str, Any]],
    shown: int = SHOWN,
) -> dict[str, Any]:
    """Lost and gained items, largest change first, at most ``shown`` of each, with their counts."""
    changes = []
    for item in items:
        if item.id not in baseline_scores:
            continue
        before, after = metric.item_value(baseline_scores[item.id]), metric.item_value(item.scores)
        change = after - before if metric.higher_is_better else before - after
        if change != 0:
            changes.append((change, item))
    lost = sorted((c for c in changes if c[0] < 0), key=lambda c: (c[0], c[1].id))
    gained = sorted((c for c in changes if c[0] > 0), key=lambda c: (-c[0], c[1].id))
    return {
        "lost_count": len(lost),
        "gained_count": len(gained),
        "lost": [_describe(item, change, reference.get(item.id)) for change, item in lost[:shown]],
        "gained": [_describe(item, change, reference.get(item.id)) for change, item in gained[:shown]],
    }


def _describe(item: ItemResult, change: float, reference: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "id": item.id,
        "change": change,
        "prompt": clip(item.prompt),
        "target": item.target,
        "output": clip(item.output),
        "extracted": item.extracted,
        "reference_output": clip(reference.get("output")) if reference else None,
        "reference_extracted": reference.get("extracted") if reference else None,
    }

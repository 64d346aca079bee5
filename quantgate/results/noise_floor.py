"""The noise floor: each family's BF16 reference rerun against its own stored baseline, and how
many answers flip (the ``quantgate noise-floor`` command). The gate must pass BF16 against itself;
a flip rate above zero means the engine is not deterministic on this machine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from quantgate.results.model import Entry, TestResult
from quantgate.results.status import status_of


def summarize(results: Sequence[Entry]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for entry in results:
        if not isinstance(entry, TestResult) or entry.n is None or entry.lost is None or entry.gained is None:
            rows.append({"id": entry.name, "status": status_of(entry).value})
            continue
        rows.append(
            {
                "id": entry.id,
                "status": status_of(entry).value,
                "n": entry.n,
                "lost": entry.lost,
                "gained": entry.gained,
                "flip_rate": (entry.lost + entry.gained) / entry.n,
                "delta": entry.delta,
                "ci": [entry.ci_low, entry.ci_high],
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

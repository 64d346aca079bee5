"""Rerun each family's BF16 reference against its own stored baseline and report how many answers
flip: the noise floor a quantized variant's changes are read against. The gate must pass BF16
against itself; a flip rate above zero means the engine is not deterministic on this machine.

    quantgate noise-floor -k smollm2-135m [any pytest options]

Runs pytest on the reference tests (``-m reference``), then prints and writes
``<report-dir>/noise-floor.json`` from its results.json. Sampling is greedy; the baseline's
provenance records the seed and whether vLLM's batch-invariant mode was on.
"""

from __future__ import annotations

from typing import Any


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

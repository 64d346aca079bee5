"""The report's plots as inline SVG (matplotlib): a forest plot of each test's change against BF16
with its interval, and each variant's recovery of BF16's score per benchmark."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402

from quantgate.results.model import TestResult  # noqa: E402
from quantgate.results.status import judge  # noqa: E402


def svg_of(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prologue and doctype: the SVG goes inline


def in_points(result: TestResult) -> bool:
    """Scores on a 0-1 scale compared by difference (accuracy-like), drawn in percentage points."""
    return result.mode != "relative" and 0 <= (result.baseline or 0) <= 1


def forest_plot(results: Sequence[TestResult]) -> str | None:
    """Δ against BF16 in points with its interval and the largest drop allowed, one row per test."""
    rows = [r for r in results if not r.reference and r.ci_low is not None and in_points(r)]
    if not rows:
        return None
    rows = sorted(rows, key=lambda r: (r.family, r.variant, r.benchmark), reverse=True)
    figure, axes = plt.subplots(figsize=(7.5, 0.9 + 0.28 * len(rows)))
    for y, r in enumerate(rows):
        colour = judge(r).colour
        axes.plot([100 * (r.ci_low or 0), 100 * (r.ci_high or 0)], [y, y], color=colour, linewidth=2)
        axes.plot(100 * (r.delta or 0), y, "o", color=colour, markersize=5)
        if r.allowed_drop is not None:
            axes.plot(-100 * r.allowed_drop, y, "|", color="#57606a", markersize=10)
    axes.axvline(0, color="#57606a", linewidth=0.8)
    axes.set_yticks(range(len(rows)), [f"{r.variant_key} · {r.benchmark}" for r in rows], fontsize=8)
    axes.set_xlabel("change against BF16 (points); bar: 90% interval; tick: largest drop allowed", fontsize=8)
    axes.tick_params(axis="x", labelsize=8)
    axes.grid(axis="x", color="#d0d7de", linewidth=0.5)
    axes.set_title("Change against BF16", fontsize=10)
    return svg_of(figure)


def recovery(result: TestResult) -> float | None:
    """The variant's score as a share of BF16's, in % (inverted for lower-is-better metrics)."""
    score, baseline = result.score, result.baseline
    if score is None or not baseline:
        return None
    if not result.higher_is_better:
        return 100 * baseline / score if score else None
    return 100 * score / baseline


def recovery_plot(results: Sequence[TestResult]) -> str | None:
    """Recovery per benchmark (rows) for each variant (bars), 100% = BF16."""
    rows = [r for r in results if not r.reference and recovery(r) is not None]
    if not rows:
        return None
    variants = sorted({r.variant_key for r in rows})
    benchmarks = sorted({r.benchmark for r in rows}, reverse=True)
    height = 0.8 / len(variants)
    figure, axes = plt.subplots(figsize=(7.5, 1.0 + 0.22 * len(benchmarks) * len(variants)))
    palette = plt.get_cmap("tab10")
    for k, variant in enumerate(variants):
        values = {r.benchmark: recovery(r) for r in rows if r.variant_key == variant}
        ys = [b + (k - (len(variants) - 1) / 2) * height for b in range(len(benchmarks))]
        widths = [values.get(name) or 0 for name in benchmarks]
        axes.barh(ys, widths, height=height * 0.9, color=palette(k % 10), label=variant)
    axes.axvline(100, color="#57606a", linewidth=0.8)
    low = min(min(v for r in rows if (v := recovery(r)) is not None) - 2, 95)
    axes.set_xlim(max(low, 0), max(max(recovery(r) or 0 for r in rows) + 2, 102))
    axes.set_yticks(range(len(benchmarks)), benchmarks, fontsize=8)
    axes.set_xlabel("score as % of BF16 (perplexity: BF16's / the variant's)", fontsize=8)
    axes.tick_params(axis="x", labelsize=8)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    axes.set_title("Recovery of BF16's score", fontsize=10)
    return svg_of(figure)

"""The trend page: one chart per (variant, benchmark) across a history's runs (score with its
interval, BF16's baseline dashed, points coloured by decision, a run that moved more than its noise
ringed) and a table of the runs under it (the ``quantgate trend`` command, quantgate.cli.trend).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from quantgate.report.plots import plt, svg_of
from quantgate.results.history import Point, Run, movement
from quantgate.results.status import colour_of_status


def moved(before: Point | None, after: Point) -> bool:
    change = movement(before, after)
    return change is not None and change.moved


def chart(test: str, series: list[tuple[Run, Point]]) -> str:
    figure, axes = plt.subplots(figsize=(7, 2.6))
    xs = list(range(len(series)))
    for x, (_, point) in zip(xs, series):
        if point.score is None:
            continue
        colour = colour_of_status(point.status or "")
        if point.ci_low is not None and point.ci_high is not None and point.baseline is not None:
            # the interval is of the change against BF16: drawn around the score
            low, high = point.baseline + point.ci_low, point.baseline + point.ci_high
            axes.plot([x, x], [low, high], color=colour, linewidth=1.5)
        axes.plot(x, point.score, "o", color=colour, markersize=5)
    scores = [(x, p.score) for x, (_, p) in zip(xs, series) if p.score is not None]
    axes.plot([x for x, _ in scores], [s for _, s in scores], color="#8c959f", linewidth=0.8, zorder=0)
    for x, ((_, point), (_, before)) in enumerate(zip(series, [(None, None), *series[:-1]]), start=0):
        if moved(before, point) and point.score is not None:
            axes.plot(x, point.score, "o", markersize=13, markerfacecolor="none", markeredgecolor="#0969da")
    baselines = [p.baseline for _, p in series if p.baseline is not None]
    if baselines:
        axes.axhline(baselines[-1], color="#57606a", linestyle="--", linewidth=0.8, label="BF16 baseline")
        axes.legend(fontsize=7, loc="best")
    axes.set_xticks(xs, [run.created[:16].replace("T", "\n") for run, _ in series], fontsize=6)
    axes.tick_params(axis="y", labelsize=7)
    axes.set_title(test, fontsize=9)
    return svg_of(figure)


def table(series: list[tuple[Run, Point]]) -> str:
    rows, before = [], None
    for run, point in series:
        step = movement(before, point)
        change = "" if step is None else f"{step.change:+.4f}" + (" (moved)" if step.moved else "")
        score = "" if point.score is None else f"{point.score:.4f}"
        rows.append(
            f"<tr><td>{html.escape(run.created)}</td><td>{score}</td><td>{change}</td>"
            f"<td>{html.escape(point.status or '')}</td><td>{point.n or ''}</td></tr>"
        )
        before = point
    return (
        '<table class="qg-trend"><tr><th>run</th><th>score</th><th>Δ since previous</th><th>decision</th>'
        + "<th>n</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def render(runs: Sequence[Run], select: str | None = None) -> str:
    tests = sorted({t for run in runs for t in run.points if not select or select in t})
    sections = []
    for test in tests:
        series = [(run, run.points[test]) for run in runs if test in run.points]
        sections.append(
            f'<section class="qg-test" id="{html.escape(test)}">{chart(test, series)}{table(series)}</section>'
        )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>quantgate trends</title><style>'
        "body{font-family:sans-serif;margin:16px} .qg-trend{border-collapse:collapse;font-size:12px;margin-bottom:24px}"
        ".qg-trend td,.qg-trend th{border:1px solid #d0d7de;padding:2px 8px} svg{max-width:100%;height:auto}"
        f"</style></head><body><h1>quantgate trends</h1><p>{len(runs)} runs, {len(tests)} tests. A ringed point "
        "moved by more than half its interval since the run before.</p>" + "".join(sections) + "</body></html>"
    )

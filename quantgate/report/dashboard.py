"""The top of the report a release engineer reads: the verdict, a variants × benchmarks matrix, the
plots, and (for pages quantgate renders itself) the environment; plus each test's flipped items.

Everything is HTML built from results.json's entries, so the pytest-html report, a merged report
of CI shards and any later tool render the same thing from the same data.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

from quantgate.report.plots import forest_plot, recovery_plot
from quantgate.results.model import Entry, Flips, RunState, TestResult
from quantgate.results.status import COLOURS, judge
from quantgate.results.summary import verdict

STYLE = """<style>
.qg-matrix{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
.qg-matrix th,.qg-matrix td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
.qg-matrix td.qg-cell{min-width:9em}
.qg-matrix .qg-delta,.qg-matrix .qg-published{display:block;font-size:11px;color:#424a53}
.qg-matrix .qg-moved{display:block;font-size:11px;color:#0969da;font-weight:bold}
.qg-legend span{display:inline-block;padding:1px 8px;margin-right:6px;border-radius:3px;font-size:12px}
.qg-plots{display:flex;flex-wrap:wrap;gap:24px;margin:8px 0 16px}
.qg-plots svg{max-width:100%;height:auto}
.qg-flips{border-collapse:collapse;font-size:12px;margin:6px 0}
.qg-flips th,.qg-flips td{border:1px solid #d0d7de;padding:3px 6px;vertical-align:top;text-align:left}
.qg-flips pre{white-space:pre-wrap;max-width:48em;max-height:14em;overflow:auto;margin:0;font-size:11px}
</style>"""
TINT = {COLOURS["pass"]: "#dafbe1", COLOURS["fail"]: "#ffebe9", COLOURS["underpowered"]: "#fff1d6"}
LEGEND = (
    ("pass", "#dafbe1"),
    ("fail or not run", "#ffebe9"),
    ("underpowered, or failed but warn-only", "#fff1d6"),
    ("waived / reference", "#f6f8fa"),
)


def _bold(line: str) -> str:
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(line))


def _number(value: float | None, result: TestResult) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if result.higher_is_better else f"{value:,.1f}"


def _signed_format(result: TestResult) -> str:
    return "+.4f" if result.higher_is_better else "+,.1f"


def _cell(result: TestResult) -> str:
    judged = judge(result)
    plain = result.reference or judged.status.value == "waived"
    tint = "#f6f8fa" if plain else TINT.get(judged.colour, "#f6f8fa")
    parts = [f"<strong>{_number(result.score, result)}</strong>" if result.score is not None else ""]
    if result.reference:
        parts.append('<span class="qg-delta">reference</span>')
    elif result.delta is not None:
        interval = result.interval_text(_signed_format(result))
        delta = format(result.delta, _signed_format(result))
        parts.append(f'<span class="qg-delta">Δ {delta}{" " + interval if interval else ""}</span>')
    moved = result.moved
    if moved is not None and moved.moved:
        arrow = "▲" if moved.change > 0 else "▼"
        noise = f"{moved.noise:.4f}" if moved.noise is not None else "?"
        parts.append(
            f'<span class="qg-moved">{arrow} moved {moved.change:+.4f} since the last run (noise ±{noise})</span>'
        )
    if result.published is not None:
        caveat = "" if result.published_comparable is not False else " (other settings: not comparable)"
        parts.append(f'<span class="qg-published">published {result.published:.4f}{caveat}</span>')
    label = judged.status.value + (", underpowered" if result.underpowered else "")
    parts.append(f'<span class="qg-delta">{html.escape(label)}</span>')
    test_id = html.escape(result.id)
    return f'<td class="qg-cell" style="background:{tint}" data-test="{test_id}">{"".join(parts)}</td>'


def tests_of(results: Sequence[Entry]) -> list[TestResult]:
    return [r for r in results if isinstance(r, TestResult)]


def matrix(results: Sequence[Entry]) -> str:
    """Rows: variants (reference first, as run); columns: benchmarks."""
    tests = tests_of(results)
    if not tests:
        return ""
    rows = list(dict.fromkeys((r.family, r.variant) for r in tests))
    benchmarks = list(dict.fromkeys(r.benchmark for r in tests))
    by_key = {(r.family, r.variant, r.benchmark): r for r in tests}
    head = "".join(f"<th>{html.escape(b)}</th>" for b in benchmarks)
    body = []
    for family, variant in rows:
        cells = "".join(
            _cell(by_key[(family, variant, b)]) if (family, variant, b) in by_key else "<td></td>" for b in benchmarks
        )
        body.append(f"<tr><th>{html.escape(family)}</th><th>{html.escape(variant)}</th>{cells}</tr>")
    legend = "".join(f'<span style="background:{tint}">{label}</span>' for label, tint in LEGEND)
    return (
        f'<div class="qg-legend">{legend}</div>'
        f'<table class="qg-matrix" id="qg-matrix"><thead><tr><th>family</th><th>variant</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def families(results: Sequence[Entry]) -> str:
    """Each family's description and where its published numbers come from, as the catalogue says."""
    described = {}
    for r in tests_of(results):
        if r.family not in described and (r.family_description or r.published_source):
            described[r.family] = (r.family_description, r.published_source)
    if not described:
        return ""
    items = "".join(
        f"<li><strong>{html.escape(family)}</strong>"
        + (f": {html.escape(description)}" if description else "")
        + (f" <em>(published numbers: {html.escape(source)})</em>" if source else "")
        + "</li>"
        for family, (description, source) in described.items()
    )
    return f'<ul class="qg-families" id="qg-families">{items}</ul>'


def plots(results: Sequence[Entry]) -> str:
    tests = tests_of(results)
    figures = [svg for svg in (forest_plot(tests), recovery_plot(tests)) if svg]
    return f'<div class="qg-plots" id="qg-plots">{"".join(figures)}</div>' if figures else ""


def environment_table(facts: Mapping[str, Any]) -> str:
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts.items())
    return f'<h3>Environment</h3><table class="qg-matrix" id="qg-environment">{rows}</table>'


def dashboard(
    results: Sequence[Entry],
    lang: str = "en",
    facts: Mapping[str, Any] | None = None,
    run: RunState | None = None,
) -> str:
    """The verdict, the matrix and the plots (and the environment, when ``facts`` are given)."""
    lines = verdict(results, lang, run)
    verdict_html = f"<p><strong>{_bold(lines[0])}</strong></p>" + (
        "<ul>" + "".join(f"<li>{_bold(line[2:])}</li>" for line in lines[1:]) + "</ul>" if lines[1:] else ""
    )
    parts = [STYLE, '<div id="quantgate-summary">', verdict_html, families(results), matrix(results), plots(results)]
    if facts:
        parts.append(environment_table(facts))
    parts.append("</div>")
    return "".join(parts)


def _pre(text: str | None) -> str:
    return "<em>not recorded</em>" if text is None else f"<pre>{html.escape(text)}</pre>"


def flips_table(flips: Flips | None) -> str:
    """A test's lost and gained items with the prompt, the target and both models' outputs."""
    if flips is None or not (flips.lost or flips.gained):
        return ""
    parts = []
    for direction, title in (("lost", "BF16 right, variant wrong"), ("gained", "variant right, BF16 wrong")):
        shown = flips.lost if direction == "lost" else flips.gained
        count = flips.lost_count if direction == "lost" else flips.gained_count
        if not shown:
            continue
        rows = "".join(
            f"<tr><td>{html.escape(f.id)}</td><td>{_pre(f.prompt)}</td><td>{html.escape(str(f.target))}</td>"
            f"<td>{html.escape(str(f.reference_extracted))}<br>{_pre(f.reference_output)}</td>"
            f"<td>{html.escape(str(f.extracted))}<br>{_pre(f.output)}</td></tr>"
            for f in shown
        )
        parts.append(
            f"<h4>{direction}: {count} item(s), {title} (largest change first; {len(shown)} shown)</h4>"
            '<table class="qg-flips"><tr><th>item</th><th>prompt</th><th>target</th>'
            f"<th>BF16 answer / output</th><th>variant answer / output</th></tr>{rows}</table>"
        )
    return '<div class="qg-flipped">' + "".join(parts) + "</div>"


def page(
    title: str,
    results: Sequence[Entry],
    facts: Mapping[str, Any],
    lang: str = "en",
    run: RunState | None = None,
) -> str:
    """A standalone report page (for merged CI shards): dashboard, environment and every test's flips."""
    details = "".join(
        f"<details><summary>{html.escape(r.id)}: {html.escape(judge(r).status.value)}</summary>"
        f"<p>{html.escape(r.message or '')}</p>{flips_table(r.flips)}</details>"
        for r in tests_of(results)
    )
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        f'<body style="font-family:sans-serif;margin:16px"><h1>{html.escape(title)}</h1>'
        f"{dashboard(results, lang, facts, run)}<h3>Tests</h3>{details}</body></html>"
    )

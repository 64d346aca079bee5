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

from quantgate.report.plots import COLOURS, colour_of, forest_plot, higher_is_better, recovery_plot
from quantgate.results.summary import status_of, verdict

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


def _number(value: float | None, result: dict[str, Any]) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if higher_is_better(result) else f"{value:,.1f}"


def _signed(value: float, result: dict[str, Any]) -> str:
    return f"{value:+.4f}" if higher_is_better(result) else f"{value:+,.1f}"


def _cell(result: dict[str, Any]) -> str:
    status = status_of(result)
    tint = "#f6f8fa" if result.get("reference") or status == "waived" else TINT.get(colour_of(result), "#f6f8fa")
    parts = [f"<strong>{_number(result.get('score'), result)}</strong>" if result.get("score") is not None else ""]
    if result.get("reference"):
        parts.append('<span class="qg-delta">reference</span>')
    elif result.get("delta") is not None:
        low, high = result.get("ci_low"), result.get("ci_high")
        interval = f" [{_signed(low, result)}, {_signed(high, result)}]" if low is not None and high is not None else ""
        parts.append(f'<span class="qg-delta">Δ {_signed(result["delta"], result)}{interval}</span>')
    moved = result.get("moved") or {}
    if moved.get("moved"):
        arrow = "▲" if moved["change"] > 0 else "▼"
        parts.append(
            f'<span class="qg-moved">{arrow} moved {moved["change"]:+.4f} since the last run '
            f"(noise ±{moved['noise']:.4f})</span>"
        )
    if result.get("published") is not None:
        parts.append(f'<span class="qg-published">published {result["published"]:.4f}</span>')
    label = status + (", underpowered" if result.get("underpowered") else "")
    parts.append(f'<span class="qg-delta">{html.escape(label)}</span>')
    test_id = html.escape(str(result.get("id", "")))
    return f'<td class="qg-cell" style="background:{tint}" data-test="{test_id}">{"".join(parts)}</td>'


def matrix(results: Sequence[dict[str, Any]]) -> str:
    """Rows: variants (reference first, as run); columns: benchmarks."""
    tests = [r for r in results if "id" in r and "variant" in r]
    if not tests:
        return ""
    rows = list(dict.fromkeys((r["family"], r["variant"]) for r in tests))
    benchmarks = list(dict.fromkeys(r["benchmark"] for r in tests))
    by_key = {(r["family"], r["variant"], r["benchmark"]): r for r in tests}
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


def plots(results: Sequence[dict[str, Any]]) -> str:
    figures = [svg for svg in (forest_plot(results), recovery_plot(results)) if svg]
    return f'<div class="qg-plots" id="qg-plots">{"".join(figures)}</div>' if figures else ""


def environment_table(facts: Mapping[str, Any]) -> str:
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts.items())
    return f'<h3>Environment</h3><table class="qg-matrix" id="qg-environment">{rows}</table>'


def dashboard(
    results: Sequence[dict[str, Any]],
    lang: str = "en",
    facts: Mapping[str, Any] | None = None,
    run: Mapping[str, Any] | None = None,
) -> str:
    """The verdict, the matrix and the plots (and the environment, when ``facts`` are given)."""
    lines = verdict(list(results), lang, dict(run) if run is not None else None)
    verdict_html = f"<p><strong>{_bold(lines[0])}</strong></p>" + (
        "<ul>" + "".join(f"<li>{_bold(line[2:])}</li>" for line in lines[1:]) + "</ul>" if lines[1:] else ""
    )
    parts = [STYLE, '<div id="quantgate-summary">', verdict_html, matrix(results), plots(results)]
    if facts:
        parts.append(environment_table(facts))
    parts.append("</div>")
    return "".join(parts)


def _pre(text: str | None) -> str:
    return "<em>not recorded</em>" if text is None else f"<pre>{html.escape(text)}</pre>"


def flips_table(flips: Mapping[str, Any] | None) -> str:
    """A test's lost and gained items with the prompt, the target and both models' outputs."""
    if not flips or not (flips["lost"] or flips["gained"]):
        return ""
    parts = []
    for direction, title in (("lost", "BF16 right, variant wrong"), ("gained", "variant right, BF16 wrong")):
        shown, count = flips[direction], flips[f"{direction}_count"]
        if not shown:
            continue
        rows = "".join(
            f"<tr><td>{html.escape(f['id'])}</td><td>{_pre(f['prompt'])}</td><td>{html.escape(str(f['target']))}</td>"
            f"<td>{html.escape(str(f['reference_extracted']))}<br>{_pre(f['reference_output'])}</td>"
            f"<td>{html.escape(str(f['extracted']))}<br>{_pre(f['output'])}</td></tr>"
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
    results: Sequence[dict[str, Any]],
    facts: Mapping[str, Any],
    lang: str = "en",
    run: Mapping[str, Any] | None = None,
) -> str:
    """A standalone report page (for merged CI shards): dashboard, environment and every test's flips."""
    details = "".join(
        f"<details><summary>{html.escape(r['id'])}: {html.escape(status_of(r))}</summary>"
        f"<p>{html.escape(str(r.get('message') or ''))}</p>{flips_table(r.get('flips'))}</details>"
        for r in results
        if "id" in r
    )
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        f'<body style="font-family:sans-serif;margin:16px"><h1>{html.escape(title)}</h1>'
        f"{dashboard(results, lang, facts, run)}<h3>Tests</h3>{details}</body></html>"
    )

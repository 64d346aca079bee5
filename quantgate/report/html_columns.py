"""quantgate's columns in pytest-html's results table, its title, its environment rows, the
dashboard above the table and each test's flipped items in its expanded row."""

from __future__ import annotations

import html
from typing import Any, cast

import pytest

from quantgate.report.dashboard import dashboard, flips_table
from quantgate.results.model import TestResult
from quantgate.run.environment import report_facts

COLUMNS = (
    ("family", "Family"),
    ("variant", "Variant"),
    ("benchmark", "Benchmark"),
    ("baseline", "Baseline"),
    ("score", "Score"),
    ("published", "Published"),
    ("delta", "Delta"),
    ("ci", "CI"),
    ("p_value", "p"),
    ("lost_gained", "Lost / gained"),
    ("n", "n"),
    ("mdd", "Min. detectable drop"),
    ("rule", "Rule"),
    ("power", "Power"),
    ("invalid", "Invalid"),
    ("wall_s", "Wall time (s)"),
    ("load_s", "Load (s)"),
    ("tokens_per_s", "Tokens/s"),
    ("gpu_peak_mib", "GPU peak (MiB)"),
    ("serving", "Served: p50 / p95 ms, req/s; streamed: TTFT, ITL p50"),
    ("format", "Format / kernel"),
)

UNDERPOWERED = '<span class="underpowered" style="color:#b35c00;font-weight:bold">UNDERPOWERED</span>'


FORMATS = {"p_value": ".3g", "mdd": ".4f", "baseline": ".4f", "score": ".4f", "published": ".4f", "delta": "+.4f",
           "wall_s": ".1f", "load_s": ".1f", "tokens_per_s": ",.0f", "gpu_peak_mib": ",.0f"}  # fmt: skip


def properties_of(report: pytest.TestReport, name: str = "quantgate") -> dict[str, Any] | None:
    for key, value in getattr(report, "user_properties", ()):
        if key == name:
            return cast(dict[str, Any], value)
    return None


def result_of(report: pytest.TestReport) -> TestResult | None:
    props = properties_of(report)
    return TestResult.model_validate(props) if props is not None else None


def _cell(result: TestResult | None, key: str) -> str:
    if result is None:
        return ""
    if key == "ci":
        return result.interval_text()
    if key == "lost_gained":
        return result.lost_gained_text()
    if key == "format":
        return "" if not result.format else html.escape(result.format_text())
    if key == "serving":
        return "" if result.serving is None else html.escape(result.serving.text())
    if key == "power":
        return "" if result.underpowered is None else UNDERPOWERED if result.underpowered else "ok"
    if key == "mdd" and result.mdd is not None and result.mdd_single_sample is not None:
        k = result.sampling.repeats if result.sampling else "k"
        return f"{result.mdd:.4f} (k={k}; 1 sample: {result.mdd_single_sample:.4f})"
    if key == "published" and result.published is not None and result.published_differences:
        mark = "" if result.published_comparable else " <strong>not comparable</strong>"
        title = html.escape("; ".join(result.published_differences), quote=True)
        return f'<span title="{title}">{result.published:.4f}{mark}</span>'
    value = getattr(result, key)
    if value is None:
        return ""
    return format(value, FORMATS[key]) if key in FORMATS else html.escape(str(value))


class HtmlColumns:
    """pytest-html hooks; registered only when pytest-html is active."""

    def pytest_html_report_title(self, report: Any) -> None:
        report.title = "quantgate release gate"

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells[2:2] = [f'<th class="sortable" data-column-type="{key}">{title}</th>' for key, title in COLUMNS]

    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        result = result_of(report)
        cells[2:2] = [f'<td class="col-{key}">{_cell(result, key)}</td>' for key, _ in COLUMNS]

    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: Any
    ) -> None:
        collector = session.config.pluginmanager.get_plugin("quantgate-results")
        if collector is not None and collector.results:
            prefix.append(dashboard(collector.results, collector.lang, run=collector.run))


def register_html_columns(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("html"):
        config.pluginmanager.register(HtmlColumns(), "quantgate-html")
        if not hasattr(config, "workerinput"):
            add_environment_rows(config)


def add_environment_rows(config: pytest.Config) -> None:
    """GPU, driver, CUDA, library versions and the date in pytest-html's Environment table."""
    from pytest_metadata.plugin import metadata_key

    config.stash[metadata_key].update(report_facts())


def attach_flips(report: pytest.TestReport, result: TestResult) -> None:
    """The test's flipped items as an HTML extra: shown when its row is expanded."""
    table = flips_table(result.flips)
    if table:
        from pytest_html import extras

        report.extras = [*getattr(report, "extras", []), extras.html(table)]  # type: ignore[attr-defined]

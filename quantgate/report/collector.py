"""What a run leaves behind: columns in the pytest-html report, ``results.json`` and a terminal summary.

Per-test numbers travel in the report's ``user_properties`` so they reach the xdist controller too.
"""

from __future__ import annotations

import dataclasses
import html
import os
from pathlib import Path
from typing import Any, cast

import pytest

from quantgate.catalogue.loader import Case
from quantgate.files import utc_now, write_json_atomic, write_text_atomic
from quantgate.report.dashboard import dashboard, flips_table
from quantgate.results.history import last_run, movements, open_history
from quantgate.results.summary import markdown, status_of, verdict
from quantgate.run.environment import environment, report_facts
from quantgate.run.session import Outcome

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
)

UNDERPOWERED = '<span class="underpowered" style="color:#b35c00;font-weight:bold">UNDERPOWERED</span>'


def outcome_properties(case: Case, outcome: Outcome | None) -> dict[str, Any]:
    """The numbers of one accuracy test, as plain JSON values."""
    props: dict[str, Any] = {
        "id": case.id,
        "family": case.variant.family,
        "variant": case.variant.name,
        "benchmark": case.benchmark,
        "task": case.task,
        "scheme": list(case.variant.scheme),
        "reference": case.variant.is_reference,
        "published": case.published,
        "waiver": case.waiver,
        "status": outcome.status if outcome else None,
        "message": outcome.message if outcome else None,
    }
    if outcome is None:
        return props
    gate, result = outcome.gate, outcome.result
    if gate is not None:
        c = gate.comparison
        props.update(
            baseline=gate.baseline,
            score=gate.score,
            delta=gate.delta,
            mode=gate.rule.mode,
            rule=str(gate.rule),
            allowed_drop=gate.allowed_drop,
            ci_low=c.ci_low,
            ci_high=c.ci_high,
            ci_level=c.level,
            p_value=c.p_value,
            method=c.method,
            clusters=c.clusters,
            lost=c.lost,
            gained=c.gained,
            n=c.n,
            mdd=gate.minimum_detectable_drop,
            underpowered=gate.underpowered,
            unchanged_pass=gate.unchanged_pass,
            drop_blocked_95=gate.drop_blocked_95,
        )
    if result is not None:
        props.update(
            metric=result.metric,
            higher_is_better=result.higher_is_better,
            metrics=result.metrics,
            flags=list(result.flags),
            groups={name: dataclasses.asdict(group) for name, group in result.groups.items()},
            invalid=result.invalid,
            task_version=result.task_version,
            dataset_fingerprint=result.dataset_fingerprint,
            wall_s=round(result.wall_s, 3),
        )
    props.update(
        notes=list(outcome.notes),
        worker=os.environ.get("PYTEST_XDIST_WORKER"),
        cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
        loaded=outcome.load_s is not None,
        load_s=round(outcome.load_s, 3) if outcome.load_s is not None else None,
        baseline_file=str(outcome.baseline_file) if outcome.baseline_file else None,
        items_file=str(outcome.items_file) if outcome.items_file else None,
        flips=outcome.flips,
        comparison=outcome.comparison,
        noise_absorbed=outcome.absorbed,
        reference_unstable=outcome.unstable,
        environment=outcome.environment,
    )
    if outcome.usage is not None:
        u = outcome.usage
        props.update(
            tokens=u.tokens,
            tokens_per_s=round(u.tokens_per_s, 1) if u.tokens_per_s is not None else None,
            gpu_peak_mib=round(u.gpu_peak_mib) if u.gpu_peak_mib is not None else None,
        )
    return props


def properties_of(report: pytest.TestReport, name: str = "quantgate") -> dict[str, Any] | None:
    for key, value in getattr(report, "user_properties", ()):
        if key == name:
            return cast(dict[str, Any], value)
    return None


def _cell(props: dict[str, Any] | None, key: str) -> str:
    if not props:
        return ""
    if key == "ci" and props.get("ci_low") is not None:
        return f"[{props['ci_low']:+.4f}, {props['ci_high']:+.4f}]"
    if key == "lost_gained" and props.get("lost") is not None:
        return f"{props['lost']} / {props['gained']}"
    if key == "power" and props.get("underpowered") is not None:
        return UNDERPOWERED if props["underpowered"] else "ok"
    if props.get(key) is None:
        return ""
    value = props[key]
    if key == "p_value":
        return f"{value:.3g}"
    if key == "mdd":
        return f"{value:.4f}"
    if key in ("baseline", "score", "published"):
        return f"{value:.4f}"
    if key == "delta":
        return f"{value:+.4f}"
    if key in ("wall_s", "load_s"):
        return f"{value:.1f}"
    if key in ("tokens_per_s", "gpu_peak_mib"):
        return f"{value:,.0f}"
    return html.escape(str(value))


class HtmlColumns:
    """pytest-html hooks; registered only when pytest-html is active."""

    def pytest_html_report_title(self, report: Any) -> None:
        report.title = "quantgate release gate"

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells[2:2] = [f'<th class="sortable" data-column-type="{key}">{title}</th>' for key, title in COLUMNS]

    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        props = properties_of(report)
        cells[2:2] = [f'<td class="col-{key}">{_cell(props, key)}</td>' for key, _ in COLUMNS]

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


def attach_flips(report: pytest.TestReport, props: dict[str, Any]) -> None:
    """The test's flipped items as an HTML extra: shown when its row is expanded."""
    table = flips_table(props.get("flips"))
    if table:
        from pytest_html import extras

        report.extras = [*getattr(report, "extras", []), extras.html(table)]  # type: ignore[attr-defined]


class ResultsCollector:
    """Gathers every accuracy test's numbers on the controller and writes ``results.json`` at the end.

    Once the selection is known it writes a results.json and summary.md that say the run has not
    finished, so a run that is killed, or an earlier run's files, never read as this run's verdict;
    an interrupted run, one whose selected tests did not all report, and one that selected no
    accuracy test end with ``run.complete: false`` and no release verdict."""

    def __init__(
        self,
        report_dir: Path,
        config: pytest.Config,
        case_ids: frozenset[str],
        lang: str = "en",
        history: Path | None = None,
    ):
        self.path = report_dir / "results.json"
        self.history = history
        self.lang = lang
        self.config = config
        self.case_ids = case_ids
        self.results: list[dict[str, Any]] = []
        self.releases: list[dict[str, Any]] = []
        self.selected: list[str] | None = None
        """Accuracy tests selected, once collection has ended; None before (or when none exist)."""
        self.reported: set[str] = set()
        self.deselected = False
        self.run: dict[str, Any] | None = None
        self.write_error: str | None = None

    def _case_id(self, nodeid: str) -> str | None:
        if not nodeid.endswith("]") or "[" not in nodeid:
            return None
        case = nodeid[nodeid.index("[") + 1 : -1]
        return case if case in self.case_ids else None

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected = self.deselected or any(self._case_id(item.nodeid) for item in items)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.selected is None and getattr(session.config.option, "dist", "no") == "no":
            self._started([c for c in map(self._case_id, (i.nodeid for i in session.items)) if c])

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if self.selected is None:
            self._started([c for c in map(self._case_id, ids) if c])

    def _started(self, selected: list[str]) -> None:
        if not selected and not self.deselected:
            return  # not an accuracy run (unit tests only): leave the reports alone
        self.selected = selected
        run = {"complete": False, "state": "running", "reason": "the run has not finished", "selected": len(selected)}
        try:
            self._write({"created": utc_now(), "command": list(self.config.invocation_params.args),
                         "environment": {}, "engine_loads": {}, "run": run, "results": []})  # fmt: skip
        except OSError as exc:
            pytest.exit(f"quantgate: cannot write the report to {self.path.parent}: {exc}", returncode=4)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        released = properties_of(report, "quantgate_release")
        if released is not None:
            self.releases.append(released)
        case = self._case_id(report.nodeid)
        if case is not None and (report.when == "call" or not report.passed):
            self.reported.add(case)
        props = properties_of(report)
        if props is not None:
            outcome = "error" if report.when == "setup" else report.outcome
            self.results.append({**props, "outcome": outcome, "duration_s": round(report.duration, 3)})

    def run_state(self, exitstatus: int) -> dict[str, Any]:
        not_run = [case for case in self.selected or [] if case not in self.reported]
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            reason: str | None = "interrupted"
        elif exitstatus == pytest.ExitCode.INTERNAL_ERROR:
            reason = "pytest stopped with an internal error"
        elif not self.selected and not self.results:
            reason = "no accuracy test was selected"
        elif not_run:
            reason = f"{len(not_run)} selected test(s) did not report a result"
        else:
            reason = None
        return {"complete": reason is None, "state": "finished", "reason": reason, "exitstatus": int(exitstatus),
                "selected": len(self.selected or []), "not_run": not_run}  # fmt: skip

    @pytest.hookimpl(tryfirst=True)  # before pytest-html writes its report, whose summary reads self.run
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.results and self.selected is None:
            return
        self.run = self.run_state(exitstatus)
        if not self.run["complete"] and exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        loads: dict[str, int] = {}
        for entry in self.results:
            if entry.get("loaded"):
                key = f"{entry['family']}-{entry['variant']}"
                loads[key] = loads.get(key, 0) + 1
        history = open_history(self.history) if self.history else None
        if history is not None:
            for test, change in movements(last_run(history), self.results).items():
                next(e for e in self.results if e.get("id") == test)["moved"] = dataclasses.asdict(change)
        data = {
            "created": utc_now(),
            "command": list(self.config.invocation_params.args),
            "environment": environment(),
            "engine_loads": loads,
            "engine_releases": self.releases,
            "run": self.run,
            "results": self.results,
        }
        try:
            self._write(data)
        except OSError as exc:
            self.write_error = f"cannot write the report to {self.path.parent}: {exc}"
            session.exitstatus = session.exitstatus or pytest.ExitCode.TESTS_FAILED
            return
        if history is not None and self.run["complete"]:
            history.append(data)

    def _write(self, data: dict[str, Any]) -> None:
        write_json_atomic(self.path, data)
        write_text_atomic(self.path.with_name("summary.md"), markdown(data["results"], self.lang, data["run"]))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.run is None:
            return
        terminalreporter.section("quantgate")
        for entry in self.results:
            numbers = ""
            if entry.get("score") is not None:
                numbers = (
                    f"{entry['score']:.4f} vs {entry['baseline']:.4f} delta {entry['delta']:+.4f} "
                    f"CI [{entry['ci_low']:+.4f}, {entry['ci_high']:+.4f}] p={entry['p_value']:.3g} "
                    f"lost/gained {entry['lost']}/{entry['gained']} n={entry['n']} mdd {entry['mdd']:.4f} "
                    f"({entry['mode']})"
                )
                if entry.get("underpowered"):
                    numbers += " UNDERPOWERED"
            label = status_of(entry)
            terminalreporter.write_line(f"{label.upper():<11} {entry['id']:<45} {numbers}")
            if label == "error":
                terminalreporter.write_line(f"            ! {entry.get('message')}")
            for flag in entry.get("flags", []):
                terminalreporter.write_line(f"            ! {flag}")
            if (entry.get("moved") or {}).get("moved"):
                m = entry["moved"]
                terminalreporter.write_line(
                    f"            ! moved {m['change']:+.4f} since the history's last run (noise ±{m['noise']:.4f})"
                )
        for line in verdict(self.results, run=self.run):
            terminalreporter.write_line(line)
        if self.write_error:
            terminalreporter.write_line(f"quantgate: {self.write_error}; this verdict is not saved", red=True)
        else:
            summary = self.path.with_name("summary.md")
            terminalreporter.write_line(f"results: {self.path}; Markdown summary: {summary}")

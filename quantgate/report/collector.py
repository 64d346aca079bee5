"""What a run leaves behind: ``results.json``, ``summary.md`` and the terminal summary.

Per-test numbers travel in the report's ``user_properties`` so they reach the xdist controller too;
there they become the results model's entries (quantgate.results.model).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

from quantgate.catalogue.model import Case
from quantgate.files import utc_now, write_json_atomic, write_text_atomic
from quantgate.records import TaskResult
from quantgate.report.html_columns import properties_of
from quantgate.results.history import last_run, movements, open_history
from quantgate.results.model import Moved, ReasoningInfo, ResultsFile, RunState, SamplingInfo, Status, TestResult
from quantgate.results.status import status_of
from quantgate.results.summary import markdown, verdict
from quantgate.run.environment import environment
from quantgate.run.outcome import Outcome


def outcome_properties(case: Case, outcome: Outcome | None) -> dict[str, Any]:
    """The numbers of one accuracy test as plain JSON values (pytest's user_properties carry them
    to the xdist controller), checked against the results model on the way."""
    fields: dict[str, Any] = {
        "id": case.id,
        "family": case.variant.family,
        "variant": case.variant.name,
        "benchmark": case.benchmark,
        "task": case.task,
        "scheme": list(case.variant.scheme),
        "reference": case.variant.is_reference,
        "published": case.published,
        "waiver": case.waiver,
        "family_description": case.variant.description,
        "published_source": case.variant.published_source,
        "variant_description": case.variant.variant_description,
        "status": outcome.status if outcome else None,
        "message": outcome.message if outcome else None,
    }
    fields |= _settings(case)
    if outcome is not None:
        fields |= _decided(outcome)
    return TestResult(**fields).model_dump(mode="json", exclude_unset=True)


def _settings(case: Case) -> dict[str, Any]:
    """How a generative benchmark sampled, and how that compares with its published number's settings."""
    fields: dict[str, Any] = {}
    if case.is_generative:
        s = case.sampling
        thinking = case.chat.enable_thinking if case.chat else None
        shown = {} if thinking is None else {"thinking": thinking}
        fields["sampling"] = SamplingInfo(temperature=s.temperature, top_p=s.top_p, max_tokens=case.max_tokens,
                                          repeats=s.repeats, **shown)  # fmt: skip
    compared = case.published_differences()
    if compared is not None:
        stated = case.published_settings
        fields |= dict(
            published_settings=stated.model_dump(exclude_none=True) if stated else None,
            published_differences=compared[0],
            published_comparable=compared[1],
        )
    return fields


def _reasoning(result: TaskResult, fmt: str) -> ReasoningInfo:
    answers = [sample for item in result.items for sample in (item.samples or (item,))]
    traces = [a.trace_chars for a in answers if a.trace_chars]
    return ReasoningInfo(format=fmt, answers=len(answers), traces=len(traces),
                         unterminated=sum(a.unterminated for a in answers),
                         trace_chars_mean=round(sum(traces) / len(traces), 1) if traces else None)  # fmt: skip


def _decided(outcome: Outcome) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    gate, result = outcome.gate, outcome.result
    if gate is not None:
        c = gate.comparison
        fields |= dict(
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
            mdd_single_sample=outcome.single_sample_mdd,
            underpowered=gate.underpowered,
            unchanged_pass=gate.unchanged_pass,
            drop_blocked_95=gate.drop_blocked_95,
        )
    if result is not None:
        fields |= dict(
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
        if outcome.reasoning is not None:
            fields["reasoning"] = _reasoning(result, outcome.reasoning)
    fields |= dict(
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
        format=outcome.format,
    )
    if outcome.usage is not None:
        u = outcome.usage
        fields |= dict(
            tokens=u.tokens,
            tokens_per_s=round(u.tokens_per_s, 1) if u.tokens_per_s is not None else None,
            gpu_peak_mib=round(u.gpu_peak_mib) if u.gpu_peak_mib is not None else None,
            serving=u.serving,
        )
        if u.data_parallel_size is not None:
            fields["data_parallel_size"] = u.data_parallel_size
    return fields


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
        self.results: list[TestResult] = []
        self.releases: list[dict[str, Any]] = []
        self.selected: list[str] | None = None
        """Accuracy tests selected, once collection has ended; None before (or when none exist)."""
        self.reported: set[str] = set()
        self.deselected = False
        self.run: RunState | None = None
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

    def _file(self, run: RunState, results: list[TestResult], environment: dict[str, Any]) -> ResultsFile:
        loads: dict[str, int] = {}
        for entry in results:
            if entry.loaded:
                loads[entry.variant_key] = loads.get(entry.variant_key, 0) + 1
        return ResultsFile(
            created=utc_now(),
            command=list(self.config.invocation_params.args),
            environment=environment,
            engine_loads=loads,
            engine_releases=self.releases,
            run=run,
            results=results,
        )

    def _started(self, selected: list[str]) -> None:
        if not selected and not self.deselected:
            return  # not an accuracy run (unit tests only): leave the reports alone
        self.selected = selected
        run = RunState(complete=False, state="running", reason="the run has not finished", selected=len(selected))
        try:
            self._write(self._file(run, [], {}))
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
            self.results.append(TestResult(**props, outcome=outcome, duration_s=round(report.duration, 3)))

    def run_state(self, exitstatus: int) -> RunState:
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
        return RunState(complete=reason is None, state="finished", reason=reason, exitstatus=int(exitstatus),
                        selected=len(self.selected or []), not_run=not_run)  # fmt: skip

    @pytest.hookimpl(tryfirst=True)  # before pytest-html writes its report, whose summary reads self.run
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.results and self.selected is None:
            return
        self.run = self.run_state(exitstatus)
        if not self.run.complete and exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        history = open_history(self.history) if self.history else None
        if history is not None:
            moved = movements(last_run(history), self.results)
            self.results = [
                e.model_copy(update={"moved": Moved(**dataclasses.asdict(moved[e.id]))}) if e.id in moved else e
                for e in self.results
            ]
        data = self._file(self.run, self.results, environment())
        try:
            self._write(data)
        except OSError as exc:
            self.write_error = f"cannot write the report to {self.path.parent}: {exc}"
            session.exitstatus = session.exitstatus or pytest.ExitCode.TESTS_FAILED
            return
        if history is not None and self.run.complete:
            history.append(data)

    def _write(self, data: ResultsFile) -> None:
        write_json_atomic(self.path, data.to_json())
        write_text_atomic(self.path.with_name("summary.md"), markdown(data.results, self.lang, data.run))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.run is None:
            return
        terminalreporter.section("quantgate")
        for entry in self.results:
            status = status_of(entry)
            terminalreporter.write_line(f"{status.value.upper():<11} {entry.id:<45} {numbers_line(entry)}")
            if status is Status.ERROR:
                terminalreporter.write_line(f"            ! {entry.message}")
            for flag in entry.flags:
                terminalreporter.write_line(f"            ! {flag}")
            if entry.moved is not None and entry.moved.moved:
                noise = f"{entry.moved.noise:.4f}" if entry.moved.noise is not None else "?"
                terminalreporter.write_line(
                    f"            ! moved {entry.moved.change:+.4f} since the history's last run (noise ±{noise})"
                )
        for line in verdict(self.results, run=self.run):
            terminalreporter.write_line(line)
        if self.write_error:
            terminalreporter.write_line(f"quantgate: {self.write_error}; this verdict is not saved", red=True)
        else:
            summary = self.path.with_name("summary.md")
            terminalreporter.write_line(f"results: {self.path}; Markdown summary: {summary}")


def numbers_line(entry: TestResult) -> str:
    if entry.score is None or entry.baseline is None or entry.delta is None:
        return ""
    line = (
        f"{entry.score:.4f} vs {entry.baseline:.4f} delta {entry.delta:+.4f} CI {entry.interval_text()} "
        f"p={entry.p_value:.3g} lost/gained {entry.lost}/{entry.gained} n={entry.n} mdd {entry.mdd:.4f} ({entry.mode})"
    )
    return line + (" UNDERPOWERED" if entry.underpowered else "")

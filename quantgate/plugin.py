"""The pytest plugin: options, one parametrized test per catalogue case, grouping by variant so each
engine loads once, and the report hooks. The work itself is in ``quantgate.run.session``."""

from __future__ import annotations

import dataclasses
import shlex
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from quantgate.baselines.store import Baseline
from quantgate.catalogue.loader import load_catalogue
from quantgate.catalogue.model import Case, Catalogue, Variant
from quantgate.engines import Engine
from quantgate.engines.base import EngineInfo
from quantgate.engines.determinism import default_batch_invariance
from quantgate.engines.device import cuda_device_count, device_name, visible_gpus
from quantgate.engines.gpus import GpuAssignmentError, pin_worker
from quantgate.errors import BaselineError, CatalogueError, MissingBaselineError, QuantgateWarning
from quantgate.files import default_cache_dir
from quantgate.options import add_options, cli_or_ini_path, on_the_terminal, progress_wanted
from quantgate.report.collector import ResultsCollector, outcome_properties
from quantgate.report.html_columns import attach_flips, register_html_columns
from quantgate.results.model import TestResult
from quantgate.run.engine_manager import EngineManager, expected_engine_info, vllm_loader
from quantgate.run.outcome import Outcome, Status
from quantgate.run.policy import warns_only, with_policy
from quantgate.run.runner import PreparedBenchmark
from quantgate.run.session import Evaluator
from quantgate.run.settings import Settings
from quantgate.run.shard import Shard, assign, case_cost

CATALOGUE = pytest.StashKey[Catalogue]()
EVALUATOR = pytest.StashKey[Evaluator]()
OUTCOME = pytest.StashKey[Outcome]()
WARN_ONLY = pytest.StashKey[tuple[str, ...]]()
SELECTED = pytest.StashKey[tuple[Case, ...]]()
CASE_FIXTURE = "quantgate_case"


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from quantgate import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


@pytest.hookimpl(trylast=True)
def pytest_quantgate_engine_loader(settings: Settings) -> Callable[[Variant], Engine]:
    return vllm_loader(settings)


@pytest.hookimpl(trylast=True)
def pytest_quantgate_expected_engine_info(variant: Variant) -> EngineInfo:
    return expected_engine_info(variant)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:  # a pytest-xdist worker: claim its GPUs before anything touches CUDA
        try:
            pin_worker(workerinput["workerid"], int(workerinput["workercount"]), visible_gpus())
        except GpuAssignmentError as exc:
            raise pytest.UsageError(str(exc)) from None
    cli = config.getoption("catalogue")
    paths = [config.invocation_params.dir / p for p in cli] if cli else list(config.getini("quantgate_catalogue"))
    if not paths:
        return  # installed but not configured here: quantgate stays out of this run
    try:
        catalogue = load_catalogue(paths, device=device_name())
    except CatalogueError as exc:
        raise pytest.UsageError(f"quantgate catalogue:\n{exc}") from None
    config.stash[CATALOGUE] = catalogue
    for marker in sorted(catalogue.markers | {"reference", "cuda"}):
        config.addinivalue_line("markers", f"{marker}: quantgate catalogue marker")
    settings = Settings(
        baselines_dir=cli_or_ini_path(config, "baselines_dir", "quantgate_baselines"),
        report_dir=cli_or_ini_path(config, "report_dir", "quantgate_reports"),
        cache_dir=config.getoption("cache_dir") or default_cache_dir(),
        limit=config.getoption("limit"),
        update_baselines=config.getoption("update_baselines"),
        record_missing_baselines=config.getoption("record_missing_baselines"),
        progress=progress_wanted(config),
        use_cache=not config.getoption("no_cache") and config.getoption("request_order") is None,
        cross_environment=config.getoption("cross_environment"),
        request_order=config.getoption("request_order"),
        data_parallel=config.getoption("data_parallel"),
    )
    try:
        default_batch_invariance(cuda_device_count(), config.getoption("no_batch_invariant"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    loader = config.hook.pytest_quantgate_engine_loader(settings=settings)
    config.stash[EVALUATOR] = Evaluator(
        settings,
        EngineManager(loader),
        lambda variant: config.hook.pytest_quantgate_expected_engine_info(variant=variant),
    )
    config.stash[WARN_ONLY] = (*config.getini("quantgate_warn_only"), *config.getoption("warn_only"))
    if not hasattr(config, "workerinput"):  # the xdist controller, or a run without xdist
        config.pluginmanager.register(
            ResultsCollector(
                settings.report_dir,
                config,
                frozenset(case.id for case in catalogue.cases),
                config.getoption("report_lang"),
                config.getoption("history"),
            ),
            "quantgate-results",
        )
    register_html_columns(config)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto``: one worker per visible GPU (xdist's own choice on a machine without GPUs)."""
    return len(visible_gpus()) or None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if CASE_FIXTURE not in metafunc.fixturenames:
        return
    if CATALOGUE not in metafunc.config.stash:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: quantgate's accuracy test needs a catalogue: pass --catalogue "
            "or set quantgate_catalogue in pytest.ini"
        )
    params = []
    for case in metafunc.config.stash[CATALOGUE].cases:
        marks = [getattr(pytest.mark, m) for m in case.markers]
        marks.append(pytest.mark.xdist_group(case.variant.key))  # one worker per variant under --dist loadgroup
        if case.waiver:
            marks.append(pytest.mark.xfail(strict=True, reason=f"waived: {case.waiver}"))
        params.append(pytest.param(case, id=case.id, marks=marks))
    metafunc.parametrize(CASE_FIXTURE, params)


def case_of(item: pytest.Item | None) -> Case | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get(CASE_FIXTURE) if callspec else None


@pytest.hookimpl(trylast=True)  # after -k and -m have deselected, so shards balance what is selected
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run other tests first, then accuracy tests in catalogue order: variant by variant, reference first."""
    if CATALOGUE not in config.stash:
        return
    rank = {case.id: i for i, case in enumerate(config.stash[CATALOGUE].cases)}

    def key(pair: tuple[int, pytest.Item]) -> tuple[int, int]:
        case = case_of(pair[1])
        return (1, rank[case.id]) if case else (0, pair[0])

    items[:] = [item for _, item in sorted(enumerate(items), key=key)]
    keep_shard(config, items)
    config.stash[SELECTED] = tuple(case for case in map(case_of, items) if case is not None)


def keep_shard(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--shard K/N``: keep the accuracy tests of the variants assigned to shard K (other tests run
    on shard 1 only), so N runners cover the selection once, each variant loading on one runner."""
    option = config.getoption("shard")
    if not option:
        return
    try:
        shard = Shard.parse(option)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    limit = config.getoption("limit")
    costs: dict[str, float] = {}
    for item in items:
        case = case_of(item)
        if case is not None:
            cost = case_cost(case.task, limit if limit is not None else case.spec.limit)
            costs[case.variant.key] = costs.get(case.variant.key, 0.0) + cost
    placed = assign(costs.items(), shard.count)
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        case = case_of(item)
        mine = placed[case.variant.key] == shard.index if case is not None else shard.index == 1
        (keep if mine else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@dataclass
class AccuracyRun:
    """A case ready to run: its data prepared, its baseline checked and its engine loaded, or the
    reason it cannot be compared (reported by the test as a failure, before any model loads)."""

    case: Case
    evaluator: Evaluator
    prepared: PreparedBenchmark
    node: pytest.Item
    problem: Outcome | None = None
    baseline: Baseline | None = None
    engine: Engine | None = None
    loaded: bool = False
    warn_only: bool = False
    """The policy makes this benchmark's accuracy failure a warning, not a release blocker."""

    def run(self) -> Outcome:
        if self.problem is not None:
            outcome = self.problem
        else:
            load_s = self.engine.load_s if self.loaded and self.engine is not None else None
            with on_the_terminal(self.node.config, self.evaluator.settings.progress):
                outcome = self.evaluator.run(self.case, self.prepared, self.baseline, self.engine, load_s=load_s)
        outcome, notes = with_policy(self.case, outcome, self.warn_only, decided=self.problem is None)
        for note in notes:
            warnings.warn(QuantgateWarning(note), stacklevel=1)
        self.node.stash[OUTCOME] = outcome
        return outcome


def record_command(config: pytest.Config, node: pytest.Item, case: Case) -> str:
    """The exact command that records this case's baseline from its family's reference variant."""
    reference = config.stash[CATALOGUE].reference_of(case)
    nodeid = node.nodeid.replace(f"[{case.id}]", f"[{reference.id}]")
    args = ["pytest", "--update-baselines"]
    for value in config.getoption("catalogue") or []:
        args += ["--catalogue", str(value)]
    for option, flag in (("limit", "--limit"), ("baselines_dir", "--baselines-dir")):
        if config.getoption(option) is not None:
            args += [flag, str(config.getoption(option))]
    return shlex.join(args + [nodeid])


@pytest.fixture
def accuracy(request: pytest.FixtureRequest, quantgate_case: Case) -> AccuracyRun:
    """Prepare a case; load its variant's engine unless the baseline already rules the case out or
    every item's result is cached."""
    case = quantgate_case
    if case.variant.requires == "cuda" and cuda_device_count() == 0:
        pytest.skip(f"{case.variant.key} needs a CUDA GPU and this machine has none")
    evaluator = request.config.stash[EVALUATOR]
    prepared = evaluator.prepare(case)
    run = AccuracyRun(
        case, evaluator, prepared, request.node, warn_only=warns_only(case, request.config.stash[WARN_ONLY])
    )
    try:
        run.baseline = evaluator.check_baseline(case, prepared)
    except BaselineError as exc:
        command = record_command(request.config, request.node, case)
        status: Status = "no-baseline" if isinstance(exc, MissingBaselineError) else "refused"
        run.problem = Outcome(status, f"{exc}\nRecord it with:\n  {command}")
        return run
    score_references_first(request.config, evaluator, case)
    if not evaluator.fully_cached(case, prepared):
        run.engine, run.loaded = evaluator.engines.acquire(case.variant)
    return run


def score_references_first(config: pytest.Config, evaluator: Evaluator, case: Case) -> None:
    """Before a variant loads, score its reference on the variant's selected benchmarks where no
    reference results of this environment exist (one reference load for all of them). Other cases'
    problems are left to their own tests."""
    catalogue = config.stash[CATALOGUE]
    if not evaluator.needs_reference_run(case):
        return
    for other in config.stash.get(SELECTED, (case,)):
        if other.variant.key != case.variant.key or other is case:
            continue
        try:
            evaluator.ensure_reference(other, catalogue.reference_of(other))
        except Exception as exc:  # noqa: BLE001  reported by that case's own test
            warnings.warn(QuantgateWarning(f"{other.id}: reference not scored ahead: {exc}"), stacklevel=1)
    evaluator.ensure_reference(case, catalogue.reference_of(case))
    reference = f"{case.variant.family}-{case.variant.reference}"
    if evaluator.reference_source(case) == "cache":
        how = f"read {reference}'s results of this environment from the result cache"
    else:
        how = f"scored {reference} on its benchmarks first"
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    if terminal is not None:
        terminal.write_line(f"\nquantgate: {case.variant.key}: no reference results of this environment stored; {how}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    outcome = item.stash.get(OUTCOME, None)
    case = case_of(item)
    if case is None or call.when == "teardown":
        return report
    if call.when == "call" and outcome is not None:
        props = outcome_properties(case, outcome)
        report.user_properties.append(("quantgate", props))
        if item.config.pluginmanager.hasplugin("html"):
            attach_flips(report, TestResult.model_validate(props))
    elif report.failed and call.excinfo is not None:
        # an engine that would not load, a prompt longer than the context, a disk that filled: the
        # test raised before it had an outcome; its reason goes everywhere the outcome would have
        message = f"{call.excinfo.type.__name__}: {call.excinfo.value}"
        report.user_properties.append(("quantgate", {**outcome_properties(case, None), "status": "error",
                                                     "message": message}))  # fmt: skip
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    """Close the engine after a variant's last test, so memory is free before the next variant loads."""
    result = yield
    evaluator = item.config.stash.get(EVALUATOR, None)
    if evaluator is None or evaluator.engines.current is None:
        return result
    following = case_of(nextitem)
    key = evaluator.engines.current
    if following is None or following.variant.key != key:
        released = evaluator.engines.release()
        if released is not None:
            item.user_properties.append(("quantgate_release", {"variant": key, **dataclasses.asdict(released)}))
    return result


def pytest_sessionfinish(session: pytest.Session) -> None:
    evaluator = session.config.stash.get(EVALUATOR, None)
    if evaluator is not None:
        evaluator.engines.release()

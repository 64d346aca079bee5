"""Engine lifecycle and checkpoint resolution, with scripted engines."""

from pathlib import Path

import pytest

from quantgate.catalogue.loader import load_catalogue
from quantgate.catalogue.spec import Checkpoint
from quantgate.checkpoints.resolve import resolve_checkpoint
from quantgate.errors import EngineLoadError
from quantgate.run.engine_manager import EngineManager
from tests.fakes import FakeEngine

VARIANTS = {
    c.variant.name: c.variant
    for c in load_catalogue([Path(__file__).parents[2] / "fixtures/catalogues/valid.yaml"]).cases
}


def test_one_engine_at_a_time_released_before_the_next_loads():
    events = []

    def loader(variant):
        events.append(("load", variant.name))
        engine = FakeEngine(name=variant.name)
        engine.close = lambda: events.append(("close", variant.name))
        return engine

    manager = EngineManager(loader)
    first, loaded = manager.acquire(VARIANTS["bf16"])
    assert loaded and manager.acquire(VARIANTS["bf16"]) == (first, False)
    manager.acquire(VARIANTS["fp8"])
    manager.release()
    assert events == [("load", "bf16"), ("close", "bf16"), ("load", "fp8"), ("close", "fp8")]
    assert manager.loads == {"toy-1b-bf16": 1, "toy-1b-fp8": 1}
    assert manager.release() is None  # nothing loaded


def test_a_failed_load_is_remembered_with_its_cause():
    calls = []

    def loader(variant):
        calls.append(variant.name)
        raise RuntimeError("CUDA out of memory")

    manager = EngineManager(loader)
    with pytest.raises(EngineLoadError, match="toy-1b-int4-awq: RuntimeError: CUDA out of memory"):
        manager.acquire(VARIANTS["int4-awq"])
    with pytest.raises(
        EngineLoadError, match="failed to load earlier in this session: RuntimeError: CUDA out of memory"
    ):
        manager.acquire(VARIANTS["int4-awq"])
    assert calls == ["int4-awq"]


def test_checkpoints_resolve_to_model_and_revision(tmp_path):
    assert resolve_checkpoint(Checkpoint(hub="org/m", revision="abc"), tmp_path) == ("org/m", "abc")
    assert resolve_checkpoint(Checkpoint(path=str(tmp_path)), tmp_path) == (str(tmp_path), None)
    with pytest.raises(EngineLoadError, match="does not exist"):
        resolve_checkpoint(Checkpoint(path=str(tmp_path / "missing")), tmp_path)


def test_unbuilt_embedded_checkpoint_names_the_command_that_builds_it(tmp_path):
    with pytest.raises(EngineLoadError, match=r"'smollm2-135m-w8a8' is not built at .*: run `nox -s build_embedded`"):
        resolve_checkpoint(Checkpoint(embedded="smollm2-135m-w8a8"), tmp_path)

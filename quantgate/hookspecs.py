"""Hooks through which engines plug into quantgate, added with ``pytest_addhooks``.

(pytest only takes hooks whose names start with ``pytest_``.) A plugin or conftest.py that
implements ``pytest_quantgate_engine_loader`` supplies the engine for a run
without touching quantgate: the first implementation that returns a loader wins, and quantgate's
own, which loads vLLM, runs last. ``tests/toy.py`` plugs its scripted engines in this way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from quantgate.catalogue.model import Variant
    from quantgate.engines.base import Engine, EngineInfo
    from quantgate.run.settings import Settings

hookspec = pluggy.HookspecMarker("pytest")


@hookspec(firstresult=True)
def pytest_quantgate_engine_loader(settings: Settings) -> Callable[[Variant], Engine] | None:
    """The function that loads a variant's engine in this run, or None to leave it to the next
    implementation."""


@hookspec(firstresult=True)
def pytest_quantgate_expected_engine_info(variant: Variant) -> EngineInfo | None:
    """The engine facts recorded for a variant whose results all came from the cache (no engine
    loaded), or None to leave it to the next implementation."""

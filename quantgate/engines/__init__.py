"""Engines serve a benchmark's requests for one loaded model variant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from quantgate.engines.base import Engine, EngineInfo, Release

__all__ = ["Engine", "EngineInfo", "Release", "load_vllm"]


def load_vllm(
    model: str,
    *,
    revision: str | None,
    engine_args: dict[str, Any],
    progress: bool = False,
    log_path: Path | None = None,
) -> Engine:
    """Load ``model`` in vLLM (imported here, so collection never pays for it), with the arguments
    it really runs with on this machine (``effective_engine_args``); the engine's own log goes to
    ``log_path`` when given."""
    from quantgate.engines.vllm_engine import VLLMEngine, effective_engine_args

    args = effective_engine_args(engine_args)
    return VLLMEngine(model, revision=revision, engine_args=args, progress=progress, log_path=log_path)

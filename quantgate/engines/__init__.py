"""Engines serve a benchmark's requests for one loaded model variant."""

from __future__ import annotations

from typing import Any

from quantgate.engines.base import Engine, EngineInfo, Release

__all__ = ["Engine", "EngineInfo", "Release", "load_vllm"]


def load_vllm(model: str, *, revision: str | None, engine_args: dict[str, Any], progress: bool = False) -> Engine:
    """Load ``model`` in vLLM (imported here, so collection never pays for it), with the arguments
    it really runs with on this machine (``effective_engine_args``)."""
    from quantgate.engines.vllm_engine import VLLMEngine, effective_engine_args

    return VLLMEngine(model, revision=revision, engine_args=effective_engine_args(engine_args), progress=progress)

"""Engines serve a benchmark's requests for one loaded model variant."""

from __future__ import annotations

from typing import Any

from quantgate.engines.base import Engine, EngineInfo, Release

__all__ = ["Engine", "EngineInfo", "Release", "load_vllm"]


def load_vllm(model: str, *, revision: str | None, engine_args: dict[str, Any], progress: bool = False) -> Engine:
    """Load ``model`` in vLLM (imported here, so collection never pays for it)."""
    from quantgate.engines.vllm_engine import VLLMEngine

    return VLLMEngine(model, revision=revision, engine_args=engine_args, progress=progress)

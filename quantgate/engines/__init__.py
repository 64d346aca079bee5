"""Engines serve a benchmark's requests for one loaded model variant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from quantgate.engines.base import Engine, EngineInfo, Release

__all__ = ["Engine", "EngineInfo", "Release", "load_vllm", "load_vllm_data_parallel"]


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


def load_vllm_data_parallel(
    model: str,
    *,
    revision: str | None,
    engine_args: dict[str, Any],
    groups: list[tuple[str, ...]],
    on_gpus: bool,
    label: str,
    log_path: Path | None = None,
) -> Engine:
    """One replica of ``model`` per device group (GPU ids, or without GPUs CPU core ids), each
    loaded by ``load_vllm`` in its own process with the same engine arguments; replica ``i`` logs to
    ``<log stem>.replica<i>.log``."""
    from quantgate.engines.data_parallel import DataParallelEngine
    from quantgate.engines.replica import ReplicaSpec

    kwargs = {"model": model, "revision": revision, "engine_args": engine_args}
    tensor_parallel = int(engine_args.get("tensor_parallel_size", 1))
    specs = [
        ReplicaSpec(i, "quantgate.engines:load_vllm", kwargs, gpus=group if on_gpus else (),
                    cpus=() if on_gpus else tuple(int(c) for c in group), tensor_parallel=tensor_parallel,
                    log_path=log_path.with_name(f"{log_path.stem}.replica{i}{log_path.suffix}") if log_path else None)
        for i, group in enumerate(groups)
    ]  # fmt: skip
    return DataParallelEngine(specs, label=label)

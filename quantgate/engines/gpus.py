"""GPUs for pytest-xdist workers: each worker owns an equal, contiguous slice of the visible GPUs
(CUDA_VISIBLE_DEVICES set before anything touches CUDA), variants go whole to a worker (their
tests share an xdist group), and a tensor-parallel variant uses its worker's slice.

    pytest -n auto --dist loadgroup        # one worker per GPU
    pytest -n 2 --dist loadgroup           # on 4 GPUs: two workers of two GPUs (TP=2 variants fit)

A variant with ``data_parallel_size`` runs that many engine replicas on its worker's slice, each on
its own group of tensor x pipeline parallel GPUs (``replica_groups``).
"""

from __future__ import annotations

import os
from typing import Any, Literal

from quantgate.errors import EngineLoadError

DataParallel = int | Literal["auto"]


class GpuAssignmentError(ValueError):
    """More workers than GPUs: two engines would share one."""


def worker_slice(worker_index: int, worker_count: int, visible: list[str]) -> list[str]:
    """The devices worker ``worker_index`` of ``worker_count`` owns."""
    if not visible:
        return []
    if worker_count > len(visible):
        raise GpuAssignmentError(
            f"{worker_count} xdist workers for {len(visible)} GPUs ({','.join(visible)}): two engines would share "
            f"a GPU; run with -n {len(visible)} or fewer"
        )
    per_worker = len(visible) // worker_count
    return visible[worker_index * per_worker : (worker_index + 1) * per_worker]


def worker_index(worker_id: str) -> int:
    """``gw3`` -> 3."""
    if not worker_id.startswith("gw") or not worker_id[2:].isdigit():
        raise ValueError(f"not a pytest-xdist worker id: {worker_id!r}")
    return int(worker_id[2:])


def pin_worker(worker_id: str, worker_count: int, visible: list[str]) -> list[str]:
    """Restrict this process to its slice; returns it. Call before CUDA is initialised."""
    devices = worker_slice(worker_index(worker_id), worker_count, visible)
    if devices:
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
    return devices


def gpus_per_engine(engine_args: dict[str, Any]) -> int:
    return int(engine_args.get("tensor_parallel_size", 1)) * int(engine_args.get("pipeline_parallel_size", 1))


def check_fits(variant_key: str, engine_args: dict, visible_gpus: int) -> None:
    """Refuse, before loading, a variant that needs more GPUs than this process sees."""
    needed = gpus_per_engine(engine_args)
    if visible_gpus and needed > visible_gpus:
        where = os.environ.get("CUDA_VISIBLE_DEVICES", "all")
        raise EngineLoadError(
            f"{variant_key} needs {needed} GPUs (tensor x pipeline parallel) and this process sees {visible_gpus} "
            f"(CUDA_VISIBLE_DEVICES={where}); run with fewer xdist workers so each owns {needed}"
        )


def replica_groups(
    variant_key: str, engine_args: dict[str, Any], replicas: DataParallel, gpus: list[str], cpus: list[int]
) -> list[tuple[str, ...]]:
    """The devices of each data-parallel replica: contiguous groups of ``gpus_per_engine`` GPUs, or
    without GPUs, equal groups of this process's CPU cores (vLLM-CPU binds its threads to them).
    ``auto``: as many replicas as the GPUs hold (one engine on a machine without GPUs). Refuses,
    before loading, a count that does not fit, naming the variant and the numbers."""
    per = gpus_per_engine(engine_args)
    if gpus:
        count = len(gpus) // per if replicas == "auto" else replicas
        if count < 1:
            check_fits(variant_key, engine_args, len(gpus))
        if count * per > len(gpus):
            where = os.environ.get("CUDA_VISIBLE_DEVICES", "all")
            raise EngineLoadError(
                f"{variant_key} asks for {count} data-parallel replicas of {per} GPU(s) each ({count * per} GPUs) "
                f"and this process sees {len(gpus)} (CUDA_VISIBLE_DEVICES={where}); run with fewer xdist workers "
                f"so each owns {count * per}, or lower data_parallel_size"
            )
        return [tuple(gpus[i * per : (i + 1) * per]) for i in range(count)]
    count = 1 if replicas == "auto" else replicas
    if count * per > len(cpus):
        raise EngineLoadError(
            f"{variant_key} asks for {count} data-parallel replicas of {per} CPU core(s) each and this process may "
            f"run on {len(cpus)} ({','.join(map(str, cpus))}); lower data_parallel_size"
        )
    size = len(cpus) // count
    return [tuple(str(c) for c in cpus[i * size : (i + 1) * size]) for i in range(count)]

"""GPUs for pytest-xdist workers: each worker owns an equal, contiguous slice of the visible GPUs
(CUDA_VISIBLE_DEVICES set before anything touches CUDA), variants go whole to a worker (their
tests share an xdist group), and a tensor-parallel variant uses its worker's slice.

    pytest -n auto --dist loadgroup        # one worker per GPU
    pytest -n 2 --dist loadgroup           # on 4 GPUs: two workers of two GPUs (TP=2 variants fit)
"""

from __future__ import annotations

import os

from quantgate.errors import EngineLoadError


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


def check_fits(variant_key: str, engine_args: dict, visible_gpus: int) -> None:
    """Refuse, before loading, a variant that needs more GPUs than this process sees."""
    needed = int(engine_args.get("tensor_parallel_size", 1)) * int(engine_args.get("pipeline_parallel_size", 1))
    if visible_gpus and needed > visible_gpus:
        where = os.environ.get("CUDA_VISIBLE_DEVICES", "all")
        raise EngineLoadError(
            f"{variant_key} needs {needed} GPUs (tensor x pipeline parallel) and this process sees {visible_gpus} "
            f"(CUDA_VISIBLE_DEVICES={where}); run with fewer xdist workers so each owns {needed}"
        )

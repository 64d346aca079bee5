"""The two runs of the side-by-side bench: lm-evaluation-harness's command line and quantgate's
pytest run, on the same model, engine arguments, items, shots and generation length.

lm-eval's defaults decide the settings: GSM8K 5-shot (its task file's ``num_fewshot``), HellaSwag,
ARC-Challenge and WikiText 0-shot, greedy, 256 new tokens; MMLU 5-shot, the way it is published
(lm-eval's ``mmlu`` tasks default to 0-shot). lm-eval's ``--num_fewshot`` would set every task's
shots at once, so the 5 MMLU shots are given per subject in a group file (``--include_path``),
which keeps one lm-eval process, one engine load, as quantgate has.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
MMLU_GROUP = "quantgate_side_by_side_mmlu"
LM_EVAL_TASKS = {"gsm8k": "gsm8k", "hellaswag": "hellaswag", "arc_challenge": "arc_challenge", "wikitext": "wikitext"}
SHOTS = {"mmlu": 5, "gsm8k": 5, "hellaswag": 0, "arc_challenge": 0, "wikitext": 0}
# quantgate test names (benchmark keys of the catalogue written here)
QUANTGATE_NAMES = {"mmlu": "mmlu-5shot", "gsm8k": "gsm8k", "hellaswag": "hellaswag", "arc_challenge": "arc_challenge",
                   "wikitext": "wikitext"}  # fmt: skip
FAMILY, VARIANT = "side-by-side", "model"


@dataclass
class Timed:
    command: list[str]
    exit: int
    wall_s: float
    cpu_s: float
    """User and system time of the process and all its descendants (vLLM's engine processes),
    sampled while they run: less sensitive than the wall to other work on a shared machine."""
    load_before: float
    load_after: float
    log: str


class TreeCPU:
    """CPU seconds of a process and its descendants, read every ``every`` seconds while it runs
    (vLLM kills its engine processes at exit, so the kernel's accounting of waited-for children
    misses them); each process counts with its last reading."""

    def __init__(self, pid: int, every: float = 0.5):
        self.pid, self.every, self.seen = pid, every, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                root = psutil.Process(self.pid)
                for proc in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        t = proc.cpu_times()
                        self.seen[(proc.pid, proc.create_time())] = t.user + t.system
            except psutil.Error:
                pass
            self._stop.wait(self.every)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return sum(self.seen.values())


def run_timed(command: list[str], env: dict[str, str], log: Path, cwd: Path = REPO) -> Timed:
    """Run ``command`` to its end, stdout and stderr into ``log``; the wall clock covers the whole
    process: interpreter start, imports, engine load, scoring and writing results. The one-minute
    load average before and after says whether the machine was shared meanwhile."""
    log.parent.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    with log.open("w") as out:
        start = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        cpu = TreeCPU(process.pid)
        code = process.wait()
        wall = time.perf_counter() - start
    return Timed(command, code, round(wall, 2), round(cpu.stop(), 1), load_before, os.getloadavg()[0], str(log))


def mmlu_group(subjects: list[str]) -> dict:
    """lm-eval's MMLU subject tasks, 5-shot, in one group (weighted by size, as lm-eval's ``mmlu``)."""
    return {
        "group": MMLU_GROUP,
        "task": [{"task": f"mmlu_{s}", "num_fewshot": SHOTS["mmlu"]} for s in subjects],
        "aggregate_metric_list": [{"metric": "acc", "weight_by_size": True}],
        "metadata": {"version": 1.0},
    }


def lm_eval_tasks(benchmarks: list[str]) -> str:
    return ",".join(MMLU_GROUP if b == "mmlu" else LM_EVAL_TASKS[b] for b in benchmarks)


def model_args(model: str, engine: dict) -> str:
    """lm-eval's ``--model_args``: the checkpoint and every engine argument (its vLLM backend hands
    the ones it does not know to ``vllm.LLM`` as they are)."""
    parts = [f"pretrained={model}"] + [f"{k}={v}" for k, v in engine.items()]
    return ",".join(parts)


def lm_eval_command(
    python: str, model: str, engine: dict, benchmarks: list[str], include: Path, out: Path, max_gen_toks: int | None
) -> list[str]:
    from bench.lm_eval_cli import has_vllm_distribution

    head = [python, "-m", "lm_eval"] if has_vllm_distribution() else [python, str(REPO / "bench" / "lm_eval_cli.py")]
    command = head + [
        "run", "--model", "vllm", "--model_args", model_args(model, engine), "--tasks", lm_eval_tasks(benchmarks),
        "--include_path", str(include), "--log_samples", "--output_path", str(out),
        # lm-eval's default batch size, 1, hands its vLLM backend one request at a time (about 35
        # log-likelihood requests/s on an H200, 2026-12-02); `auto` hands vLLM all of them at
        # once, as lm-eval's README recommends for vLLM and as users run it.
        "--batch_size", "auto",
    ]  # fmt: skip
    if max_gen_toks is not None and "gsm8k" in benchmarks:
        command += ["--gen_kwargs", f"max_gen_toks={max_gen_toks}"]
    return command


def write_lm_eval_include(folder: Path, subjects: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{MMLU_GROUP}.yaml").write_text(yaml.safe_dump(mmlu_group(subjects), sort_keys=False))
    return folder


def catalogue(model: str, engine: dict, benchmarks: list[str], max_tokens: int | None) -> dict:
    """A family of one variant, the model, with the engine arguments lm-eval gets; each benchmark
    reads its hub dataset (offline: the hub cache written by the bench) with lm-eval's shots."""
    known = {"dtype", "max_model_len", "gpu_memory_utilization", "enforce_eager", "enable_prefix_caching",
             "max_num_batched_tokens", "max_num_seqs", "seed", "tensor_parallel_size"}  # fmt: skip
    engine_spec = {k: v for k, v in engine.items() if k in known}
    extra = {k: v for k, v in engine.items() if k not in known}
    if extra:
        engine_spec["extra"] = extra
    specs = {}
    for name in benchmarks:
        spec: dict = {
            "task": name,
            "num_fewshot": SHOTS[name],
            "gate": {"margin": 1000.0 if name == "wikitext" else 0.05},
        }
        if name == "gsm8k" and max_tokens is not None:
            spec["max_tokens"] = max_tokens
        specs[QUANTGATE_NAMES[name]] = spec
    family = {
        "description": "the model lm-evaluation-harness scores in the same bench run (bench/lm_eval_side_by_side.py)",
        "reference": VARIANT,
        "engine": engine_spec,
        "benchmarks": specs,
        "variants": {VARIANT: {"checkpoint": {"path": model}, "scheme": ["bf16"]}},
    }
    return {"families": {FAMILY: family}}


def quantgate_command(python: str, catalogue_path: Path, work: Path, report: Path) -> list[str]:
    return [
        python, "-m", "pytest", "tests/test_accuracy.py", "-p", "no:cacheprovider", "-q",
        "--catalogue", str(catalogue_path), "--baselines-dir", str(work / "baselines"), "--report-dir", str(report),
        "--html", str(report / "report.html"), "--junit-xml", str(report / "junit.xml"),
        "--cache-dir", str(work / "quantgate-cache"), "--no-cache", "--record-missing-baselines",
    ]  # fmt: skip


def environment(hf_home: Path, vllm_cache: Path, gpu: bool, batch_invariant: bool) -> dict[str, str]:
    """Both runs read the same offline hub cache and get a fresh vLLM compile cache of their own."""
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "VLLM_CACHE_ROOT": str(vllm_cache), "PYTHONUNBUFFERED": "1"}  # fmt: skip
    # the repository first, then what was there (the GPU machine's packages are on PYTHONPATH)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.pop("HF_HUB_CACHE", None)
    env.pop("HF_DATASETS_CACHE", None)
    if gpu:  # quantgate would turn batch invariance on by itself; both runs get the same kernels
        env["VLLM_BATCH_INVARIANT"] = "1" if batch_invariant else "0"
    elif (os.cpu_count() or 1) <= 2:  # vLLM-CPU keeps a core for its scheduler otherwise (noxfile)
        env["VLLM_CPU_NUM_OF_RESERVED_CPU"] = "0"
    return env


def write_catalogue(path: Path, content: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=1) + "\n")  # JSON is YAML
    return path


def lm_eval_tasks_dir(python: str) -> Path:
    code = "import lm_eval, os; print(os.path.dirname(lm_eval.__file__))"
    found = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return Path(found.stdout.strip()) / "tasks"


class _TaskLoader(yaml.SafeLoader):
    """lm-eval's task files tag Python hooks (``!function utils.process_docs``); their names will do."""


_TaskLoader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))


def task_file_source(path: Path) -> tuple[str | None, str | None]:
    """``dataset_path`` and ``dataset_name`` of one lm-eval task file, following ``include``."""
    config = yaml.load(path.read_text(), Loader=_TaskLoader)  # noqa: S506 (a SafeLoader subclass)
    if "include" in config:
        base_path, base_name = task_file_source(path.parent / config["include"])
        return config.get("dataset_path", base_path), config.get("dataset_name", base_name)
    return config.get("dataset_path"), config.get("dataset_name")


def lm_eval_sources(tasks_dir: Path, subjects: list[str]) -> dict[str, list[tuple[str | None, str | None]]]:
    """What lm-eval's task files read, per benchmark: (hub id, configuration) of each task."""
    return {
        "mmlu": [task_file_source(tasks_dir / "mmlu" / "default" / f"mmlu_{s}.yaml") for s in subjects],
        "gsm8k": [task_file_source(tasks_dir / "gsm8k" / "gsm8k.yaml")],
        "hellaswag": [task_file_source(tasks_dir / "hellaswag" / "hellaswag.yaml")],
        "arc_challenge": [task_file_source(tasks_dir / "arc" / "arc_challenge.yaml")],
        "wikitext": [task_file_source(tasks_dir / "wikitext" / "wikitext.yaml")],
    }

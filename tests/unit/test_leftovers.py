"""Engine processes of a run killed with SIGKILL are stopped by the next run (quantgate.engines.leftovers)."""

import json
import subprocess
import sys
import time

import psutil

from quantgate.engines import leftovers

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def test_processes_a_killed_run_left_are_stopped_and_named(tmp_path):
    # A real "run" that starts an engine-like child, records it, and is then killed with SIGKILL.
    script = (
        "import subprocess, sys, time\n"
        "from quantgate.engines import leftovers\n"
        f"child = subprocess.Popen({SLEEPER!r}, start_new_session=True)\n"
        f"leftovers.record([child.pid], __import__('pathlib').Path({str(tmp_path)!r}))\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    run = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = int(run.stdout.readline())
    run.kill()
    run.wait()
    assert psutil.pid_exists(child)  # orphaned, still running
    killed = leftovers.reap(tmp_path)
    assert len(killed) == 1 and killed[0].startswith(f"pid {child} (") and f"left by run {run.pid}" in killed[0]
    time.sleep(0.2)
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE
    assert list(tmp_path.iterdir()) == []


def test_a_live_run_and_a_reused_pid_are_left_alone(tmp_path):
    mine = subprocess.Popen(SLEEPER)
    try:
        leftovers.record([mine.pid], tmp_path)  # owner: this process, alive
        assert leftovers.reap(tmp_path) == [] and mine.poll() is None
        (path,) = tmp_path.iterdir()
        data = json.loads(path.read_text())
        data["owner"], data["processes"][0]["started"] = 2**22 + 7, 1.0  # dead owner; pid since reused
        path.write_text(json.dumps(data))
        assert leftovers.reap(tmp_path) == [] and mine.poll() is None
        assert list(tmp_path.iterdir()) == []
    finally:
        mine.kill()
        mine.wait()

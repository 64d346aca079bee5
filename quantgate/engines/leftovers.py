"""Engine processes a killed run left behind, found and stopped by the next run.

vLLM starts its EngineCore and workers as child processes. A pytest that is killed with SIGKILL
cannot stop them: they keep running under PID 1 and keep their memory. After each load the engine
writes its processes' pids and start times, with its own, to a small file; it removes the file
when it closes. The next load reads the files whose owner is gone, kills the processes that still
run with the same start time (a reused pid is left alone), and says which.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import psutil


def registry_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"quantgate-engines-{os.getuid()}"


def _started(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def child_processes() -> set[int]:
    """Descendants of this process, except multiprocessing's resource tracker (it outlives engines)."""
    pids = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(child.cmdline()):
                pids.add(child.pid)
        except psutil.Error:
            continue
    return pids


def record(pids: Iterable[int], directory: Path | None = None) -> Path:
    """Note this process's engine processes; returns the file to remove when they are stopped."""
    directory = directory or registry_dir()
    directory.mkdir(parents=True, exist_ok=True)
    owner = os.getpid()
    path = directory / f"{owner}-{time.time_ns()}.json"
    entries = [{"pid": pid, "started": _started(pid)} for pid in pids]
    path.write_text(json.dumps({"owner": owner, "owner_started": _started(owner), "processes": entries}))
    return path


def reap(directory: Path | None = None) -> list[str]:
    """Kill what engines of dead runs left running; one line per process killed."""
    directory = directory or registry_dir()
    killed: list[str] = []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            data = json.loads(path.read_text())
            owner_alive = _started(int(data["owner"])) == data["owner_started"]
            processes = [(int(p["pid"]), p["started"]) for p in data["processes"]]
        except (OSError, ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)  # unreadable: nothing can be matched safely
            continue
        if owner_alive:
            continue
        for pid, started in processes:
            if started is None or _started(pid) != started:
                continue
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                name = " ".join(proc.cmdline())[:80] or proc.name()
                proc.kill()
                proc.wait(timeout=10)
                killed.append(f"pid {pid} ({name}), left by run {data['owner']}")
        path.unlink(missing_ok=True)
    return killed

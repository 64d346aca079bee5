"""Run untrusted generated programs (HumanEval completions) in isolation.

Each program runs in its own process under:

* new PID and network namespaces (``unshare --pid --net --fork --kill-child``): no network
  (only a loopback device that is down), and when the program's first process exits or is killed,
  the kernel kills everything it started, daemons included;
* an unprivileged user: ``nobody`` via ``setpriv`` when quantgate runs as root, or the caller's own
  user mapped inside a user namespace otherwise, so it cannot touch files it does not own;
* resource limits: address space, CPU seconds, file size, process count, no core dumps;
* a fresh temporary working directory (also its HOME and TMPDIR), removed afterwards;
* a wall-clock time limit, after which the whole namespace is killed.

If the isolation cannot be set up on this machine, ``run_program`` raises instead of running
the code unprotected.
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Literal

from quantgate.errors import QuantgateError

NOBODY = 65534


class SandboxUnavailable(QuantgateError):
    """The isolation this module relies on cannot be set up here."""


@dataclass(frozen=True)
class Limits:
    """Per-program resource limits."""

    timeout_s: float = 10.0
    """Wall-clock limit."""
    memory_mb: int = 1024
    """Address-space limit."""
    max_processes: int = 16
    """Processes the program's user may have (a fork bomb stops here)."""
    max_file_mb: int = 16
    """Largest file it may write."""


@dataclass(frozen=True)
class Execution:
    """How a program ended."""

    status: Literal["passed", "failed", "timeout"]
    """``passed``: exit code 0; ``failed``: any other exit; ``timeout``: killed at the time limit."""
    detail: str
    """The end of its standard error (or the reason it was stopped)."""
    seconds: float

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def _isolation_prefix() -> list[str]:
    if os.geteuid() == 0:
        return [
            "unshare", "--pid", "--net", "--fork", "--kill-child", "--",
            "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--no-new-privs", "--",
        ]  # fmt: skip
    return ["unshare", "--user", "--map-root-user", "--pid", "--net", "--fork", "--kill-child", "--"]


def _limit(limits: Limits) -> None:
    """Runs in the child before exec: the limits are inherited by everything the program starts."""
    os.setsid()
    memory = limits.memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = int(limits.timeout_s) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    size = limits.max_file_mb * 2**20
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    # The count is per real user: nobody's own (when run as root), or the caller's plus the allowance.
    nproc = limits.max_processes if os.geteuid() == 0 else _processes_of(os.getuid()) + limits.max_processes
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _processes_of(uid: int) -> int:
    import psutil

    return sum(1 for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real == uid)


@functools.lru_cache(maxsize=1)
def _interpreter() -> str:
    """A Python the sandboxed user can execute (a virtualenv under /root is not readable by nobody)."""
    problems = []
    for candidate in (sys.executable, shutil.which("python3"), "/usr/bin/python3"):
        if not candidate:
            continue
        with tempfile.TemporaryDirectory() as work:
            os.chmod(work, 0o777)
            try:
                done = subprocess.run(
                    [*_isolation_prefix(), candidate, "-I", "-c", "import socket; print('ok')"],
                    cwd=work,
                    capture_output=True,
                    text=True,
                    timeout=30,
                    preexec_fn=functools.partial(_limit, Limits()),
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                problems.append(f"{candidate}: {exc}")
                continue
        if done.returncode == 0 and done.stdout.strip() == "ok":
            return candidate
        problems.append(f"{candidate}: exit {done.returncode}: {done.stderr.strip()[-300:]}")
    raise SandboxUnavailable("cannot run code in isolation (unshare/setpriv): " + "; ".join(problems))


def run_program(source: str, limits: Limits = Limits()) -> Execution:
    """Run ``source`` as a Python program in the sandbox and report how it ended."""
    python = _interpreter()
    work = tempfile.mkdtemp(prefix="quantgate-sandbox-")
    try:
        path = os.path.join(work, "program.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(source)
        if os.geteuid() == 0:
            os.chown(work, NOBODY, NOBODY)
            os.chown(path, NOBODY, NOBODY)
        env = {"PATH": "/usr/bin:/bin", "HOME": work, "TMPDIR": work, "LANG": "C.UTF-8"}
        start = time.perf_counter()
        proc = subprocess.Popen(
            [*_isolation_prefix(), python, "-I", path],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=functools.partial(_limit, limits),
        )
        try:
            _, stderr = proc.communicate(timeout=limits.timeout_s)
        except subprocess.TimeoutExpired:
            _kill(proc)
            return Execution("timeout", f"killed after {limits.timeout_s:g} s", time.perf_counter() - start)
        seconds = time.perf_counter() - start
        detail = stderr.decode("utf-8", "replace")[-2000:]
        return Execution("passed" if proc.returncode == 0 else "failed", detail, seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill the program's session; the PID namespace takes whatever else it started with it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, 9)
    proc.communicate()

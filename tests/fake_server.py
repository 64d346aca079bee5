"""A scripted OpenAI-compatible server for the server engine's unit tests (the real one, `vllm serve`,
runs in tests/e2e): deterministic answers, and the faults a release engineer meets.

    python tests/fake_server.py --port 8123 --name fam-served [--mode no-logprobs|flaky|slow]

Run as a program it is a managed server's stand-in; ``start(mode)`` runs one on a thread.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def logprob(token: int) -> float:
    """The fake model's log-probability of ``token`` wherever it appears."""
    return -((token % 13) + 1) / 10


class State:
    def __init__(self, name: str, mode: str, api_key: str | None):
        self.name, self.mode, self.api_key = name, mode, api_key
        self.completions = 0
        self.lock = threading.Lock()


def answer(state: State, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    with state.lock:
        state.completions += 1
        count = state.completions
    if body.get("model") != state.name:
        return 404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}}
    if state.mode == "flaky" and count % 3 != 0:
        return 503, {"error": {"message": "overloaded"}}
    prompts = body["prompt"] if body["prompt"] and isinstance(body["prompt"][0], list) else [body["prompt"]]
    if state.mode == "slow":
        time.sleep(0.05 * (sum(map(sum, prompts)) % 5))  # answers finish out of order
    choices = [dict(choice(state, body, prompt), index=i) for i, prompt in enumerate(prompts)]
    usage = {"prompt_tokens": sum(map(len, prompts)), "completion_tokens": 5 * len(prompts)}
    return 200, {"choices": choices, "usage": usage}


def choice(state: State, body: dict[str, Any], prompt: list[int]) -> dict[str, Any]:
    answer: dict[str, Any] = {"text": f"The answer is {len(prompt)}.", "finish_reason": "stop"}
    if body.get("logprobs") and body.get("return_tokens_as_token_ids") and state.mode != "no-logprobs":
        top = {f"token_id:{t}": logprob(t) for t in range(body["logprobs"])}  # the fake's top tokens: ids 0-19
        answer["logprobs"] = {"top_logprobs": [top]}
    if body.get("prompt_logprobs") is not None and state.mode != "no-logprobs":
        answer["prompt_logprobs"] = [None] + [{str(t): {"logprob": logprob(t), "rank": 1}} for t in prompt[1:]]
    return answer


def events(payload: dict[str, Any]) -> list[str]:
    """A completion as server-sent events: a chunk a word, then usage, then [DONE]."""
    words = payload["choices"][0]["text"].split(" ")
    texts = [words[0]] + [" " + w for w in words[1:]]
    chunks = [{"choices": [{"index": 0, "text": t, "finish_reason": None}]} for t in texts]
    chunks[-1]["choices"][0]["finish_reason"] = payload["choices"][0]["finish_reason"]
    chunks.append({"choices": [], "usage": payload["usage"]})
    return [f"data: {json.dumps(c)}\n\n" for c in chunks] + ["data: [DONE]\n\n"]


def handler(state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def reply(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def authorized(self) -> bool:
            if state.api_key and self.headers.get("Authorization") != f"Bearer {state.api_key}":
                self.reply(401, {"error": {"message": "invalid API key"}})
                return False
            return True

        def do_GET(self) -> None:
            if self.path == "/health":
                self.reply(200, {})
            elif self.path == "/version":
                self.reply(200, {"version": "fake-1"})
            elif self.path == "/v1/models" and self.authorized():
                self.reply(200, {"data": [{"id": state.name, "max_model_len": 2048}]})
            elif self.path != "/v1/models":
                self.reply(404, {})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if not self.authorized():
                return
            status, payload = answer(state, body)
            if status != 200 or not body.get("stream"):
                self.reply(status, payload)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for event in events(payload):
                self.wfile.write(event.encode())
                self.wfile.flush()
                time.sleep(0.002)

    return Handler


def start(name: str = "fam-served", mode: str = "ok", api_key: str | None = None) -> tuple[ThreadingHTTPServer, State]:
    state = State(name, mode, api_key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(state))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, state


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--mode", default="ok")
    args = parser.parse_args()
    print(f"fake server for {args.name} on port {args.port}", flush=True)
    ThreadingHTTPServer(("127.0.0.1", args.port), handler(State(args.name, args.mode, None))).serve_forever()

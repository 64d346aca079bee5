"""Think traces removed before answers are read: golden outputs written in each template's format.

The outputs are format examples (Qwen3 thinking mode, DeepSeek-R1 and QwQ whose templates open
"<think>\\n" in the prompt, Hunyuan-A13B's <think>/<answer> blocks), not dataset items. Each is
extracted as lm-evaluation-harness does after ``postprocess_generated_text(..., think_end_token)``
(the text after the last "</think>"), with AIME's and GSM8K's own extractors, and scored through
the runner's path for a family with a reasoning format.
"""

import pytest

from quantgate.benchmarks import get_benchmark
from quantgate.benchmarks.aime import extract_answer
from quantgate.benchmarks.reasoning import FORMATS, prompt_opens_trace, split_reasoning
from quantgate.benchmarks.scoring import GSM8K_STRICT, regex_extract
from quantgate.records import Generation, GenerationRequest, Sample
from quantgate.run.runner import PreparedBenchmark, PreparedItem, score_items

QWEN3_PROMPT = "<|im_start|>user\nWhat is 6 * 7?<|im_end|>\n<|im_start|>assistant\n"
R1_PROMPT = "<｜begin▁of▁sentence｜><｜User｜>What is 6 * 7?<｜Assistant｜><think>\n"
QWQ_PROMPT = "<|im_start|>user\nWhat is 6 * 7?<|im_end|>\n<|im_start|>assistant\n<think>\n"

# (format, prompt, output, AIME answer after stripping, trace terminated)
GOLDEN = [
    # Qwen3 thinking: the model opens the trace itself; a boxed guess inside it is not the answer.
    ("qwen3", QWEN3_PROMPT, "<think>\nMaybe \\boxed{41}? No: 6*7 = 42.\n</think>\n\nThe answer is \\boxed{42}.", "42",
     True),
    # Qwen3 thinking off: the template puts an empty trace in the prompt; the output has no tags.
    ("qwen3", QWEN3_PROMPT + "<think>\n\n</think>\n\n", "6 * 7 = \\boxed{42}", "42", True),
    # DeepSeek-R1: the prompt opened the trace, the output holds only the closing tag.
    ("deepseek-r1", R1_PROMPT, "6*7... \\boxed{36} is wrong, it is 42.\n</think>\n\n**Answer:** \\boxed{42}", "42",
     True),
    # QwQ: the same as R1.
    ("qwq", QWQ_PROMPT, "Let me compute. \\boxed{40}? Recheck: 42.\n</think>\n\n$\\boxed{42}$", "42", True),
    # Nested tags: everything up to the last closing tag is the trace (lm-eval's split(...)[-1]).
    ("qwen3", QWEN3_PROMPT, "<think>outer <think>inner \\boxed{1}</think> still \\boxed{2}</think>\n\\boxed{42}",
     "42", True),
    # A boxed answer only inside the trace: nothing is read from the thinking.
    ("qwen3", QWEN3_PROMPT, "<think>\nIt is \\boxed{42}.\n</think>\n\nI am done.", "I am done.", True),
    # No closing tag after an opened trace (cut at max_tokens): unterminated, no answer.
    ("qwen3", QWEN3_PROMPT, "<think>\nThe answer is \\boxed{42} but let me check once more", "", False),
    ("deepseek-r1", R1_PROMPT, "Working: 6*7=\\boxed{42}. Double-check", "", False),
    # A trace that closed, then a new one opened and never closed.
    ("qwen3", QWEN3_PROMPT, "<think>a</think>\\boxed{7} <think>more \\boxed{42}", "", False),
    # No trace at all from a thinking family (a plain prompt): the whole output is the answer.
    ("qwq", "Question: What is 6 * 7?\nAnswer:", " 42, so \\boxed{42}", "42", True),
    # Hunyuan-A13B: the answer is the content of the <answer> block after the trace.
    ("hunyuan", QWEN3_PROMPT, "<think>\nTry \\boxed{24}.\n</think>\n<answer>\nIt is \\boxed{42}.\n</answer>",
     "42", True),
    # Hunyuan with the <answer> block cut before its end: what follows the tag.
    ("hunyuan", QWEN3_PROMPT, "<think>\n6*7\n</think>\n<answer>\n\\boxed{42}", "42", True),
    # Hunyuan: a boxed number written inside the trace and none in the answer block.
    ("hunyuan", QWEN3_PROMPT, "<think>\n\\boxed{42}\n</think>\n<answer>\nforty-two\n</answer>", "forty-two", True),
]  # fmt: skip


@pytest.mark.parametrize(("fmt", "prompt", "output", "answer", "terminated"), GOLDEN)
def test_the_trace_is_removed_before_the_boxed_answer_is_read(fmt, prompt, output, answer, terminated):
    parsed = split_reasoning(output, FORMATS[fmt], opened_in_prompt=prompt_opens_trace(prompt, FORMATS[fmt]))
    assert parsed.terminated is terminated
    if terminated:
        assert extract_answer(parsed.answer) == answer
        assert parsed.trace_chars == (output.rfind("</think>") + len("</think>") if "</think>" in output else 0)
    else:
        assert parsed.answer == "" and parsed.trace_chars == len(output)


def test_without_stripping_the_trace_lm_eval_extraction_reads_the_thinking():
    output = "<think>\nIt is \\boxed{42}.\n</think>\n\nI am done."
    assert extract_answer(output) == "42"  # the whole output: the boxed number inside the trace wins
    assert extract_answer(split_reasoning(output, FORMATS["qwen3"]).answer) == "I am done."


def test_gsm8k_strict_match_reads_only_the_answer_after_the_trace():
    output = "<think>\nFirst try: #### 12 (no: 3*4 is 12, plus 2)\n</think>\nSo 3*4+2 = 14.\n#### 14"
    assert regex_extract(output, GSM8K_STRICT) == "12"  # unstripped: the first "#### " is in the trace
    assert regex_extract(split_reasoning(output, FORMATS["qwen3"]).answer, GSM8K_STRICT) == "14"


def test_only_a_prompt_that_ends_in_an_open_tag_opens_the_trace():
    assert prompt_opens_trace(R1_PROMPT, FORMATS["deepseek-r1"])
    assert prompt_opens_trace(QWQ_PROMPT, FORMATS["qwq"])
    assert not prompt_opens_trace(QWEN3_PROMPT, FORMATS["qwen3"])
    assert not prompt_opens_trace(QWEN3_PROMPT + "<think>\n\n</think>\n\n", FORMATS["qwen3"])


def _aime_item(context, target="42"):
    sample = Sample("p1", "Question: What is 6 * 7?\nAnswer:", target)
    return PreparedItem(sample, context, (GenerationRequest(context, 100),), "sha")


@pytest.mark.parametrize(
    ("fmt", "context", "output", "score", "invalid"),
    [
        ("deepseek-r1", R1_PROMPT, "\\boxed{41}\n</think>\n\\boxed{42}", 1.0, False),
        ("deepseek-r1", R1_PROMPT, "\\boxed{42} hmm, wait", 0.0, True),  # unterminated: invalid, not read
        ("qwen3", QWEN3_PROMPT, "<think>\\boxed{42}</think>\n\\boxed{41}", 0.0, False),  # a wrong answer
    ],
)
def test_the_runner_scores_a_reasoning_family_on_the_answer_and_keeps_the_whole_output(
    fmt, context, output, score, invalid
):
    aime = get_benchmark("aime2024")
    item = _aime_item(context)
    bench = PreparedBenchmark(aime, "aime2024", "exact_match", 0, (item,), "fp", "test", reasoning=FORMATS[fmt])
    (result,) = score_items(bench, [item], [[Generation(output, "stop", 10)]], progress=False)
    assert result.scores == {"exact_match": score}
    assert result.invalid is invalid and result.unterminated is invalid
    assert result.output == output  # the trace is kept in the per-item file
    assert result.trace_chars == (len(output) if invalid else output.rfind("</think>") + len("</think>"))

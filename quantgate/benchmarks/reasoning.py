"""Reasoning models' outputs: the think trace removed before an answer is read from them.

The rule is lm-evaluation-harness's (``lm_eval/models/utils.py``, ``postprocess_generated_text``,
applied by its vLLM and Hugging Face models when given ``think_end_token``): the answer is what
follows the **last** closing tag, leading whitespace dropped; everything before it is the trace.
So a trace the template opened in the prompt (DeepSeek-R1 and QwQ end the prompt with
``<think>\\n``, and the output holds only ``</think>``) and nested tags come out the same way, and
a number or ``\\boxed{}`` written while thinking is never read as the answer.

One deliberate difference: lm-eval keeps the whole output when no closing tag follows an opened
trace, so an answer is then read from inside the thinking. Here a trace that never closes (cut at
``max_tokens``, or a stop string inside it) is *unterminated*: the item is invalid, scored 0 and
counted apart, never a wrong answer in silence. Hunyuan-A13B then wraps its answer in
``<answer>…</answer>``: the content of the last such block is the answer (an ``<answer>`` left open
at the end of the output keeps what follows it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FormatName = Literal["qwen3", "deepseek-r1", "qwq", "hunyuan"]


@dataclass(frozen=True)
class ReasoningFormat:
    """How a family's chat template marks the trace and the answer."""

    name: str
    think_open: str = "<think>"
    think_close: str = "</think>"
    answer_open: str | None = None
    """Hunyuan's ``<answer>``; None where the answer is simply the text after the trace."""
    answer_close: str | None = None


FORMATS: dict[str, ReasoningFormat] = {
    # Qwen3 with enable_thinking: the model writes "<think>\n...\n</think>\n\n" itself; with it
    # off, the template puts an empty "<think>\n\n</think>\n\n" into the prompt.
    "qwen3": ReasoningFormat("qwen3"),
    # DeepSeek-R1(-Distill): the template ends the prompt with "<think>\n".
    "deepseek-r1": ReasoningFormat("deepseek-r1"),
    # QwQ-32B: the template ends the prompt with "<think>\n" as well.
    "qwq": ReasoningFormat("qwq"),
    # Hunyuan-A13B-Instruct: "<think>\n...\n</think>\n<answer>\n...\n</answer>".
    "hunyuan": ReasoningFormat("hunyuan", answer_open="<answer>", answer_close="</answer>"),
}


@dataclass(frozen=True)
class Parsed:
    """One output split into its trace and its answer."""

    answer: str
    """The text answers are extracted from (the whole output when it has no trace)."""
    trace_chars: int
    """Characters of the trace (tags included), 0 when there is none."""
    terminated: bool
    """False when a trace was opened (in the output or by the prompt) and never closed."""


def split_reasoning(output: str, fmt: ReasoningFormat, *, opened_in_prompt: bool = False) -> Parsed:
    """The answer part of ``output`` under ``fmt``; ``opened_in_prompt``: the prompt ends inside a
    trace (its last non-blank text is the opening tag), so the output starts in it."""
    close = output.rfind(fmt.think_close)
    if close >= 0:
        end = close + len(fmt.think_close)
        rest = output[end:]
        if fmt.think_open in rest:  # a new trace opened after the last close and never closed
            return Parsed("", len(output), False)
        return Parsed(_answer(rest.lstrip(), fmt), end, True)
    if opened_in_prompt or fmt.think_open in output:
        return Parsed("", len(output), False)
    return Parsed(_answer(output, fmt), 0, True)


def _answer(text: str, fmt: ReasoningFormat) -> str:
    if fmt.answer_open is None or fmt.answer_open not in text:
        return text
    start = text.rfind(fmt.answer_open) + len(fmt.answer_open)
    assert fmt.answer_close is not None
    stop = text.find(fmt.answer_close, start)
    return (text[start:] if stop < 0 else text[start:stop]).strip()


def prompt_opens_trace(prompt: str, fmt: ReasoningFormat) -> bool:
    """Whether the rendered prompt leaves the model inside a trace (R1 and QwQ templates)."""
    return prompt.rstrip().endswith(fmt.think_open)

"""Tokenizing context/continuation pairs the way lm-evaluation-harness does."""

from __future__ import annotations

from collections.abc import Callable

Encode = Callable[[str], list[int]]


def encode_pair(encode: Encode, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """Split ``encode(context + continuation)`` into context and continuation tokens.

    Trailing whitespace of the context moves to the continuation first, so " A" after "Answer:"
    is tokenized as it would be in running text (lm-eval ``_encode_pair``).
    """
    if not context:
        raise ValueError("context must not be empty")
    spaces = len(context) - len(context.rstrip())
    if spaces:
        continuation = context[-spaces:] + continuation
        context = context[:-spaces]
    whole = encode(context + continuation)
    context_tokens = encode(context)
    return context_tokens, whole[len(context_tokens) :]

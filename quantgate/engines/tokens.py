"""Tokenizing context/continuation pairs the way lm-evaluation-harness does."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from quantgate.errors import EngineError

Encode = Callable[[str], list[int]]


def encode_pair(encode: Encode, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """Split ``encode(context + continuation)`` into context and continuation tokens.

    Trailing whitespace of the context moves to the continuation first, so " A" after "Answer:"
    is tokenized as it would be in running text (lm-eval ``_encode_pair``).
    """
    context, whole_text = pair_texts(context, continuation)
    whole = encode(whole_text)
    context_tokens = encode(context)
    return context_tokens, whole[len(context_tokens) :]


def candidate_tokens(tokenizer: Any, requests: Sequence[Any]) -> tuple[list[list[int]], list[list[int]]]:
    """Each next-token request's context tokens and its candidates' single token ids; a candidate
    that is not one token after the context (or changes how the context is split) is refused."""
    encode = batch_encoder(tokenizer, (t for r in requests for c in r.candidates for t in pair_texts(r.context, c)))
    contexts, candidate_ids = [], []
    for r in requests:
        context: list[int] | None = None
        ids = []
        for candidate in r.candidates:
            ctx_tokens, cont_tokens = encode_pair(encode, r.context, candidate)
            if len(cont_tokens) != 1 or (context is not None and ctx_tokens != context):
                raise EngineError(
                    f"candidate {candidate!r} is {len(cont_tokens)} tokens after the context "
                    f"{r.context[-40:]!r}; next-token scoring needs single-token candidates"
                )
            context = ctx_tokens
            ids.append(cont_tokens[0])
        contexts.append(context or [])
        candidate_ids.append(ids)
    return contexts, candidate_ids


def pair_texts(context: str, continuation: str) -> tuple[str, str]:
    """The two texts ``encode_pair`` encodes: the context without trailing whitespace, and the whole."""
    if not context:
        raise ValueError("context must not be empty")
    spaces = len(context) - len(context.rstrip())
    if spaces:
        continuation = context[-spaces:] + continuation
        context = context[:-spaces]
    return context, context + continuation


def rolling_windows(tokens: list[int], prefix_token: int, max_seq_len: int) -> list[tuple[list[int], int]]:
    """Disjoint scoring windows over a whole document, as lm-eval's loglikelihood_rolling forms them.

    Each window is ``(sequence, start)``: the log-probabilities of ``sequence[start:]`` are summed.
    The first window predicts the first ``max_seq_len`` tokens after ``prefix_token``; each later
    one predicts up to ``max_seq_len`` more with one token of context, except the last, which is
    right-aligned and so gets the longest context that fits.
    """
    if max_seq_len < 1:
        raise ValueError("max_seq_len must be at least 1")
    windows: list[tuple[list[int], int]] = []
    if not tokens:
        return windows
    first = min(max_seq_len, len(tokens))
    windows.append(([prefix_token] + tokens[:first], 1))
    predicted = first
    while predicted < len(tokens):
        count = min(len(tokens) - predicted, max_seq_len)
        end = predicted + count
        context = tokens[max(end - max_seq_len - 1, 0) : end - count]
        windows.append((context + tokens[end - count : end], len(context)))
        predicted = end
    return windows


def document_windows(tokenizer: Any, tokens: list[int], max_len: int) -> list[tuple[list[int], int]]:
    """A whole document's scoring windows, formed alike by every engine: the tokenizer's BOS (else
    EOS) before the first, each window leaving room within ``max_len`` for the one generated token
    vLLM's prompt log-probabilities ask for."""
    prefix = tokenizer.bos_token_id
    prefix = tokenizer.eos_token_id if prefix is None else prefix
    return rolling_windows(tokens, prefix, max_len - 2)


def batch_encoder(tokenizer: Any, texts: Iterable[str]) -> Callable[[str], list[int]]:
    """``tokenizer.encode`` over texts tokenized beforehand in one batch call, which a fast tokenizer
    spreads over the CPU's cores (one call per text cost MMLU 5-shot 100 s of 146 on an H200)."""
    unique = list(dict.fromkeys(texts))
    try:
        ids = tokenizer(unique)["input_ids"] if unique else []
    except TypeError:  # a tokenizer without batch calls
        ids = [tokenizer.encode(t) for t in unique]
    table = dict(zip(unique, ids))
    return lambda text: list(table[text]) if text in table else list(tokenizer.encode(text))


def check_lengths(
    lengths: Sequence[int], max_len: int, what: str, limit: str = "max_model_len", hint: str = ""
) -> None:
    """Refuse requests that would not fit: lm-eval cuts such prompts silently, quantgate does not."""
    over = [(i, n) for i, n in enumerate(lengths) if n > max_len]
    if over:
        i, n = over[0]
        raise EngineError(
            f"{len(over)} of {len(lengths)} requests exceed {limit}={max_len} ({what}); "
            f"the first is request {i} with {n} tokens{hint}"
        )

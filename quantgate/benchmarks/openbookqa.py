"""OpenBookQA: elementary science questions (Mihaylov et al., 2018, arXiv:1809.02789).

The bare question stem, each answer scored by its log-likelihood, as in lm-evaluation-harness
``openbookqa`` (task version 1.0); ``acc_norm`` divides by the answer's length.
"""

from __future__ import annotations

from quantgate.benchmarks.base import ChoiceBenchmark
from quantgate.data.sources import HubSource
from quantgate.data.splits import Record
from quantgate.records import Sample


class OpenBookQA(ChoiceBenchmark):
    name = "openbookqa"
    test_items = 500
    version = "1.0"
    hub = HubSource("allenai/openbookqa", "main", test_split="test", fewshot_split="train")
    primary_metric = "acc_norm"

    def to_sample(self, record: Record, index: int) -> Sample:
        choices = tuple(record["choices"]["text"])
        gold = list(record["choices"]["label"]).index(record["answerKey"].lstrip())
        return Sample(id=str(index), text=record["question_stem"], target=choices[gold], choices=choices, gold=gold)

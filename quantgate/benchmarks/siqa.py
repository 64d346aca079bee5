"""Social IQa: reasoning about people's motivations and reactions (Sap et al., 2019, arXiv:1904.09728).

`"Q: <context> <question>\\nA:"` with three answers scored by log-likelihood, as in
lm-evaluation-harness ``social_iqa`` (task version 0.0).
"""

from __future__ import annotations

from quantgate.benchmarks.base import ChoiceBenchmark
from quantgate.data.sources import HubSource
from quantgate.data.splits import Record
from quantgate.records import Sample


class SocialIQa(ChoiceBenchmark):
    name = "siqa"
    test_items = 1954
    version = "0.0"
    hub = HubSource("lighteval/siqa", None, test_split="validation", fewshot_split="train")
    metrics = ("acc",)
    primary_metric = "acc"
    fewshot_draws_extra = True

    def to_sample(self, record: Record, index: int) -> Sample:
        choices = (record["answerA"], record["answerB"], record["answerC"])
        gold = int(record["label"]) - 1
        text = f"Q: {record['context']} {record['question']}\nA:"
        return Sample(id=str(index), text=text, target=choices[gold], choices=choices, gold=gold)

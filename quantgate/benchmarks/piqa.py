"""PIQA: physical commonsense, two solutions per goal (Bisk et al., 2020, arXiv:1911.11641).

Zero-shot; each solution scored by its log-likelihood after "Question: <goal>\\nAnswer:", as in
lm-evaluation-harness ``piqa`` (task version 1.0); ``acc_norm`` divides by the solution's length.
"""

from __future__ import annotations

from quantgate.benchmarks.base import ChoiceBenchmark
from quantgate.data.sources import HubSource
from quantgate.data.splits import Record
from quantgate.records import Sample


class PIQA(ChoiceBenchmark):
    name = "piqa"
    test_items = 1838
    version = "1.0"
    hub = HubSource("baber/piqa", None, test_split="validation")
    primary_metric = "acc_norm"

    def to_sample(self, record: Record, index: int) -> Sample:
        choices = (record["sol1"], record["sol2"])
        label = int(record["label"])
        return Sample(
            id=str(index),
            text=f"Question: {record['goal']}\nAnswer:",
            target=choices[label],
            choices=choices,
            gold=label,
        )

"""BoolQ: yes/no questions about a Wikipedia passage (Clark et al., 2019, arXiv:1905.10044).

`"<passage>\\nQuestion: <question>?\\nAnswer:"` scored on " no" / " yes", as in lm-evaluation-harness
``boolq`` (SuperGLUE, task version 2.0).
"""

from __future__ import annotations

from quantgate.benchmarks.base import ChoiceBenchmark
from quantgate.data.sources import HubSource
from quantgate.data.splits import Record
from quantgate.records import Sample

CHOICES = ("no", "yes")


class BoolQ(ChoiceBenchmark):
    name = "boolq"
    test_items = 3270
    version = "2.0"
    hub = HubSource("aps/super_glue", "boolq", test_split="validation", fewshot_split="train")
    metrics = ("acc",)
    primary_metric = "acc"
    scoring = "next_token"  # " no" and " yes" are single tokens: one next-token distribution per item
    fewshot_draws_extra = True

    def to_sample(self, record: Record, index: int) -> Sample:
        label = int(record["label"])
        text = f"{record['passage']}\nQuestion: {record['question']}?\nAnswer:"
        return Sample(id=str(index), text=text, target=CHOICES[label], choices=CHOICES, gold=label)

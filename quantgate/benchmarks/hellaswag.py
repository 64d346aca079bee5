"""HellaSwag: choosing the plausible continuation of an event (Zellers et al., 2019, arXiv:1905.07830).

The activity label and context, each ending scored by log-likelihood, with lm-evaluation-harness's
clean-up of WikiHow artefacts (``hellaswag``, task version 1.0); gated on ``acc_norm``.
"""

from __future__ import annotations

import re

from quantgate.benchmarks.base import ChoiceBenchmark
from quantgate.data.sources import HubSource
from quantgate.data.splits import Record
from quantgate.records import Sample


def clean(text: str) -> str:
    """lm-eval's preprocess: " [title]" becomes ". ", other bracketed tags go, one pass of double spaces."""
    text = text.strip().replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    return text.replace("  ", " ")


class HellaSwag(ChoiceBenchmark):
    name = "hellaswag"
    test_items = 10_042
    version = "1.0"
    hub = HubSource(
        "Rowan/hellaswag", None, test_split="validation", fewshot_split="train",
        revision="218ec52e09a7e7462a5400043bb9a69a41d06b76", split_files="data/{split}-*.parquet",  # not test
    )  # fmt: skip
    primary_metric = "acc_norm"
    fewshot_draws_extra = True

    def to_sample(self, record: Record, index: int) -> Sample:
        # str.capitalize also lower-cases the rest of ctx_b, as lm-eval's does.
        context = record["ctx_a"] + " " + record["ctx_b"].capitalize()
        choices = tuple(clean(ending) for ending in record["endings"])
        gold = int(record["label"])
        text = clean(record["activity_label"] + ": " + context)
        return Sample(id=str(index), text=text, target=choices[gold], choices=choices, gold=gold)

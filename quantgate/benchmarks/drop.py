"""DROP: discrete reasoning over paragraphs (Dua et al., 2019, arXiv:1903.00161).

`"<passage> <question>"`, generation until ".", scored by exact match and F1 against every gold
answer with DROP's normalization and span alignment, as in lm-evaluation-harness ``drop`` (task
version 3.0). Two differences, both deliberate: generation is greedy (lm-eval passes no
temperature, so vLLM samples at 1.0, which cannot gate a release), and few-shot targets are the
gold answers (lm-eval renders every few-shot target as "number,date,spans,worker_id,hit_id",
its issue #2137); the default is zero-shot, where both agree.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from quantgate.benchmarks.base import GenerativeBenchmark, Response, Scored
from quantgate.data.sources import HubSource
from quantgate.data.splits import Record
from quantgate.records import Generation, Sample


def parse_answer(answer: Record) -> tuple[str, ...]:
    """A DROP answer as its spans: the number, else the spans, else the date."""
    if answer["number"] != "":
        return (str(answer["number"]),)
    if answer["spans"]:
        return tuple(answer["spans"])
    date = answer["date"]
    return (" ".join([date["day"], date["month"], date["year"]]).strip(),)


def gold_answers(record: Record) -> list[tuple[str, ...]]:
    """The answer and the validated answers, de-duplicated in order."""
    answers = [record["answer"]]
    validated = record.get("validated_answers") or {}
    if isinstance(validated, dict):  # the hub stores a dict of lists
        keys = list(validated)
        answers += [dict(zip(keys, values)) for values in zip(*(validated[k] for k in keys))]
    else:
        answers += list(validated)
    return list(dict.fromkeys(parse_answer(a) for a in answers))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _normalize_token(token: str) -> str:
    token = token.lower()
    if not _is_number(token):
        token = "".join(ch for ch in token if ch not in string.punctuation)
    if _is_number(token):
        token = str(float(token))
    token = re.sub(r"\b(a|an|the)\b", " ", token)
    return " ".join(token.split())


def normalize(answer: str) -> str:
    tokens = [_normalize_token(t) for t in re.split(" |-", answer)]
    return " ".join(t for t in tokens if t).strip()


def _bags(spans: Sequence[str]) -> tuple[list[str], list[set[str]]]:
    normalized = [normalize(span) for span in spans]
    return normalized, [set(span.split()) for span in normalized]


def _f1(predicted: set[str], gold: set[str]) -> float:
    common = len(gold & predicted)
    precision = 1.0 if not predicted else common / len(predicted)
    recall = 1.0 if not gold else common / len(gold)
    return 0.0 if precision == recall == 0 else 2 * precision * recall / (precision + recall)


def _numbers_agree(gold: set[str], predicted: set[str]) -> bool:
    gold_numbers = {t for t in gold if _is_number(t)}
    return not gold_numbers or bool(gold_numbers & {t for t in predicted if _is_number(t)})


def em_f1(predicted: Sequence[str], gold: Sequence[str]) -> tuple[float, float]:
    """Exact match of the span sets, and F1 of the best one-to-one alignment of spans (Hungarian)."""
    pred_spans, pred_bags = _bags(predicted)
    gold_spans, gold_bags = _bags(gold)
    exact = float(set(pred_spans) == set(gold_spans) and len(pred_spans) == len(gold_spans))
    scores = np.zeros((len(gold_bags), len(pred_bags)))
    for g, gold_bag in enumerate(gold_bags):
        for p, pred_bag in enumerate(pred_bags):
            if _numbers_agree(gold_bag, pred_bag):
                scores[g, p] = _f1(pred_bag, gold_bag)
    rows, cols = linear_sum_assignment(-scores)
    best = np.zeros(max(len(gold_bags), len(pred_bags)))
    for row, col in zip(rows, cols):
        best[row] = max(best[row], scores[row, col])
    return exact, round(float(np.mean(best)), 2)


class DROP(GenerativeBenchmark):
    name = "drop"
    test_items = 9536
    cost_per_item = 5.0
    version = "3.0"
    hub = HubSource("EleutherAI/drop", None, test_split="validation", fewshot_split="train")
    metrics = ("f1", "em")
    primary_metric = "f1"
    target_delimiter = ""
    fewshot_draws_extra = True
    until = (".",)

    def to_sample(self, record: Record, index: int) -> Sample:
        golds = gold_answers(record)
        return Sample(
            id=str(record.get("query_id") or index),
            text=f"{record['passage']} {record['question']}",
            target=",".join(golds[0]),
            extra={"answers": golds},
        )

    def score(self, sample: Sample, responses: Sequence[Response]) -> Scored:
        (generation,) = responses
        assert isinstance(generation, Generation)
        best_em = best_f1 = 0.0
        for gold in sample.extra["answers"]:
            if gold[0].strip():
                exact, f1 = em_f1([generation.text], gold)  # the generation is one span
                best_em, best_f1 = max(best_em, exact), max(best_f1, f1)
        return Scored({"f1": best_f1, "em": best_em}, generation.text, generation.text.strip())

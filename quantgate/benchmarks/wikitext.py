"""WikiText-2 word perplexity (Merity et al., 2016, arXiv:1609.07843).

Each page is detokenized and scored whole in disjoint windows (lm-evaluation-harness ``wikitext``,
task version 2.0, loglikelihood_rolling); words and bytes are counted on the original page.
Lower is better: the gate bounds the relative increase of word perplexity.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from quantgate.benchmarks.base import Benchmark, Response, Scored
from quantgate.data.sources import HubSource
from quantgate.data.splits import Record
from quantgate.records import Metric, Request, RollingLoglikelihoodRequest, Sample

REPLACEMENTS = (
    ("s '", "s'"),
    (" @-@ ", "-"),
    (" @,@ ", ","),
    (" @.@ ", "."),
    (" : ", ": "),
    (" ; ", "; "),
    (" . ", ". "),
    (" ! ", "! "),
    (" ? ", "? "),
    (" , ", ", "),
)
BRACKETS = (
    (r"\(\s*([^\)]*?)\s*\)", r"(\1)"),
    (r"\[\s*([^\]]*?)\s*\]", r"[\1]"),
    (r"{\s*([^}]*?)\s*}", r"{\1}"),
    (r"\"\s*([^\"]*?)\s*\"", r'"\1"'),
    (r"'\s*([^']*?)\s*'", r"'\1'"),
)
AFTER = (
    ("= = = =", "===="),
    ("= = =", "==="),
    ("= =", "=="),
    (" " + chr(176) + " ", chr(176)),
    (" \n", "\n"),
    ("\n ", "\n"),
    (" N ", " 1 "),
    (" 's", "'s"),
)


def detokenize(page: str) -> str:
    """Undo WikiText's tokenization as lm-eval's wikitext_detokenizer does, step for step."""
    for old, new in REPLACEMENTS:
        page = page.replace(old, new)
    for pattern, replacement in BRACKETS:
        page = re.sub(pattern, replacement, page)
    for old, new in AFTER:
        page = page.replace(old, new)
    return page


def _perplexity(unit: str) -> Metric:
    def combine(items: Sequence[Mapping[str, float]]) -> float:
        return math.exp(-math.fsum(i["loglikelihood"] for i in items) / math.fsum(i[unit] for i in items))

    return Metric(f"{unit[:-1]}_perplexity", higher_is_better=False, combine=combine)


def _bits_per_byte(items: Sequence[Mapping[str, float]]) -> float:
    return -math.fsum(i["loglikelihood"] for i in items) / math.fsum(i["bytes"] for i in items) / math.log(2)


class WikiText(Benchmark):
    name = "wikitext"
    test_items = 62
    cost_per_item = 50.0
    version = "2.0"
    hub = HubSource("EleutherAI/wikitext_document_level", "wikitext-2-raw-v1", test_split="test")
    metrics = ("word_perplexity", "byte_perplexity", "bits_per_byte")
    primary_metric = "word_perplexity"
    higher_is_better = False

    def to_sample(self, record: Record, index: int) -> Sample:
        page = record["page"]
        return Sample(id=str(index), text=detokenize(page), target=page)

    def requests(self, sample: Sample, context: str, *, chat: bool = False) -> tuple[Request, ...]:
        return (RollingLoglikelihoodRequest(sample.text),)

    def score(self, sample: Sample, responses: Sequence[Response]) -> Scored:
        (loglikelihood,) = responses
        assert isinstance(loglikelihood, float)
        scores = {
            "loglikelihood": loglikelihood,
            "words": float(len(re.split(r"\s+", sample.target))),  # empty ends count, as lm-eval counts them
            "bytes": float(len(sample.target.encode("utf-8"))),
        }
        return Scored(scores, f"loglikelihood {loglikelihood:.3f}", f"{loglikelihood:.3f}")

    def metric(self, name: str) -> Metric:
        if name == "word_perplexity":
            return _perplexity("words")
        if name == "byte_perplexity":
            return _perplexity("bytes")
        if name == "bits_per_byte":
            return Metric(name, higher_is_better=False, combine=_bits_per_byte)
        return super().metric(name)

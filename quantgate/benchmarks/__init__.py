"""The benchmark registry: task name -> benchmark class."""

from __future__ import annotations

from quantgate.benchmarks.aime import AIME2024
from quantgate.benchmarks.arc import ARCChallenge, ARCEasy
from quantgate.benchmarks.base import Benchmark
from quantgate.benchmarks.bbh import BBH
from quantgate.benchmarks.boolq import BoolQ
from quantgate.benchmarks.ceval import CEval
from quantgate.benchmarks.commonsense_qa import CommonsenseQA
from quantgate.benchmarks.drop import DROP
from quantgate.benchmarks.gsm8k import GSM8K
from quantgate.benchmarks.hellaswag import HellaSwag
from quantgate.benchmarks.humaneval import HumanEval
from quantgate.benchmarks.ifeval import IFEval
from quantgate.benchmarks.mmlu import MMLU
from quantgate.benchmarks.openbookqa import OpenBookQA
from quantgate.benchmarks.piqa import PIQA
from quantgate.benchmarks.siqa import SocialIQa
from quantgate.benchmarks.wikitext import WikiText
from quantgate.benchmarks.winogrande import WinoGrande

REGISTRY: dict[str, type[Benchmark]] = {
    cls.name: cls
    for cls in (
        GSM8K, MMLU, CEval, HumanEval, HellaSwag, ARCEasy, ARCChallenge, PIQA, WinoGrande, WikiText, BBH, DROP,
        AIME2024, IFEval, BoolQ, OpenBookQA, CommonsenseQA, SocialIQa,
    )
}  # fmt: skip


def get_benchmark(task: str) -> Benchmark:
    """A fresh instance of the named task; KeyError for an unknown name."""
    return REGISTRY[task]()

"""The benchmark registry: task name -> benchmark class."""

from __future__ import annotations

from quantgate.benchmarks.base import Benchmark
from quantgate.benchmarks.gsm8k import GSM8K
from quantgate.benchmarks.mmlu import MMLU
from quantgate.benchmarks.piqa import PIQA

REGISTRY: dict[str, type[Benchmark]] = {cls.name: cls for cls in (GSM8K, MMLU, PIQA)}


def get_benchmark(task: str) -> Benchmark:
    """A fresh instance of the named task; KeyError for an unknown name."""
    return REGISTRY[task]()

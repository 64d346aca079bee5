"""HumanEval: writing Python functions from docstrings (Chen et al., 2021, arXiv:2107.03374).

The function's signature and docstring are the prompt; greedy completion until a new top-level
statement; pass@1 by running prompt + completion + tests in the sandbox (quantgate.benchmarks.sandbox), as
lm-evaluation-harness ``humaneval`` (task version 1.0) does with a 3-second limit.
"""

from __future__ import annotations

from collections.abc import Sequence

from quantgate.benchmarks.base import GenerativeBenchmark, Response, Scored
from quantgate.benchmarks.sandbox import Limits, run_program
from quantgate.data.sources import HubSource
from quantgate.data.splits import Record
from quantgate.records import Generation, Sample

LIMITS = Limits(timeout_s=3.0)


def program(sample: Sample, completion: str) -> str:
    """What runs: prompt + completion, then the tests and ``check(<entry point>)``."""
    return sample.text + completion + "\n" + sample.target


class HumanEval(GenerativeBenchmark):
    name = "humaneval"
    test_items = 164
    cost_per_item = 40.0
    version = "1.0"
    hub = HubSource(
        "openai/openai_humaneval", None, test_split="test", revision="7dce6050a7d6d172f3cc5c32aa97f52fa1a2e544"
    )
    metrics = ("pass@1",)
    primary_metric = "pass@1"
    until = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")
    max_tokens = 1024

    def to_sample(self, record: Record, index: int) -> Sample:
        tests = f"{record['test']}\ncheck({record['entry_point']})"
        return Sample(id=record["task_id"], text=record["prompt"], target=tests)

    def score(self, sample: Sample, responses: Sequence[Response]) -> Scored:
        (generation,) = responses
        assert isinstance(generation, Generation)
        execution = run_program(program(sample, generation.text), LIMITS)
        output = generation.text + (
            f"\n# {execution.status}: {execution.detail[-500:]}" if not execution.passed else ""
        )
        return Scored({"pass@1": float(execution.passed)}, output, execution.status)

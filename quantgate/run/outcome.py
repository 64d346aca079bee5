"""What one accuracy test decided, before it becomes a results entry (quantgate.report.collector)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from quantgate.baselines.reference import Source
from quantgate.engines.usage import Usage
from quantgate.gate.decision import GateResult
from quantgate.records import TaskResult

Status = Literal["passed", "failed", "warned", "recorded", "no-baseline", "refused"]


@dataclass(frozen=True)
class Outcome:
    """What a case's test reports."""

    status: Status
    message: str
    gate: GateResult | None = None
    result: TaskResult | None = None
    baseline_file: Path | None = None
    items_file: Path | None = None
    load_s: float | None = None
    notes: tuple[str, ...] = ()
    """Warnings for the release engineer: a replaced baseline's diff, a different machine."""
    flips: dict[str, Any] | None = None
    """Items lost and gained against the baseline, with both outputs (quantgate.gate.flips)."""
    usage: Usage | None = None
    comparison: Source | None = None
    """Which reference results the gate compared with (quantgate.baselines.reference.SOURCE_TEXT)."""
    absorbed: int = 0
    """Flips the reference's own recorded noise absorbed (quantgate.baselines.reference.band)."""
    unstable: int = 0
    """Compared items the reference has scored differently by itself."""
    environment: dict[str, Any] | None = None
    """This run's environment key (quantgate.baselines.reference.environment_key)."""
    format: dict[str, Any] | None = None
    """The checkpoint's format facts and the kernel the engine chose (quantgate.checkpoints.formats)."""
    single_sample_mdd: float | None = None
    """With repeats: the minimum detectable drop of the same gate on each item's first sample alone."""
    reasoning: str | None = None
    """The think-trace format the outputs were parsed with, where the family has one."""

    @property
    def passed(self) -> bool:
        return self.status in ("passed", "recorded", "warned")

"""Release policy applied to a decided test: benchmarks whose failures only warn (``--warn-only``),
and the warnings a release engineer sees for a decided test."""

from __future__ import annotations

import dataclasses
import fnmatch

from quantgate.catalogue.model import Case
from quantgate.run.outcome import Outcome


def warns_only(case: Case, patterns: tuple[str, ...]) -> bool:
    """Whether ``--warn-only`` / ``quantgate_warn_only`` name this case's benchmark or id. A waived
    case stays an expected failure: turning it into a pass would break its strict xfail."""
    if case.waiver:
        return False
    return any(fnmatch.fnmatchcase(case.benchmark, p) or fnmatch.fnmatchcase(case.id, p) for p in patterns)


def with_policy(case: Case, outcome: Outcome, warn_only: bool, decided: bool = True) -> tuple[Outcome, list[str]]:
    """The outcome under the warn-only policy, and the warnings to raise for it: flags of a broken
    evaluation, the outcome's notes, an underpowered gate, a failure that only warns."""
    notes: list[str] = []
    if decided:
        notes += list(outcome.result.flags) if outcome.result else []
        notes += list(outcome.notes)
        gate = outcome.gate
        if gate is not None and gate.underpowered:
            notes.append(
                f"{case.id} is underpowered: it resolves drops of {gate.minimum_detectable_drop:.4f} "
                f"at n={gate.n}, its rule allows {gate.allowed_drop:.4f}"
            )
    if warn_only and outcome.status == "failed":
        notes.append(f"warn-only by policy, not blocking: {outcome.message}")
        outcome = dataclasses.replace(outcome, status="warned")
    return outcome, notes

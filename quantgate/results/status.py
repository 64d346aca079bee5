"""The one rule for what a test's entry means: its status, its colour and whether it blocks a release.

The report's matrix and plots, the trend page, the terminal and summary.md all ask here, so a
waived or a warned test looks the same everywhere.
"""

from __future__ import annotations

from typing import NamedTuple

from quantgate.results.model import Entry, ErrorEntry, Status

BLOCKING = frozenset({Status.FAILED, Status.NO_BASELINE, Status.REFUSED, Status.ERROR})
COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "underpowered": "#b35c00", "waived": "#6e7781", "other": "#6e7781"}


class Judgement(NamedTuple):
    status: Status
    colour: str
    blocks: bool


def status_of(entry: Entry) -> Status:
    if isinstance(entry, ErrorEntry) or entry.outcome == "error":
        return Status.ERROR
    if entry.waiver and entry.outcome == "skipped":  # pytest reports an xfail as skipped
        return Status.WAIVED
    if entry.status is not None:
        return entry.status
    return Status(entry.outcome) if entry.outcome else Status.ERROR


def colour_of_status(status: Status | str, underpowered: bool = False) -> str:
    """For entries and for a history's points, which keep the status alone."""
    status = Status(status) if status in Status._value2member_map_ else Status.SKIPPED
    if status in BLOCKING:
        return COLOURS["fail"]
    if status is Status.WARNED:
        return COLOURS["underpowered"]
    if status is Status.WAIVED:
        return COLOURS["waived"]
    if underpowered:
        return COLOURS["underpowered"]
    return COLOURS["pass"] if status in (Status.PASSED, Status.RECORDED) else COLOURS["other"]


def judge(entry: Entry) -> Judgement:
    status = status_of(entry)
    underpowered = not isinstance(entry, ErrorEntry) and bool(entry.underpowered)
    return Judgement(status, colour_of_status(status, underpowered), status in BLOCKING)

"""Merge the reports of CI shards (or of families run as separate jobs) into one report and one gate
(the ``quantgate merge`` command).

Each file is read through the results model (quantgate.results.model), so a file that does not
follow it is refused with its name and the offending key; a test that appears in two files is
refused, since one of them would silently win.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from quantgate.files import utc_now
from quantgate.results.model import Entry, ResultsFile, ResultsFileError, RunState, read_results

__all__ = ["ResultsFileError", "merge", "merged_run", "read_results"]


def merge(runs: Sequence[tuple[Path, ResultsFile]]) -> ResultsFile:
    seen: dict[str, Path] = {}
    results: list[Entry] = []
    loads: dict[str, int] = {}
    for path, data in runs:
        for entry in data.results:
            if entry.name in seen:
                raise ResultsFileError(
                    f"{path}: test {entry.name} is also in {seen[entry.name]}; merge each shard once"
                )
            seen[entry.name] = path
            results.append(entry.model_copy(update={"shard": str(path)}))
        for variant, count in data.engine_loads.items():
            loads[variant] = loads.get(variant, 0) + count
    return ResultsFile(
        created=utc_now(),
        command=["quantgate merge", *(str(path) for path, _ in runs)],
        environment={str(path): data.environment for path, data in runs},
        engine_loads=loads,
        run=merged_run(runs),
        merged_from=[str(path) for path, _ in runs],
        results=results,
    )


def merged_run(runs: Sequence[tuple[Path, ResultsFile]]) -> RunState:
    """Complete only if every shard finished (a results.json written before runs were recorded counts
    as finished)."""
    states = [(path, data.run or RunState(complete=True, reason=None)) for path, data in runs]
    reasons = [f"{path}: {run.reason}" for path, run in states if not run.complete]
    return RunState(
        complete=not reasons,
        state="finished",
        reason="; ".join(reasons) or None,
        not_run=[case for _, run in states for case in run.not_run],
    )

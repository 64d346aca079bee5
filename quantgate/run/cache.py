"""Per-item results cached on disk, so a rerun after a crash or Ctrl-C resumes where it stopped.

One JSON-lines file per (variant fingerprint, benchmark fingerprint), appended a chunk of items at
a time under an exclusive lock (pytest-xdist workers may share the cache directory). Each row
carries the SHA-256 of its content: a torn line (a process killed mid-write), a row that is not
UTF-8, not an object, misses a field or was edited is named in a warning and its item is scored
again; an item whose prompt hash differs is rerun.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from quantgate.errors import QuantgateWarning
from quantgate.files import write_text_atomic
from quantgate.records import ItemResult


def fingerprint(payload: Any) -> str:
    """SHA-256 of a JSON value, keys sorted."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class ResultCache:
    """The cached item results of one variant on one benchmark."""

    def __init__(self, path: Path, key: Mapping[str, Any]):
        self.path = path
        self.key = dict(key)

    def load(self, prompt_shas: Mapping[str, str]) -> dict[str, ItemResult]:
        """Cached results of the items asked for whose prompt hash still matches."""
        if not self.path.exists():
            return {}
        found: dict[str, ItemResult] = {}
        damaged: list[int] = []
        with self.path.open("rb") as f:
            for number, line in enumerate(f, 1):
                result = _verified(line)
                if result is None:
                    damaged.append(number)
                elif prompt_shas.get(result.id) == result.prompt_sha:
                    found[result.id] = result
        if damaged:
            shown = ", ".join(map(str, damaged[:10])) + (f" and {len(damaged) - 10} more" if len(damaged) > 10 else "")
            warnings.warn(
                QuantgateWarning(f"{self.path}: {len(damaged)} damaged or unverifiable row(s) (line {shown}); "
                                 "their items are scored again"),
                stacklevel=2,
            )  # fmt: skip
        return found

    def append(self, results: Iterable[ItemResult]) -> None:
        lines = "".join(json.dumps(_signed(r), ensure_ascii=False) + "\n" for r in results)
        if not lines:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        key_file = self.path.with_suffix(".key.json")
        if not key_file.exists():
            write_text_atomic(key_file, json.dumps(self.key, indent=1, sort_keys=True, default=str) + "\n")
        with self.path.open("a+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                if f.seek(0, os.SEEK_END) > 0:
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":  # a torn line: end it so it stays one bad line
                        f.write(b"\n")
                f.write(lines.encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)


def _row_sha(row: Mapping[str, Any]) -> str:
    return fingerprint({k: v for k, v in row.items() if k != "sha"})[:16]


def _signed(result: ItemResult) -> dict[str, Any]:
    # A row is one scored unit (with repeats, one sample): items folded from samples are not cached.
    if result.samples:
        raise ValueError(f"item {result.id!r}: cache its samples, not the item folded from them")
    row = {k: v for k, v in dataclasses.asdict(result).items() if k != "samples"}
    return {**row, "sha": _row_sha(row)}


def _verified(line: bytes) -> ItemResult | None:
    """The row's result, or None when the line is torn, damaged, edited or from before rows were signed."""
    try:
        row = json.loads(line.decode("utf-8"))
        if not isinstance(row, dict) or row.get("sha") != _row_sha(row):
            return None
        return ItemResult(**{k: v for k, v in row.items() if k != "sha"})
    except (UnicodeDecodeError, json.JSONDecodeError, TypeError, ValueError):
        return None

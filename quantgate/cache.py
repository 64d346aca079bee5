"""Per-item results cached on disk, so a rerun after a crash or Ctrl-C resumes where it stopped.

One JSON-lines file per (variant fingerprint, benchmark fingerprint), appended a chunk of items at
a time under an exclusive lock (pytest-xdist workers may share the cache directory). A torn last
line, from a process killed mid-write, is ignored; an item whose prompt hash differs is rerun.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from quantgate.baselines import write_text_atomic
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
        with self.path.open(encoding="utf-8") as f:
            for line in f:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # torn write of an interrupted run: that item runs again
                if prompt_shas.get(row.get("id")) == row.get("prompt_sha"):
                    found[row["id"]] = ItemResult(**row)
        return found

    def append(self, results: Iterable[ItemResult]) -> None:
        lines = "".join(json.dumps(dataclasses.asdict(r), ensure_ascii=False) + "\n" for r in results)
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

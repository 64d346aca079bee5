"""A benchmark's records as loaded: the scored split and the few-shot pool, in the hub's schema."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quantgate.errors import DatasetError

Record = dict[str, Any]


@dataclass(frozen=True)
class Splits:
    """A benchmark's records in the hub schema."""

    test: list[Record]
    """Records to score, in dataset order."""
    fewshot: list[Record]
    """Few-shot pool, in dataset order (empty when the task needs none)."""
    origin: str
    """Where the records came from, for provenance and error messages."""
    hub: str | None = None
    """The hub dataset they were read from; None for local files and packaged data."""
    revision: str | None = None
    """The hub commit they were read at; None where there is none (local files, packages) or it
    could not be known."""

    @property
    def fingerprint(self) -> str:
        """Hash of every record, independent of any item limit."""
        blob = json.dumps([self.test, self.fewshot], sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()


_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


def load_file(path: str | Path) -> list[Record]:
    """Read one local data file through ``datasets``."""
    import datasets

    path = Path(path)
    suffix = path.suffixes[-2] if path.suffix == ".gz" and len(path.suffixes) > 1 else path.suffix
    builder = _BUILDERS.get(suffix)
    if builder is None:
        raise DatasetError(f"{path}: unsupported data file type {suffix!r}; use one of {sorted(_BUILDERS)} (or .gz)")
    if not path.is_file():
        raise DatasetError(f"{path}: data file not found")
    try:
        return datasets.load_dataset(builder, data_files=str(path), split="train").to_list()
    except Exception as exc:  # datasets raises several types for malformed files; keep the cause
        raise DatasetError(f"{path}: could not read as {builder}: {exc}") from exc

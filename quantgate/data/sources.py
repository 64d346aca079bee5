"""Where a benchmark's records come from: the Hugging Face hub, local files, or data a package ships.

Every source loads through ``datasets`` and yields records in the hub dataset's own schema, so a
benchmark converts records the same way whatever their origin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

from quantgate.data.hub import HubSource, load_hub
from quantgate.data.packaged import PACKAGED
from quantgate.data.splits import Splits, load_file
from quantgate.errors import DatasetError


@dataclass(frozen=True)
class FilesSource:
    """Local files (JSON lines, JSON, Parquet or CSV) already in the hub dataset's schema."""

    test: str
    """Path of the records to score."""
    fewshot: str | None = None
    """Path of the few-shot pool, if the task uses one."""


@dataclass(frozen=True)
class PackagedSource:
    """A dataset shipped inside an installed Python package, converted by a named adapter."""

    name: str
    """Adapter name, a key of ``quantgate.data.packaged.PACKAGED``."""


Source = Union[HubSource, FilesSource, PackagedSource]
__all__ = ["FilesSource", "HubSource", "PackagedSource", "Source", "load_splits"]


def load_splits(source: Source) -> Splits:
    """Load a source's records; raise DatasetError naming the source on failure."""
    if isinstance(source, HubSource):
        return load_hub(source)
    if isinstance(source, FilesSource):
        fewshot = load_file(source.fewshot) if source.fewshot else []
        return Splits(load_file(source.test), fewshot, f"files {source.test}")
    try:
        loader: Callable[[], Splits] = PACKAGED[source.name]
    except KeyError:
        raise DatasetError(f"unknown packaged dataset {source.name!r}; known: {', '.join(sorted(PACKAGED))}") from None
    return loader()

"""Where a benchmark's records come from: the Hugging Face hub, local files, or data a package ships.

Every source loads through ``datasets`` and yields records in the hub dataset's own schema, so a
benchmark converts records the same way whatever their origin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

from quantgate.data.packaged import PACKAGED
from quantgate.data.splits import Record, Splits, load_file
from quantgate.errors import DatasetError


@dataclass(frozen=True)
class HubSource:
    """A dataset on the Hugging Face hub."""

    path: str
    """Hub id, e.g. ``"openai/gsm8k"``."""
    name: str | None = None
    """Dataset configuration, e.g. ``"main"``."""
    test_split: str = "test"
    """Split whose items are scored."""
    fewshot_split: str | None = None
    """Split few-shot examples are drawn from, if the task uses any."""
    revision: str | None = None
    """Hub revision (commit, tag or branch); None for the default branch."""
    configs: tuple[str, ...] = ()
    """For datasets split into one configuration per subject (C-Eval, BBH): load each, in order."""
    config_field: str = "subject"
    """With ``configs``: the record field that receives the configuration's name."""


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


def load_splits(source: Source) -> Splits:
    """Load a source's records; raise DatasetError naming the source on failure."""
    if isinstance(source, HubSource):
        return _load_hub(source)
    if isinstance(source, FilesSource):
        fewshot = load_file(source.fewshot) if source.fewshot else []
        return Splits(load_file(source.test), fewshot, f"files {source.test}")
    try:
        loader: Callable[[], Splits] = PACKAGED[source.name]
    except KeyError:
        raise DatasetError(f"unknown packaged dataset {source.name!r}; known: {', '.join(sorted(PACKAGED))}") from None
    return loader()


def _load_hub(source: HubSource) -> Splits:
    import datasets

    where = f"hub dataset {source.path}" + (f" ({source.name})" if source.name else "")

    def load(config: str | None, name: str) -> list[Record]:
        try:
            ds = datasets.load_dataset(source.path, config, split=name, revision=source.revision)
        except Exception as exc:  # the hub's errors vary by cause; name the dataset and keep the cause
            raise DatasetError(f"could not load split {name!r} of {where} {config or ''}: {exc}") from exc
        return ds.to_list()

    def split(name: str) -> list[Record]:
        if not source.configs:
            return load(source.name, name)
        return [{**r, source.config_field: c} for c in source.configs for r in load(c, name)]

    fewshot = split(source.fewshot_split) if source.fewshot_split else []
    return Splits(split(source.test_split), fewshot, where)

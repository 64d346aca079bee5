"""A benchmark's records read from the Hugging Face hub, the way a GPU runner reads them, and offline.

Online, ``datasets`` resolves the revision (a commit, tag or branch; None for the default branch)
and reads each configuration and split asked for. Offline (``HF_HUB_OFFLINE=1``), a repository
downloaded into the hub cache (``hf download --repo-type dataset <id> --revision <rev>``) is read
from its snapshot at the revision asked for; without one, ``datasets`` falls back to what it
prepared on an earlier online run. The loading is ``datasets.load_dataset``'s own three steps
(builder, prepare, split), so the commit the records were read at is known and recorded with them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from quantgate.data.splits import Record, Splits
from quantgate.errors import DatasetError

COMMIT = re.compile(r"^[0-9a-f]{40}$")
DATA_SUFFIXES = (".parquet", ".arrow", ".jsonl", ".json", ".csv", ".tsv", ".txt")
"""Files ``datasets`` reads without a script (also gzipped)."""
CARD_FILES = ("README.md", ".gitattributes")
SCRIPTS_GONE = "Dataset scripts are no longer supported"


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
    """Hub revision (commit, tag or branch); None for the default branch. Baselines record the
    commit actually read either way."""
    configs: tuple[str, ...] = ()
    """For datasets split into one configuration per subject (C-Eval, BBH): load each, in order."""
    config_field: str = "subject"
    """With ``configs``: the record field that receives the configuration's name."""
    split_files: str | None = None
    """Where one split's files lie in the repository, a pattern with ``{config}`` and ``{split}``
    (``"{config}/{split}-*.parquet"``): each split is then read from its own files alone, so a split
    the benchmark never reads (MMLU's 99,842-row ``auxiliary_train``) is never downloaded."""

    @property
    def where(self) -> str:
        return f"hub dataset {self.path}" + (f" ({self.name})" if self.name else "")

    def reads(self) -> list[tuple[str | None, str]]:
        """Every (configuration, split) the benchmark reads, in order."""
        splits = [self.test_split] + ([self.fewshot_split] if self.fewshot_split else [])
        return [(config, split) for config in (self.configs or (self.name,)) for split in splits]

    def data_files(self, config: str | None, split: str) -> dict[str, str] | None:
        if self.split_files is None:
            return None
        return {split: self.split_files.format(config=config or "default", split=split)}


def offline() -> bool:
    import datasets.config
    from huggingface_hub import constants

    return bool(constants.is_offline_mode() or datasets.config.HF_HUB_OFFLINE)


def is_data_file(name: str) -> bool:
    return name.removesuffix(".gz").endswith(DATA_SUFFIXES)


def script_only(files: list[str]) -> str | None:
    """The loading script a repository holds instead of data files, if that is what it holds."""
    if any(is_data_file(f) for f in files):
        return None
    return next((f for f in files if f.endswith(".py")), None)


def script_advice(source: HubSource, script: str) -> str:
    return (
        f"{source.where}: the repository at {source.revision or 'its default branch'} holds a loading script "
        f"({script}) and no data files, and datasets 4 and later no longer run scripts. Pin a revision that "
        f"holds data files, e.g. the hub's parquet conversion where it made one: `source: {{hub: {source.path}, "
        "revision: refs/convert/parquet}` in the catalogue's benchmark (its configurations may be named "
        "differently, `quantgate catalogue check` lists them), or read a local copy in the hub schema with "
        "`source: {files: {test: ..., fewshot: ...}}`"
    )


def snapshot(source: HubSource) -> Path | None:
    """Offline: the hub cache's snapshot of the repository at the revision asked for, when it holds
    more than its card (an online ``datasets`` run leaves only README.md there)."""
    if not offline():
        return None
    from huggingface_hub import snapshot_download

    try:
        folder = Path(
            str(snapshot_download(source.path, repo_type="dataset", revision=source.revision, local_files_only=True))
        )
    except Exception:  # not in the hub cache at that revision: datasets' own cache may still hold it
        return None
    files = [p for p in folder.rglob("*") if p.is_file() and p.name not in CARD_FILES]
    return folder if files else None


def load_hub(source: HubSource) -> Splits:
    """Read the scored and few-shot splits of every configuration; DatasetError names the dataset,
    configuration, split and revision on failure."""
    folder = snapshot(source)
    if folder is not None:
        script = script_only([str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()])
        if script is not None:  # what datasets refuses for a hub id, refused here for its snapshot
            raise DatasetError(script_advice(source, script))
    commits: set[str] = set()

    def read(config: str | None, split: str) -> list[Record]:
        records, commit = _read(source, folder, config, split)
        if commit:
            commits.add(commit)
        return records

    def split(name: str) -> list[Record]:
        if not source.configs:
            return read(source.name, name)
        return [{**r, source.config_field: c} for c in source.configs for r in read(c, name)]

    test = split(source.test_split)
    fewshot = split(source.fewshot_split) if source.fewshot_split else []
    commit = folder.name if folder is not None else (commits.pop() if len(commits) == 1 else None)
    if commit and source.revision and COMMIT.match(source.revision) and commit != source.revision:
        raise DatasetError(
            f"{source.where}: pinned to revision {source.revision} but the only copy available offline is "
            f"revision {commit} (datasets' cache keeps no other): download the pinned revision into the hub "
            f"cache (`hf download --repo-type dataset {source.path} --revision {source.revision}`)"
        )
    return Splits(test, fewshot, source.where, hub=source.path, revision=commit)


def _read(source: HubSource, folder: Path | None, config: str | None, split: str) -> tuple[list[Record], str | None]:
    import datasets

    location = str(folder) if folder is not None else source.path
    revision = None if folder is not None else source.revision
    what = f"split {split!r}" + (f" of configuration {config!r}" if config else "")
    try:
        builder = datasets.load_dataset_builder(
            location, config, revision=revision, data_files=source.data_files(config, split)
        )
        builder.download_and_prepare()
        records = builder.as_dataset(split=split).to_list()
    except RuntimeError as exc:
        if SCRIPTS_GONE not in str(exc):
            raise DatasetError(f"{source.where}: could not load {what}: {exc}") from exc
        raise DatasetError(script_advice(source, str(exc).rsplit(" ", 1)[-1])) from exc
    except ConnectionError as exc:
        raise DatasetError(
            f"{source.where}: not available offline: the hub cache holds no snapshot of it at "
            f"{source.revision or 'its default branch'} with data files, and datasets has not prepared it "
            f"before. Where the hub can be reached: `hf download --repo-type dataset {source.path}"
            + (f" --revision {source.revision}" if source.revision else "")
            + "` (then copy the hub cache here), or run once online"
        ) from exc
    except Exception as exc:  # the hub's and datasets' errors vary by cause; name the dataset and keep it
        raise DatasetError(f"{source.where}: could not load {what}: {exc}") from exc
    commit = builder.hash if isinstance(builder.hash, str) and COMMIT.match(builder.hash) else None
    return records, commit

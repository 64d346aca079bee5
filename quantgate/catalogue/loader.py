"""The model catalogue: YAML files of model families, validated into typed objects at collection time.

A family has a BF16 reference variant and quantized variants; each variant names a checkpoint (or an
engine-side quantization of another variant's checkpoint), its engine arguments, and the benchmarks
it runs with their gate rules. Every error names the file, the line, the key and the reason, and
is raised before any model loads.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from quantgate.benchmarks import REGISTRY
from quantgate.catalogue.yamlfile import KeyPath, dotted, line_of, load_yaml
from quantgate.data.packaged import PACKAGED
from quantgate.data.sources import FilesSource, HubSource, PackagedSource, Source
from quantgate.errors import CatalogueError
from quantgate.gate.decision import GateRule

NAME = re.compile(r"^[a-z0-9][a-z0-9._]*(-[a-z0-9._]+)*$")
TAG = re.compile(r"^[a-z][a-z0-9_]*$")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _exactly_one(model: BaseModel, names: Iterable[str]) -> None:
    given = [n for n in names if getattr(model, n) is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of {', '.join(names)} (got {', '.join(given) or 'none'})")


class GateSpec(_Spec):
    """How a benchmark decides pass or fail (see quantgate.gate.decision). ``mode`` defaults to
    non-inferiority, which needs ``margin``; ``absolute`` needs ``tolerance``, ``relative`` needs
    ``recovery``. Margin and tolerance are in score units (0.02 = two points)."""

    mode: Literal["non-inferiority", "absolute", "relative"] = "non-inferiority"
    margin: float | None = Field(None, gt=0, allow_inf_nan=False)
    tolerance: float | None = Field(None, ge=0, allow_inf_nan=False)
    recovery: float | None = Field(None, gt=0, le=1)
    alpha: float = Field(0.05, gt=0, lt=0.5)

    @model_validator(mode="after")
    def _matches_mode(self) -> GateSpec:
        needed = {"non-inferiority": "margin", "absolute": "tolerance", "relative": "recovery"}[self.mode]
        given = [n for n in ("margin", "tolerance", "recovery") if getattr(self, n) is not None]
        if given != [needed]:
            raise ValueError(f"mode {self.mode} takes {needed} and nothing else (got {', '.join(given) or 'none'})")
        return self

    def rule(self) -> GateRule:
        value = {"non-inferiority": self.margin, "absolute": self.tolerance, "relative": self.recovery}[self.mode]
        assert value is not None
        return GateRule(self.mode, value, self.alpha)


class FilesSpec(_Spec):
    test: str
    fewshot: str | None = None


class SourceSpec(_Spec):
    """Where a benchmark's data comes from; absent means the benchmark's hub dataset."""

    hub: str | None = None
    config: str | None = None
    revision: str | None = None
    split: str | None = None
    fewshot_split: str | None = None
    files: FilesSpec | None = None
    packaged: str | None = None

    @model_validator(mode="after")
    def _one(self) -> SourceSpec:
        _exactly_one(self, ("hub", "files", "packaged"))
        if self.hub is None and (self.config or self.revision or self.split or self.fewshot_split):
            raise ValueError("config, revision, split and fewshot_split apply to a hub source only")
        return self


class BenchmarkSpec(_Spec):
    task: str | None = None
    num_fewshot: int | None = Field(None, ge=0)
    limit: int | None = Field(None, ge=1)
    max_tokens: int | None = Field(None, ge=1)
    """Caps generated tokens (e.g. AIME's 32,768 in a 32k context); part of the prompt hash."""
    metric: str | None = None
    gate: GateSpec
    source: SourceSpec | None = None


class Checkpoint(_Spec):
    """A hub id (with revision), a local path, an embedded build, or another variant's checkpoint."""

    hub: str | None = None
    revision: str | None = None
    file: str | None = None
    """A GGUF file in the hub repository: it is dequantized to a Hugging Face directory for vLLM."""
    path: str | None = None
    embedded: str | None = None
    same_as: str | None = None
    verified: bool = True

    @model_validator(mode="after")
    def _one(self) -> Checkpoint:
        _exactly_one(self, ("hub", "path", "embedded", "same_as"))
        if (self.revision or self.file) and not self.hub:
            raise ValueError("revision and file apply to a hub checkpoint only")
        if self.file and not self.file.endswith(".gguf"):
            raise ValueError("file names a .gguf file")
        return self


class EngineArgs(_Spec):
    """vLLM engine arguments quantgate knows; anything else goes under ``extra`` and reaches vLLM as is."""

    dtype: str | None = None
    quantization: str | None = None
    max_model_len: int | None = Field(None, ge=1)
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1)
    tensor_parallel_size: int | None = Field(None, ge=1)
    pipeline_parallel_size: int | None = Field(None, ge=1)
    enforce_eager: bool | None = None
    enable_prefix_caching: bool | None = None
    max_num_batched_tokens: int | None = Field(None, ge=1)
    max_num_seqs: int | None = Field(None, ge=1)
    kv_cache_dtype: str | None = None
    trust_remote_code: bool | None = None
    seed: int | None = None
    tokenizer: str | None = None
    tokenizer_revision: str | None = None
    distributed_executor_backend: str | None = None
    enable_expert_parallel: bool | None = None
    max_logprobs: int | None = None
    cpu_offload_gb: float | None = Field(None, ge=0)
    hf_overrides: dict[str, Any] | None = None
    extra: dict[str, Any] | None = None

    def as_kwargs(self) -> dict[str, Any]:
        known = self.model_dump(exclude_none=True, exclude={"extra"})
        return {**known, **(self.extra or {})}


class ChatSpec(_Spec):
    """Prompts go through the tokenizer's chat template (as lm-eval's ``--apply_chat_template``)."""

    enable_thinking: bool | None = None
    """Qwen3's thinking switch, passed to the template."""
    options: dict[str, Any] | None = None
    """Other template variables."""

    def template_options(self) -> dict[str, Any]:
        thinking = {} if self.enable_thinking is None else {"enable_thinking": self.enable_thinking}
        return {**(self.options or {}), **thinking}


class WaiverSpec(_Spec):
    """A regression accepted only on some devices (a kernel that rounds worse on one CPU kind)."""

    reason: str
    devices: list[str] = Field(min_length=1)
    """Shell patterns of the device name (``quantgate.engines.vllm_engine.device_name``), e.g.
    ``"* (avx2)"`` for CPUs whose only vector extension vLLM-CPU uses is AVX2."""


class VariantSpec(_Spec):
    checkpoint: Checkpoint
    requires: Literal["any", "cuda", "cpu"] | None = None
    scheme: list[str] = []
    engine: EngineArgs = EngineArgs()
    benchmarks: list[str] | None = None
    published: dict[str, float] | None = None
    """The publisher's numbers (benchmark -> score), shown beside the measured ones, never gated on."""
    waivers: dict[str, str | WaiverSpec] | None = None
    """Known regressions accepted with a reason (benchmark -> reason, or reason and the devices it
    applies to): the test is expected to fail, and fails the run if it passes, so a waiver is
    removed once the regression is gone."""
    description: str | None = None


class FamilySpec(_Spec):
    reference: str
    requires: Literal["any", "cuda", "cpu"] = "any"
    description: str | None = None
    published_source: str | None = None
    """Where the variants' published numbers come from."""
    chat: ChatSpec | None = None
    engine: EngineArgs = EngineArgs()
    benchmarks: dict[str, BenchmarkSpec]
    variants: dict[str, VariantSpec]


class CatalogueFile(_Spec):
    families: dict[str, FamilySpec]
    templates: dict[str, Any] | None = None
    """YAML anchors the families reuse; not read otherwise."""


@dataclass(frozen=True)
class Variant:
    """A model variant, resolved: its checkpoint and the merged engine arguments."""

    family: str
    name: str
    checkpoint: Checkpoint
    engine_args: dict[str, Any]
    scheme: tuple[str, ...]
    is_reference: bool
    requires: str
    file: Path
    reference: str
    """The family's reference variant's name (BF16)."""
    reference_checkpoint: Checkpoint
    """The reference variant's checkpoint: its tokenizer renders chat prompts for the whole family."""
    chat: ChatSpec | None = None
    published: dict[str, float] = field(default_factory=dict)
    """The publisher's numbers for this variant, by benchmark."""
    waivers: dict[str, str] = field(default_factory=dict)
    """Accepted regressions, by benchmark, with their reasons."""

    @property
    def key(self) -> str:
        return f"{self.family}-{self.name}"


@dataclass(frozen=True)
class Case:
    """One accuracy test: a variant on a benchmark."""

    variant: Variant
    benchmark: str
    spec: BenchmarkSpec
    source: Source | None
    """The configured data source, or None for the benchmark's hub dataset."""

    @property
    def task(self) -> str:
        return self.spec.task or self.benchmark

    @property
    def id(self) -> str:
        return f"{self.variant.key}-{self.benchmark}"

    @property
    def reference_id(self) -> str:
        """The id of the reference's test on this benchmark."""
        return f"{self.variant.family}-{self.variant.reference}-{self.benchmark}"

    @property
    def published(self) -> float | None:
        return self.variant.published.get(self.benchmark)

    @property
    def waiver(self) -> str | None:
        return self.variant.waivers.get(self.benchmark)

    @property
    def markers(self) -> tuple[str, ...]:
        marks = [self.task, *self.variant.scheme]
        if self.variant.is_reference:
            marks.append("reference")
        if self.variant.requires == "cuda":
            marks.append("cuda")
        return tuple(dict.fromkeys(marks))


@dataclass(frozen=True)
class Catalogue:
    cases: tuple[Case, ...]
    files: tuple[Path, ...]

    @property
    def markers(self) -> set[str]:
        return {m for case in self.cases for m in case.markers}

    def reference_of(self, case: Case) -> Case:
        """The case of the family's reference variant on the same benchmark (it records the baseline)."""
        return next(
            c
            for c in self.cases
            if c.variant.family == case.variant.family and c.variant.is_reference and c.benchmark == case.benchmark
        )


def catalogue_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")))
        elif path.exists():
            files.append(path)
        else:
            raise CatalogueError(f"{path}: catalogue file or directory not found")
    return files


def load_catalogue(paths: Iterable[Path], device: str | None = None) -> Catalogue:
    """Parse and validate every catalogue file; all problems of a file are reported together.
    ``device`` (the engine's device name) selects the waivers limited to some devices."""
    files = catalogue_files(paths)
    cases: list[Case] = []
    family_file: dict[str, Path] = {}
    for file in files:
        spec, lines = _parse(file)
        for name in spec.families:
            if name in family_file:
                raise CatalogueError(
                    f"{file}:{lines.get(('families', name))}: families.{name}: duplicate family name "
                    f"(already defined in {family_file[name]})"
                )
            family_file[name] = file
        cases.extend(_cases(spec, file, lines, device))
    return Catalogue(tuple(cases), tuple(files))


def _parse(file: Path) -> tuple[CatalogueFile, dict[KeyPath, int]]:
    data, lines = load_yaml(file)
    try:
        spec = CatalogueFile.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise CatalogueError("\n".join(_describe(e, file, lines) for e in exc.errors())) from None
    problems = _semantic_problems(spec) + _missing_files(spec, file)
    if problems:
        raise CatalogueError(
            "\n".join(f"{file}:{line_of(lines, path)}: {dotted(path)}: {why}" for path, why in problems)
        )
    return spec, lines


def _missing_files(spec: CatalogueFile, file: Path) -> list[tuple[KeyPath, str]]:
    """Local data files a benchmark names that are not there (found at start-up, not hours later)."""
    problems: list[tuple[KeyPath, str]] = []
    for family_name, family in spec.families.items():
        for bench_name, bench in family.benchmarks.items():
            files = bench.source.files if bench.source else None
            for role in ("test", "fewshot"):
                name = getattr(files, role, None) if files else None
                if name is not None and not (file.parent / name).exists():
                    where = ("families", family_name, "benchmarks", bench_name, "source", "files", role)
                    problems.append((where, f"{file.parent / name} does not exist"))
    return problems


def _describe(error: Any, file: Path, lines: dict[KeyPath, int]) -> str:
    path = tuple(p for p in error["loc"] if p != "__root__")
    if error["type"] == "extra_forbidden":
        parent_model = _model_at(path[:-1])
        known = list(parent_model.model_fields) if parent_model else []
        close = difflib.get_close_matches(str(path[-1]), known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else (f"; known keys: {', '.join(known)}" if known else "")
        reason = f"unknown key{hint}"
    elif error["type"] == "missing":
        reason = "required key is missing"
    else:
        reason = error["msg"].removeprefix("Value error, ")
    return f"{file}:{line_of(lines, path)}: {dotted(path)}: {reason}"


def _model_at(path: KeyPath) -> type[BaseModel] | None:
    """The spec model that a key path inside a catalogue file points to (for 'did you mean' hints)."""
    model: type[BaseModel] = CatalogueFile
    steps = list(path)
    while steps:
        field = model.model_fields.get(str(steps.pop(0)))
        if field is None:
            return None
        annotation: Any = field.annotation
        if get_origin(annotation) in (Union, UnionType):  # Optional[X]
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        if get_origin(annotation) is dict:  # dict[str, X]: the next step is a name
            annotation = get_args(annotation)[1]
            if steps:
                steps.pop(0)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def _semantic_problems(spec: CatalogueFile) -> list[tuple[KeyPath, str]]:
    problems: list[tuple[KeyPath, str]] = []
    for fam_name, fam in spec.families.items():
        here: KeyPath = ("families", fam_name)
        if not NAME.match(fam_name):
            problems.append((here, "family names are lower-case letters, digits, '.', '_' and '-'"))
        if fam.reference not in fam.variants:
            problems.append(
                (
                    here + ("reference",),
                    f"names no variant of this family (variants: {', '.join(fam.variants)})",
                )
            )
        for bench_name, bench in fam.benchmarks.items():
            where = here + ("benchmarks", bench_name)
            task = bench.task or bench_name
            if not NAME.match(bench_name):
                problems.append((where, "benchmark names are lower-case letters, digits, '.', '_' and '-'"))
            packaged = bench.source.packaged if bench.source else None
            if packaged is not None and packaged not in PACKAGED:
                close = difflib.get_close_matches(packaged, PACKAGED, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                problems.append(
                    (where + ("source", "packaged"), f"unknown packaged dataset {packaged!r}{hint}; "
                     f"known: {', '.join(sorted(PACKAGED))}")
                )  # fmt: skip
            if task not in REGISTRY:
                close = difflib.get_close_matches(task, REGISTRY, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                problems.append(
                    (
                        where + (("task",) if bench.task else ()),
                        f"unknown benchmark {task!r}{hint}; known: {', '.join(sorted(REGISTRY))}",
                    )
                )
            elif (
                (allowed := bench.gate.margin or bench.gate.tolerance) is not None
                and allowed >= 1
                and (REGISTRY[task].higher_is_better)
            ):
                field = "margin" if bench.gate.margin is not None else "tolerance"
                problems.append(
                    (
                        where + ("gate", field),
                        f"{allowed:g} is a drop of {allowed:.0%}: {task}'s scores lie between 0 and 1, so a "
                        f"{field} of 1 or more passes a variant that gets every item wrong (0.02 = two points)",
                    )
                )
            elif bench.metric and bench.metric not in REGISTRY[task].metrics:
                problems.append(
                    (
                        where + ("metric",),
                        f"{task} has no metric {bench.metric!r}; it has {', '.join(REGISTRY[task].metrics)}",
                    )
                )
        reference = fam.variants.get(fam.reference)
        if reference is not None and reference.benchmarks is not None:
            problems.append(
                (
                    here + ("variants", fam.reference, "benchmarks"),
                    "the reference variant runs every benchmark of the family",
                )
            )
        for var_name, var in fam.variants.items():
            where = here + ("variants", var_name)
            if not NAME.match(var_name):
                problems.append((where, "variant names are lower-case letters, digits, '.', '_' and '-'"))
            same_as = var.checkpoint.same_as
            if same_as is not None and (
                same_as not in fam.variants or same_as == var_name or fam.variants[same_as].checkpoint.same_as
            ):
                problems.append(
                    (
                        where + ("checkpoint", "same_as"),
                        f"must name another variant with its own checkpoint, not {same_as!r}",
                    )
                )
            for i, tag in enumerate(var.scheme):
                if not TAG.match(tag):
                    problems.append(
                        (
                            where + ("scheme", i),
                            f"scheme tag {tag!r}: use lower-case letters, digits and '_' (it becomes a pytest marker)",
                        )
                    )
            for key in ("published", "waivers"):
                for bench_name in getattr(var, key) or {}:
                    if bench_name not in fam.benchmarks:
                        why = f"{bench_name!r} is not a benchmark of this family"
                        problems.append((where + (key, bench_name), why))
            for i, bench_name in enumerate(var.benchmarks or []):
                if bench_name not in fam.benchmarks:
                    problems.append(
                        (
                            where + ("benchmarks", i),
                            f"{bench_name!r} is not a benchmark of this family ({', '.join(fam.benchmarks)})",
                        )
                    )
    return problems


def _cases(spec: CatalogueFile, file: Path, lines: dict[KeyPath, int], device: str | None) -> list[Case]:
    cases = []
    for fam_name, fam in spec.families.items():
        # The reference runs first so its baselines exist before the quantized variants compare.
        order = [fam.reference] + [v for v in fam.variants if v != fam.reference]
        for var_name in order:
            var = fam.variants[var_name]
            checkpoint = var.checkpoint
            if checkpoint.same_as:
                checkpoint = fam.variants[checkpoint.same_as].checkpoint
            variant = Variant(
                family=fam_name,
                name=var_name,
                checkpoint=_resolve_paths(checkpoint, file),
                engine_args={**fam.engine.as_kwargs(), **var.engine.as_kwargs()},
                scheme=tuple(var.scheme),
                is_reference=var_name == fam.reference,
                requires=var.requires or fam.requires,
                file=file,
                reference=fam.reference,
                reference_checkpoint=_resolve_paths(fam.variants[fam.reference].checkpoint, file),
                chat=fam.chat,
                published=dict(var.published or {}),
                waivers=_waivers(var.waivers or {}, device),
            )
            for bench_name, bench in fam.benchmarks.items():
                if var.benchmarks is None or bench_name in var.benchmarks:
                    cases.append(Case(variant, bench_name, bench, _source(bench, bench_name, file)))
    return cases


def _waivers(waivers: dict[str, str | WaiverSpec], device: str | None) -> dict[str, str]:
    """The waivers that apply on ``device``; one limited to devices applies only where it matches."""
    applies = {}
    for benchmark, waiver in waivers.items():
        if isinstance(waiver, str):
            applies[benchmark] = waiver
        elif device is not None and any(fnmatch.fnmatchcase(device, p) for p in waiver.devices):
            applies[benchmark] = f"{waiver.reason} (on {device})"
    return applies


def _resolve_paths(checkpoint: Checkpoint, file: Path) -> Checkpoint:
    if checkpoint.path is None:
        return checkpoint
    return checkpoint.model_copy(update={"path": str((file.parent / checkpoint.path).resolve())})


def _source(bench: BenchmarkSpec, name: str, file: Path) -> Source | None:
    spec = bench.source
    if spec is None:
        return None
    if spec.packaged:
        return PackagedSource(spec.packaged)
    if spec.files:
        fewshot = str(file.parent / spec.files.fewshot) if spec.files.fewshot else None
        return FilesSource(str(file.parent / spec.files.test), fewshot)
    assert spec.hub is not None
    return hub_override(REGISTRY[bench.task or name].hub, spec)


def hub_override(default: HubSource, spec: SourceSpec) -> HubSource:
    """The benchmark's hub source with the catalogue's fields replacing its own, field by field:
    an override that pins only a revision keeps the configurations, config field and splits; a
    ``config`` names the one configuration to load instead of the benchmark's list."""
    updates: dict[str, Any] = {"path": spec.hub}
    if spec.config is not None:
        updates.update(name=spec.config, configs=())
    if spec.split is not None:
        updates["test_split"] = spec.split
    if spec.fewshot_split is not None:
        updates["fewshot_split"] = spec.fewshot_split
    if spec.revision is not None:
        updates["revision"] = spec.revision
    return dataclasses.replace(default, **updates)

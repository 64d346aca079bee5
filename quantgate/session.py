"""One pytest session's work, independent of pytest: prepare data, hold one engine at a time,
check and record baselines, run a case and decide it."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from quantgate.baselines import (
    Baseline,
    BaselineFile,
    baseline_from_result,
    baseline_path,
    check_compatible,
    read_baseline,
    write_baseline,
    write_text_atomic,
)
from quantgate.benchmarks import get_benchmark
from quantgate.cache import ResultCache, fingerprint
from quantgate.catalogue import Case, Checkpoint, Variant
from quantgate.chat import ChatFormat, load_chat_format
from quantgate.embedded import dequantize_gguf, embedded_path, is_built
from quantgate.engines import Engine, EngineInfo, Release, load_vllm
from quantgate.engines.vllm_engine import cuda_device_count, device_name, installed_version
from quantgate.environment import environment, utc_now
from quantgate.errors import EngineLoadError
from quantgate.flips import flipped_items, reference_rows
from quantgate.gate import GateResult, Metric, compare
from quantgate.gpus import check_fits
from quantgate.records import TaskResult
from quantgate.runner import PreparedBenchmark, prepare, run
from quantgate.sources import load_splits
from quantgate.usage import PeakGpuMemory, Usage, tokens_so_far, usage

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
    """Items lost and gained against the baseline, with both outputs (quantgate.flips)."""
    usage: Usage | None = None

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


def vllm_loader(settings: Settings) -> Callable[[Variant], Engine]:
    def load(variant: Variant) -> Engine:
        check_fits(variant.key, variant.engine_args, cuda_device_count())
        model, revision = resolve_checkpoint(variant.checkpoint, settings.cache_dir)
        return load_vllm(model, revision=revision, engine_args=variant.engine_args, progress=settings.progress)

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
            result = run(prepared, engine, cache, progress=self.settings.progress)
        cost = usage(engine, tokens_before, result.wall_s, memory)
        items_file = self.write_items(case, result)
        label = f"{case.variant.key} on {case.benchmark}"
        rule = case.spec.gate.rule()
        metric = prepared.benchmark.metric(result.metric)
        scores = {item.id: item.scores for item in result.items}
        clusters = {item.id: item.group for item in result.items} if prepared.benchmark.clustered else None
        info = engine.info if engine is not None else expected_engine_info(case.variant)
        provenance = self.provenance(case, prepared, info)
        if baseline is None:
            path = self.baseline_file(case)
            data = baseline_from_result(case.variant.family, result, prepared.origin, provenance)
            old = read_baseline(path) if path.exists() else None
            write_baseline(path, data, overwrite=self.settings.update_baselines)
            gate = compare(scores, read_baseline(path).item_scores(), metric, rule, label=label, clusters=clusters)
            change = describe_update(old, data, metric) if old else "new baseline"
            message = f"recorded baseline {path} ({result.metric} {result.score:.4f}, n={result.n}; {change})"
            return Outcome(
                "recorded", message, gate, result, path, items_file, notes=(f"{path}: {change}",), usage=cost
            )
        gate = compare(scores, baseline.item_scores(), metric, rule, label=label, clusters=clusters)
        status: Status = "passed" if gate.passed else "failed"
        notes = tuple(f"{baseline.path}: {note}" for note in machine_differences(baseline.data.provenance, provenance))
        reference = reference_rows(baseline.data.items, self.items_path(case.reference_id))
        flips = flipped_items(result.items, baseline.item_scores(), metric, reference)
        return Outcome(
            status, gate.message, gate, result, baseline.path, items_file, notes=notes, flips=flips, usage=cost
        )

    def provenance(self, case: Case, prepared: PreparedBenchmark, info: EngineInfo) -> dict:
        checkpoint = case.variant.checkpoint.model_dump(exclude_none=True)
        return {
            "variant": case.variant.name,
            "checkpoint": checkpoint,
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
                "vllm_batch_invariant": os.environ.get("VLLM_BATCH_INVARIANT", "0") not in ("", "0"),
            },
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
        "engine_args": variant.engine_args,
        "engine": ["vllm", installed_version()],
        "device": device_name(),
    }


def expected_engine_info(variant: Variant) -> EngineInfo:
    """The engine facts a cached run records when no engine was loaded for it."""
    device = "cuda" if cuda_device_count() else "cpu"
    return EngineInfo("vllm", installed_version(), device, device_name(), dict(variant.engine_args))


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
    return notes


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

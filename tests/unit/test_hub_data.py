"""The hub path, for real and offline: each benchmark's source read by quantgate's loader through
``datasets`` from a repository laid out in the hub cache (tests/hub_repos.py), configurations and
splits as on the hub; a script-only repository, a split never read, a pin and a moved revision."""

import dataclasses

import pytest

from quantgate.baselines.store import baseline_from_result, check_compatible, read_baseline, write_baseline
from quantgate.benchmarks import REGISTRY
from quantgate.benchmarks.ceval import CEval
from quantgate.catalogue.loader import hub_override
from quantgate.catalogue.spec import SourceSpec
from quantgate.data.sources import load_splits
from quantgate.errors import BaselineError, DatasetError
from quantgate.records import ItemResult, Metric, TaskResult
from tests.hub_repos import RECORDS, fake_commit, hub_cache, write_benchmark_repo, write_repo

# Few configurations of the per-subject datasets: each is read the same way, by its own name.
FEWER_CONFIGS = {"ceval": ("accountant", "law"), "bbh": ("boolean_expressions", "navigate")}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    return hub_cache(tmp_path, monkeypatch)


def source_of(name):
    source = REGISTRY[name].hub
    if name in FEWER_CONFIGS:
        source = dataclasses.replace(source, configs=FEWER_CONFIGS[name])
    return source


def expected(source, rows):
    if not source.configs:
        return rows
    return [{**r, source.config_field: c} for c in source.configs for r in rows]


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_each_benchmark_reads_its_hub_repository_offline_with_its_configs_and_splits(cache, name):
    source, records = source_of(name), RECORDS[name]
    commit = write_benchmark_repo(cache, source, records)
    splits = load_splits(source)
    benchmark = REGISTRY[name]()
    want_test = expected(source, records["test"])
    want_fewshot = expected(source, records["fewshot"]) if source.fewshot_split else []
    assert (splits.hub, splits.revision) == (source.path, commit)
    assert (len(splits.test), len(splits.fewshot)) == (len(want_test), len(want_fewshot))
    # The records arrive in the hub schema: the benchmark renders them as it renders the originals.
    assert [benchmark.to_sample(r, i).text for i, r in enumerate(splits.test)] == [
        benchmark.to_sample(r, i).text for i, r in enumerate(want_test)
    ]
    assert [benchmark.to_sample(r, i).target for i, r in enumerate(splits.fewshot)] == [
        benchmark.to_sample(r, i).target for i, r in enumerate(want_fewshot)
    ]


def test_mmlu_never_reads_auxiliary_train_or_validation(cache):
    """The two unread splits are files that are not parquet at all: reading either would fail."""
    source = REGISTRY["mmlu"].hub
    broken = {("all", "auxiliary_train"): b"not a parquet file", ("all", "validation"): b"not parquet either"}
    write_benchmark_repo(cache, source, RECORDS["mmlu"], broken)
    splits = load_splits(source)
    assert (len(splits.test), len(splits.fewshot)) == (2, 10)
    # What quantgate read without split_files: the whole configuration, the broken splits included.
    with pytest.raises(DatasetError, match="could not load split 'test' of configuration 'all'"):
        load_splits(dataclasses.replace(source, split_files=None))


def test_hellaswag_never_reads_its_unlabelled_test_split(cache):
    source = REGISTRY["hellaswag"].hub
    write_benchmark_repo(cache, source, RECORDS["hellaswag"], {("default", "test"): b"not parquet"})
    assert len(load_splits(source).test) == len(RECORDS["hellaswag"]["test"])


def test_a_script_only_repository_is_refused_with_what_to_do(cache):
    source = REGISTRY["hellaswag"].hub
    write_repo(cache, source.path, {"hellaswag.py": b"import datasets\n"}, None, commit=source.revision, branch=None)
    with pytest.raises(DatasetError) as error:
        load_splits(source)
    message = str(error.value)
    assert "hub dataset Rowan/hellaswag" in message and "hellaswag.py" in message
    assert "revision: refs/convert/parquet" in message and "source: {files:" in message


def test_offline_without_a_copy_says_where_to_get_one(cache):
    with pytest.raises(DatasetError) as error:
        load_splits(REGISTRY["gsm8k"].hub)
    message = str(error.value)
    assert "hub dataset openai/gsm8k (main): not available offline" in message
    assert "hf download --repo-type dataset openai/gsm8k --revision 740312add88f781978c0658806c59bc2815b9866" in message


def test_an_online_run_leaves_only_the_card_in_the_hub_cache_and_that_is_not_mistaken_for_data(cache):
    source = REGISTRY["gsm8k"].hub
    write_repo(cache, source.path, {}, {"main": {"test": "main/test-*"}}, commit=source.revision, branch=None)
    with pytest.raises(DatasetError, match="not available offline"):
        load_splits(source)


def _result(splits):
    items = tuple(ItemResult(str(i), {"acc": 1.0}, "p", f"sha{i}", "o", "1", "1") for i in range(len(splits.test)))
    return TaskResult("aime2024", "aime2024", "0.0", "acc", items, splits.fingerprint, 0.0, {"acc": 1.0})


def test_a_moved_revision_is_refused_with_the_pin_that_restores_the_old_data(cache, tmp_path):
    """AIME_2024's PR #4 fixed three problems in place: a baseline recorded before it refuses the new
    data, names both commits, and the pin it prints reads the old data again."""
    default = REGISTRY["aime2024"].hub
    old_rows = RECORDS["aime2024"]["test"]
    fixed_rows = [{**old_rows[0], "Problem": old_rows[0]["Problem"] + " (corrected)"}, *old_rows[1:]]
    before = write_benchmark_repo(cache, default, {"test": old_rows, "fewshot": []})
    splits = load_splits(default)
    path = tmp_path / "baselines" / "aime2024.json"
    write_baseline(
        path,
        baseline_from_result("f", _result(splits), splits.origin, {}, hub=splits.hub, revision=splits.revision),
        overwrite=False,
    )
    after = write_repo(cache, default.path, {"train/data.parquet": fixed_rows}, {"default": {"train": "train/*"}})
    moved = load_splits(default)
    assert moved.revision == after != before
    with pytest.raises(BaselineError) as error:
        check_compatible(
            read_baseline(path),
            task_version="0.0",
            metric=Metric("acc"),
            dataset_fingerprint=moved.fingerprint,
            dataset_revision=moved.revision,
            prompt_shas={},
        )
    message = str(error.value)
    assert f"revision {before}" in message and f"revision {after}" in message
    pin = f"{{hub: {default.path}, revision: {before}}}"
    assert f"benchmarks.aime2024.source: {pin}" in message
    # The pin, as the catalogue turns it into a source, reads the data the baseline was measured on.
    pinned = load_splits(hub_override(default, SourceSpec(hub=default.path, revision=before)))
    assert pinned.fingerprint == splits.fingerprint != moved.fingerprint


def test_a_pinned_commit_is_not_replaced_by_another_cached_one(cache):
    source = REGISTRY["ifeval"].hub
    write_benchmark_repo(cache, dataclasses.replace(source, revision=None), RECORDS["ifeval"])
    with pytest.raises(DatasetError, match="not available offline"):
        load_splits(source)  # main is cached; the pinned commit is not


def test_unpinned_benchmarks_record_the_commit_they_read(cache):
    commit = fake_commit("main")
    write_repo(cache, "ceval/ceval-exam", {"accountant/val-0.parquet": RECORDS["ceval"]["test"],
               "accountant/dev-0.parquet": RECORDS["ceval"]["fewshot"]},
               {"accountant": {"val": "accountant/val-*", "dev": "accountant/dev-*"}}, commit=commit)  # fmt: skip
    splits = load_splits(dataclasses.replace(CEval.hub, configs=("accountant",)))
    assert splits.revision == commit and {r["subject"] for r in splits.test} == {"accountant"}

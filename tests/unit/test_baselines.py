"""Baseline files: strict reading, atomic writing, no silent overwrite, and refusal of a baseline
whose data, task version or prompts differ from the run."""

import json
import os

import pytest

from quantgate.baselines.store import (
    baseline_from_result,
    check_compatible,
    read_baseline,
    write_baseline,
)
from quantgate.errors import BaselineError, MissingBaselineError
from quantgate.records import ItemResult, Metric, TaskResult


def result(scores=(1.0, 0.0, 1.0), shas=("s0", "s1", "s2")):
    items = tuple(
        ItemResult(str(i), {"acc": s}, "p", sha, "o", "A", "A") for i, (s, sha) in enumerate(zip(scores, shas))
    )
    metrics = {"acc": sum(scores) / len(scores)}
    return TaskResult("mmlu-0shot", "mmlu", "1.0", "acc", items, "fp-data", 1.0, metrics)


def write(path, res=None, overwrite=False):
    data = baseline_from_result("toy", res or result(), "somewhere", {"variant": "bf16"})
    write_baseline(path, data, overwrite=overwrite)
    return data


def compatible(path, **overrides):
    args = dict(
        task_version="1.0", metric=Metric("acc"), dataset_fingerprint="fp-data", prompt_shas={"0": "s0", "1": "s1"}
    )
    args.update(overrides)
    check_compatible(read_baseline(path), **args)


def test_round_trip_keeps_items_and_provenance(tmp_path):
    path = tmp_path / "toy" / "mmlu-0shot.json"
    write(path)
    baseline = read_baseline(path)
    assert baseline.data.score == pytest.approx(2 / 3) and baseline.data.n == 3
    assert baseline.item_scores() == {"0": {"acc": 1.0}, "1": {"acc": 0.0}, "2": {"acc": 1.0}}
    assert baseline.data.provenance == {"variant": "bf16"}
    assert not list(path.parent.glob(".*tmp"))  # no temporary file left behind


def test_existing_baseline_is_not_replaced_without_the_flag(tmp_path):
    path = tmp_path / "b.json"
    write(path)
    with pytest.raises(BaselineError, match="a baseline exists; pass --update-baselines"):
        write(path, result(scores=(0.0, 0.0, 0.0)))
    assert read_baseline(path).data.score == pytest.approx(2 / 3)
    write(path, result(scores=(0.0, 0.0, 0.0)), overwrite=True)
    assert read_baseline(path).data.score == 0.0


def test_failed_write_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "b.json"
    write(path)
    before = path.read_text()

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", explode)  # the temporary file is written, then the disk fails
    with pytest.raises(OSError, match="disk full"):
        write(path, overwrite=True)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["b.json"]


def test_missing_baseline_has_its_own_error(tmp_path):
    with pytest.raises(MissingBaselineError, match="no baseline recorded"):
        read_baseline(tmp_path / "none.json")


def test_corrupted_json_names_file_line_and_column(tmp_path):
    path = tmp_path / "b.json"
    write(path)
    path.write_text(path.read_text()[:50])
    with pytest.raises(BaselineError, match=r"b.json: not valid JSON \(line \d+, column \d+"):
        read_baseline(path)


def test_missing_key_is_named(tmp_path):
    path = tmp_path / "b.json"
    write(path)
    raw = json.loads(path.read_text())
    del raw["dataset"]
    path.write_text(json.dumps(raw))
    with pytest.raises(BaselineError, match="b.json: dataset: Field required"):
        read_baseline(path)


def test_edited_score_that_disagrees_with_items_is_refused(tmp_path):
    path = tmp_path / "b.json"
    write(path)
    raw = json.loads(path.read_text())
    raw["score"] = 0.99
    path.write_text(json.dumps(raw))
    with pytest.raises(BaselineError, match=r"score 0.99 and n 3 disagree with its items \(acc 0.666667 over 3\)"):
        compatible(path)


def test_dataset_change_is_refused(tmp_path):
    path = tmp_path / "b.json"
    write(path)
    with pytest.raises(BaselineError, match="recorded on dataset fp-data .* The data changed"):
        compatible(path, dataset_fingerprint="other")


def test_task_version_change_is_refused(tmp_path):
    path = tmp_path / "b.json"
    write(path)
    with pytest.raises(BaselineError, match="task version 1.0; this run uses 2.0"):
        compatible(path, task_version="2.0")


def test_prompt_change_is_refused_naming_the_first_item(tmp_path):
    path = tmp_path / "b.json"
    write(path)
    with pytest.raises(BaselineError, match=r"prompt changed for 1 of 2 items .*first: item '1'"):
        compatible(path, prompt_shas={"0": "s0", "1": "edited"})


def test_items_beyond_the_baseline_are_refused(tmp_path):
    path = tmp_path / "b.json"
    write(path)
    with pytest.raises(BaselineError, match="covers 3 items but 1 of this run's 4 are not among them"):
        compatible(path, prompt_shas={"0": "s0", "1": "s1", "2": "s2", "3": "s3"})


def test_a_subset_of_the_baseline_is_comparable(tmp_path):
    path = tmp_path / "b.json"
    write(path)
    compatible(path, prompt_shas={"2": "s2"})


def test_committed_baselines_still_read_and_record_no_hub_revision_for_packaged_data():
    from pathlib import Path

    files = sorted((Path(__file__).parents[2] / "baselines").rglob("*.json"))
    assert files
    for path in files:
        data = read_baseline(path).data
        assert (data.dataset.hub, data.dataset.revision) == (None, None), path


def test_a_baseline_without_a_revision_says_the_one_it_was_measured_on_is_unknown(tmp_path):
    write(tmp_path / "b.json")
    with pytest.raises(BaselineError, match="predates recorded dataset revisions") as error:
        compatible(tmp_path / "b.json", dataset_fingerprint="other", dataset_revision="a" * 40)
    assert "revision aaaa" in str(error.value) and "source:" not in str(error.value)


def test_same_revision_other_records_points_at_what_was_read(tmp_path):
    data = baseline_from_result("toy", result(), "hub dataset x/y", {}, hub="x/y", revision="b" * 40)
    write_baseline(tmp_path / "b.json", data, overwrite=False)
    with pytest.raises(BaselineError, match="Same revision, other records"):
        compatible(tmp_path / "b.json", dataset_fingerprint="other", dataset_revision="b" * 40)
    # A revision written with the file reads back; absent fields stay out of files that have none.
    assert read_baseline(tmp_path / "b.json").data.dataset.revision == "b" * 40
    write(tmp_path / "c.json")
    assert "revision" not in json.loads((tmp_path / "c.json").read_text())["dataset"]

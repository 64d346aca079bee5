"""The side-by-side bench's own logic (bench/lm_eval_*.py), without an engine: lm-eval's samples
files and quantgate's per-item files read into decisions, compared item by item; the items written
into a hub cache and read back offline by both tools' loaders; the runs' settings.

Sample rows are built here in the shape lm-eval 0.4.13 writes them with ``--log_samples``
(arguments as ``gen_args_i``/``arg_j``, log-likelihoods as strings in ``filtered_resps``, one GSM8K
row per filter, WikiText's ``[loglikelihood, words]``)."""

import json
import math

import pytest
import yaml

from bench import lm_eval_compare as compare
from bench import lm_eval_items as items
from bench import lm_eval_runs as runs
from tests.hub_repos import hub_cache


def choice_row(doc_id, context, choices, lls, gold, metrics=("acc",)):
    best = max(range(len(lls)), key=lambda i: lls[i])
    row = {
        "doc_id": doc_id,
        "arguments": {f"gen_args_{i}": {"arg_0": context, "arg_1": " " + c} for i, c in enumerate(choices)},
        "resps": [[[str(ll), "False"]] for ll in lls],
        "filtered_resps": [[str(ll), "False"] for ll in lls],
        "filter": "none",
        "metrics": list(metrics),
    }
    return row | {m: float(best == gold) for m in metrics}


def gsm8k_rows(doc_id, prompt, generation, strict, flexible, target):
    return [
        {"doc_id": doc_id, "arguments": {"gen_args_0": {"arg_0": prompt, "arg_1": {"until": ["Question:"]}}},
         "resps": [[generation]], "filtered_resps": [answer], "filter": name, "exact_match": float(answer == target)}
        for name, answer in (("strict-match", strict), ("flexible-extract", flexible))
    ]  # fmt: skip


def wikitext_row(doc_id, text, ll, words, nbytes):
    return {"doc_id": doc_id, "arguments": {"gen_args_0": {"arg_0": text}}, "resps": [[str(ll)]],
            "word_perplexity": [ll, words], "byte_perplexity": [ll, nbytes], "bits_per_byte": [ll, nbytes]}  # fmt: skip


def write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_multiple_choice_document_decides_the_choice_with_the_largest_loglikelihood():
    row = choice_row(3, "Q?\nAnswer:", ["A", "B", "C", "D"], [-2.0, -0.5, -1.0, -3.0], gold=1)
    decision = compare.lm_eval_choice(row, ("acc",))
    assert decision == compare.Decision({"acc": 1.0}, "B", prompt="Q?\nAnswer:")


def test_gsm8k_documents_join_their_filter_rows_and_an_invalid_strict_answer_is_none():
    rows = gsm8k_rows(0, "Question: 2+2?\nAnswer:", " so 4", "[invalid]", "4", "4")
    decision = compare.lm_eval_gsm8k(rows)
    assert decision.scores == {"strict_match": 0.0, "flexible_extract": 1.0}
    assert (decision.answer, decision.output) == (None, " so 4")


def test_lm_eval_samples_files_are_found_per_task_and_mmlu_keyed_by_subject_and_position(tmp_path):
    folder = tmp_path / "lm-eval" / "model__name"
    write_jsonl(folder / "samples_mmlu_anatomy_2026-12-01T00-00-00.jsonl",
                [choice_row(i, f"a{i}", "ABCD", [-1, -2, -3, -0.5], 3) for i in range(2)])  # fmt: skip
    write_jsonl(
        folder / "samples_mmlu_astronomy_2026-12-01T00-00-00.jsonl", [choice_row(0, "s", "ABCD", [0, -1, -1, -1], 1)]
    )
    write_jsonl(folder / "samples_gsm8k_2026-12-01T00-00-00.jsonl", gsm8k_rows(0, "p", "g #### 4", "4", "4", "4"))
    write_jsonl(folder / "samples_wikitext_2026-12-01T00-00-00.jsonl", [wikitext_row(0, "t", -50.0, 10, 40)])
    mmlu = compare.lm_eval_decisions(tmp_path / "lm-eval", "mmlu", ["anatomy", "astronomy"])
    assert {k: d.answer for k, d in mmlu.items()} == {"anatomy/0": "D", "anatomy/1": "D", "astronomy/0": "A"}
    assert mmlu["astronomy/0"].scores == {"acc": 0.0}
    assert compare.lm_eval_decisions(tmp_path / "lm-eval", "gsm8k", [])["0"].answer == "4"
    assert compare.lm_eval_decisions(tmp_path / "lm-eval", "wikitext", [])["0"].scores == {
        "loglikelihood": -50.0, "words": 10.0, "bytes": 40.0}  # fmt: skip
    with pytest.raises(FileNotFoundError, match="samples_hellaswag"):
        compare.lm_eval_decisions(tmp_path / "lm-eval", "hellaswag", [])


def quantgate_row(item_id, group, scores, extracted, prompt="p", output="o"):
    return {"id": item_id, "group": group, "scores": scores, "extracted": extracted, "prompt": prompt, "output": output}


def test_quantgate_mmlu_ids_index_the_all_split_and_become_positions_within_each_subject(tmp_path):
    rows = [quantgate_row("astronomy/12", "astronomy", {"acc": 1.0}, "C"),
            quantgate_row("anatomy/10", "anatomy", {"acc": 0.0}, "A"),
            quantgate_row("anatomy/2", "anatomy", {"acc": 1.0}, "B")]  # fmt: skip
    found = compare.quantgate_decisions(write_jsonl(tmp_path / "items.jsonl", rows), "mmlu")
    assert {k: d.answer for k, d in found.items()} == {"anatomy/0": "B", "anatomy/1": "A", "astronomy/0": "C"}


def test_decisions_are_the_same_only_with_every_shared_score_and_the_same_answer():
    a = compare.Decision({"acc": 1.0, "acc_norm": 0.0}, "x")
    assert compare.same_decision("hellaswag", a, compare.Decision({"acc": 1.0, "acc_norm": 0.0}, "x"))
    assert not compare.same_decision("hellaswag", a, compare.Decision({"acc": 1.0, "acc_norm": 1.0}, "x"))
    assert not compare.same_decision("hellaswag", a, compare.Decision({"acc": 1.0, "acc_norm": 0.0}, "y"))
    assert not compare.same_decision("hellaswag", a, compare.Decision({}, "x"))  # nothing to compare


def test_wikitext_documents_agree_within_a_relative_thousandth_of_their_loglikelihood():
    def doc(ll, words=100.0):
        return compare.Decision({"loglikelihood": ll, "words": words, "bytes": 500.0}, None)

    assert compare.same_decision("wikitext", doc(-1000.0), doc(-1000.999))
    assert not compare.same_decision("wikitext", doc(-1000.0), doc(-1001.01))
    assert not compare.same_decision("wikitext", doc(-1000.0), doc(-1000.0, words=99.0))


def test_compare_counts_items_either_side_lacks_as_differing_and_scores_each_side():
    theirs = {"0": compare.Decision({"acc": 1.0}, "A"), "1": compare.Decision({"acc": 0.0}, "B"),
              "2": compare.Decision({"acc": 0.0}, "C")}  # fmt: skip
    ours = {"0": compare.Decision({"acc": 1.0}, "A"), "1": compare.Decision({"acc": 1.0}, "D"),
            "3": compare.Decision({"acc": 1.0}, "A")}  # fmt: skip
    row = compare.compare("mmlu", theirs, ours)
    assert (row["items"], row["identical"], row["agreement"]) == (4, 1, 0.25)
    assert row["differing"] == ["1", "2", "3"]
    assert (row["lm_eval_score"], row["quantgate_score"]) == (pytest.approx(1 / 3), 1.0)
    assert compare.overall({"mmlu": row, "x": {"items": 6, "identical": 6}}) == {
        "items": 10, "identical": 7, "agreement": 0.7}  # fmt: skip


def test_word_perplexity_pools_loglikelihoods_and_words_over_documents():
    docs = {
        str(i): compare.Decision({"loglikelihood": ll, "words": w}, None)
        for i, (ll, w) in enumerate([(-30.0, 10), (-10.0, 30)])
    }
    assert compare.score("wikitext", docs) == pytest.approx(math.exp(40 / 40))
    row = compare.compare("wikitext", docs, dict(docs))
    assert (row["identical"], row["max_relative_difference"]) == (2, 0.0)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    return hub_cache(tmp_path, monkeypatch)


def test_the_items_written_are_what_quantgate_and_an_offline_load_dataset_read_back(cache, tmp_path):
    import datasets as hf_datasets

    from quantgate.benchmarks import get_benchmark
    from quantgate.data.sources import load_splits

    sizes = {"mmlu": 3, "gsm8k": 4, "hellaswag": 5, "arc_challenge": 6, "wikitext": 2}
    written = items.build("synthetic", sizes, mmlu_subjects=2, seed=1)
    items.write(written, tmp_path)
    for name, dataset in written.items():
        records = items.test_records(dataset, name)
        assert len(records) == (sizes[name] * 2 if name == "mmlu" else sizes[name])
        splits = load_splits(get_benchmark(name).hub)
        assert splits.test == records
        assert splits.revision == get_benchmark(name).hub.revision or name == "wikitext"
        split = "validation" if name == "hellaswag" else "test"
        offline = [r for c in dataset.lm_eval_configs
                   for r in hf_datasets.load_dataset(dataset.repo, None if c == "default" else c)[split]]  # fmt: skip
        assert offline == records
    assert written["mmlu"].lm_eval_configs == ("abstract_algebra", "anatomy")
    assert all(len(written["mmlu"].configs[s]["dev"]) == 5 for s in written["mmlu"].lm_eval_configs)


def test_mmlu_takes_real_subject_names_and_refuses_more_than_there_are():
    assert items.subjects(3) == ["abstract_algebra", "anatomy", "astronomy"]
    with pytest.raises(ValueError, match="57 subjects"):
        items.subjects(58)


def test_lm_eval_gets_mmlu_five_shot_per_subject_in_one_group_and_its_defaults_elsewhere(tmp_path):
    folder = runs.write_lm_eval_include(tmp_path / "tasks", ["anatomy", "astronomy"])
    group = yaml.safe_load((folder / f"{runs.MMLU_GROUP}.yaml").read_text())
    assert group["task"] == [{"task": "mmlu_anatomy", "num_fewshot": 5}, {"task": "mmlu_astronomy", "num_fewshot": 5}]
    command = runs.lm_eval_command("py", "/m", {"dtype": "float32", "enforce_eager": True}, ["mmlu", "gsm8k"],
                                   folder, tmp_path / "out", 64)  # fmt: skip
    assert command[command.index("--tasks") + 1] == f"{runs.MMLU_GROUP},gsm8k"
    assert command[command.index("--model_args") + 1] == "pretrained=/m,dtype=float32,enforce_eager=True"
    assert command[-2:] == ["--gen_kwargs", "max_gen_toks=64"]
    assert "--num_fewshot" not in command


def test_the_quantgate_catalogue_has_the_same_engine_shots_and_generation_length():
    engine = {"dtype": "float32", "max_model_len": 2048, "seed": 0, "load_format": "dummy"}
    family = runs.catalogue("/m", engine, ["mmlu", "gsm8k", "hellaswag"], 64)["families"][runs.FAMILY]
    assert family["engine"] == {"dtype": "float32", "max_model_len": 2048, "seed": 0, "extra": {"load_format": "dummy"}}
    shots = {k: (v["task"], v["num_fewshot"], v.get("max_tokens")) for k, v in family["benchmarks"].items()}
    assert shots == {"mmlu-5shot": ("mmlu", 5, None), "gsm8k": ("gsm8k", 5, 64), "hellaswag": ("hellaswag", 0, None)}


def test_lm_eval_task_files_are_read_through_includes_and_function_tags(tmp_path):
    (tmp_path / "base.yaml").write_text("dataset_path: owner/data\ndataset_name: one\nprocess_docs: !function u.f\n")
    (tmp_path / "task.yaml").write_text("include: base.yaml\ndataset_name: two\n")
    assert runs.task_file_source(tmp_path / "task.yaml") == ("owner/data", "two")


def test_both_runs_get_the_same_environment_with_the_repository_before_the_machines_packages(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/tmp/site")
    monkeypatch.setenv("HF_HUB_CACHE", "/elsewhere")
    env = runs.environment(tmp_path / "hf", tmp_path / "vllm", gpu=True, batch_invariant=False)
    assert env["PYTHONPATH"].split(":") == [str(runs.REPO), "/tmp/site"]
    assert (env["HF_HOME"], env["HF_HUB_OFFLINE"], env["HF_DATASETS_OFFLINE"]) == (str(tmp_path / "hf"), "1", "1")
    assert "HF_HUB_CACHE" not in env and env["VLLM_BATCH_INVARIANT"] == "0"
    assert runs.environment(tmp_path, tmp_path, gpu=True, batch_invariant=True)["VLLM_BATCH_INVARIANT"] == "1"

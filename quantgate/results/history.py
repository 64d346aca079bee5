"""A history of runs, for trends: each run's results.json appended to a file or directory the user
chooses (``--history PATH``).

A path ending in ``.sqlite``, ``.sqlite3`` or ``.db`` is an SQLite file (one transaction per run);
any other path is a directory with one JSON file per run, named by its creation time and a hash of
its content, written atomically. A run already in the history (same content) is not added twice.

A result *moved* since the last run when its score changed by more than its noise: half the width
of its own interval against BF16 at this n (the test's sampling noise, in score units). A test
absent from the last run, or without an interval, has no movement.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from quantgate.files import write_text_atomic
from quantgate.results.model import Entry, ResultsFile, ResultsFileError, TestResult, parse_results
from quantgate.results.status import status_of

SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")


class HistoryError(ValueError):
    """A history that cannot be read, or results that cannot be added to it."""


@dataclass(frozen=True)
class Point:
    score: float | None
    baseline: float | None
    ci_low: float | None
    ci_high: float | None
    status: str | None
    n: int | None


@dataclass(frozen=True)
class Run:
    id: str
    created: str
    points: dict[str, Point]
    """Test id -> its result in this run."""


@dataclass(frozen=True)
class Movement:
    previous: float
    score: float
    change: float
    noise: float | None
    moved: bool


def points_of(results: Sequence[Entry]) -> dict[str, Point]:
    return {
        e.id: Point(e.score, e.baseline, e.ci_low, e.ci_high, status_of(e).value, e.n)
        for e in results
        if isinstance(e, TestResult)
    }


def _read(text: str, source: str) -> ResultsFile:
    try:
        return parse_results(json.loads(text), source)
    except json.JSONDecodeError as exc:
        raise HistoryError(f"{source}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except ResultsFileError as exc:
        raise HistoryError(f"{exc} (not a quantgate results.json)") from None


def _run_id(text: str, created: str) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return f"{created.replace(':', '')}-{digest}"


def _canonical(results: ResultsFile) -> str:
    return json.dumps(results.to_json(), sort_keys=True, ensure_ascii=False)


class DirectoryHistory:
    def __init__(self, path: Path):
        self.path = path

    def append(self, results: ResultsFile) -> str:
        text = _canonical(results)
        run_id = _run_id(text, results.created)
        file = self.path / f"{run_id}.json"
        if not file.exists():
            write_text_atomic(file, text + "\n")
        return run_id

    def runs(self) -> list[Run]:
        runs = []
        for file in sorted(self.path.glob("*.json")) if self.path.is_dir() else []:
            data = _read(file.read_text(encoding="utf-8"), str(file))
            runs.append(Run(file.stem, data.created, points_of(data.results)))
        return sorted(runs, key=lambda r: (r.created, r.id))


class SqliteHistory:
    SCHEMA = """
    CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, created TEXT NOT NULL, results TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS points (run TEXT NOT NULL REFERENCES runs(id), test TEXT NOT NULL, score REAL,
        baseline REAL, ci_low REAL, ci_high REAL, status TEXT, n INTEGER, PRIMARY KEY (run, test));
    """

    def __init__(self, path: Path):
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(self.path, timeout=60)  # xdist-free: one writer, the controller
            connection.executescript(self.SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise HistoryError(f"{self.path}: not a quantgate history database ({exc})") from None
        return connection

    def append(self, results: ResultsFile) -> str:
        points = points_of(results.results)
        text = _canonical(results)
        run_id = _run_id(text, results.created)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:  # one transaction: the run and its points, or nothing
            if db.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone():
                return run_id
            db.execute("INSERT INTO runs VALUES (?, ?, ?)", (run_id, results.created, text))
            db.executemany(
                "INSERT INTO points VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, t, p.score, p.baseline, p.ci_low, p.ci_high, p.status, p.n) for t, p in points.items()],
            )
        return run_id

    def runs(self) -> list[Run]:
        if not self.path.exists():
            return []
        with self._connect() as db:
            rows = db.execute("SELECT id, created FROM runs ORDER BY created, id").fetchall()
            points = db.execute("SELECT run, test, score, baseline, ci_low, ci_high, status, n FROM points").fetchall()
        by_run: dict[str, dict[str, Point]] = {run_id: {} for run_id, _ in rows}
        for run_id, test, *values in points:
            by_run[run_id][test] = Point(*values)
        return [Run(run_id, created, by_run[run_id]) for run_id, created in rows]


History = DirectoryHistory | SqliteHistory


def open_history(path: Path) -> History:
    return SqliteHistory(path) if path.suffix in SQLITE_SUFFIXES else DirectoryHistory(path)


def last_run(history: History) -> Run | None:
    runs = history.runs()
    return runs[-1] if runs else None


def movement(before: Point | None, after: Point) -> Movement | None:
    """The change from ``before`` to ``after``, or None where either has no score."""
    if before is None or before.score is None or after.score is None:
        return None
    change = after.score - before.score
    noise = (after.ci_high - after.ci_low) / 2 if after.ci_low is not None and after.ci_high is not None else None
    return Movement(before.score, after.score, change, noise, noise is not None and abs(change) > noise)


def movements(previous: Run | None, results: Sequence[Entry]) -> dict[str, Movement]:
    """Each current test's change since ``previous``, and whether it exceeds the test's noise."""
    if previous is None:
        return {}
    found = {}
    for test, point in points_of(results).items():
        change = movement(previous.points.get(test), point)
        if change is not None:
            found[test] = change
    return found

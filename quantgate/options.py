"""quantgate's command-line options and ini keys, and how a path option falls back to its ini key."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def replicas(text: str) -> int | str:
    return "auto" if text == "auto" else positive_int(text)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("quantgate", "quantized-model release gate")
    group.addoption("--catalogue", action="append", type=Path, help="catalogue file or directory (repeatable)")
    group.addoption("--baselines-dir", type=Path, help="where baselines are stored")
    group.addoption("--report-dir", type=Path, help="where results.json and per-item JSONL go")
    group.addoption("--cache-dir", type=Path, help="models built for the embedded family ($QUANTGATE_CACHE)")
    group.addoption("--limit", type=positive_int, help="score only the first N items of every benchmark")
    group.addoption(
        "--update-baselines", action="store_true", help="record the reference variant's baselines, replacing old ones"
    )
    group.addoption(
        "--record-missing-baselines",
        action="store_true",
        help="record the reference variant's baselines where none exist (never replaces one)",
    )
    group.addoption(
        "--report-lang", choices=("en", "zh"), default="en", help="language of the Markdown summary (summary.md)"
    )
    group.addoption(
        "--shard", metavar="K/N", help="run shard K of N: whole variants, balanced by estimated cost (CI matrices)"
    )
    group.addoption(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bars for requests and scoring (default: on when the terminal is interactive and tests run "
        "in this process; --no-progress turns them off)",
    )
    group.addoption(
        "--no-cache", action="store_true", help="neither reuse nor keep per-item results in <cache-dir>/results"
    )
    group.addoption(
        "--cross-environment",
        action="store_true",
        help="gate variants against a stored baseline from another machine or engine (with its recorded noise) "
        "instead of scoring the reference here first",
    )
    group.addoption(
        "--request-order",
        type=int,
        metavar="SEED",
        help="send each batch of requests in an order shuffled by SEED (reruns that measure the engine's "
        "batch-order noise; each answer still goes to its item; implies --no-cache)",
    )
    group.addoption(
        "--no-batch-invariant",
        action="store_true",
        help="on a GPU, leave vLLM's batch-invariant mode off (it is on by default unless VLLM_BATCH_INVARIANT is set)",
    )
    group.addoption(
        "--data-parallel",
        type=replicas,
        metavar="N|auto",
        help="run N engine replicas of each in-process vLLM variant on its worker's GPUs, each request list split "
        "among them (auto: as many as the GPUs hold); overrides the catalogue's data_parallel_size",
    )
    parser.addini("quantgate_catalogue", "catalogue files or directories", type="paths", default=[])
    parser.addini("quantgate_baselines", "baselines directory", default="baselines")
    parser.addini("quantgate_reports", "report directory", default="reports")
    group.addoption(
        "--warn-only",
        action="append",
        default=[],
        metavar="PATTERN",
        help="benchmarks (or test ids; shell patterns, repeatable) whose accuracy failures warn instead of block",
    )
    parser.addini("quantgate_warn_only", "benchmarks or test-id patterns that warn instead of block", type="linelist")
    group.addoption(
        "--history", type=Path, help="append this run's results to a history (.sqlite/.db file, or a directory)"
    )


def cli_or_ini_path(config: pytest.Config, option: str, ini: str) -> Path:
    value = config.getoption(option)
    if value is not None:
        return config.invocation_params.dir / value
    return config.rootpath / config.getini(ini)


def progress_wanted(config: pytest.Config) -> bool:
    """``--progress`` / ``--no-progress``; otherwise on when pytest writes to an interactive terminal
    and the tests run in this process (pytest-xdist workers have no terminal)."""
    chosen = config.getoption("progress")
    if chosen is not None:
        return bool(chosen)
    if getattr(config.option, "numprocesses", None) or hasattr(config, "workerinput"):
        return False
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    file = getattr(getattr(terminal, "_tw", None), "_file", None)
    return bool(file is not None and file.isatty())


@contextlib.contextmanager
def on_the_terminal(config: pytest.Config, wanted: bool) -> Iterator[None]:
    """Let progress bars reach the terminal: pytest's output capture is suspended while ``wanted``."""
    capture = config.pluginmanager.get_plugin("capturemanager")
    if not wanted or capture is None:
        yield
        return
    with capture.global_and_fixture_disabled():
        yield

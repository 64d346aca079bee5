"""The trend page: each (variant, benchmark) across the runs of a history.

    quantgate trend reports/history.sqlite --out reports/trend.html [-k qwen3-8b]

One chart per test (score per run with its interval, BF16's baseline dashed, points coloured by
decision, a run that moved more than its noise ringed) and a table of the runs under it. Exits 2
when the history holds no run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from quantgate.files import write_text_atomic
from quantgate.report.trend import render
from quantgate.results.history import HistoryError, open_history


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="quantgate trend", description=__doc__.split("\n\n")[0])
    parser.add_argument("history", type=Path, help="the --history file (.sqlite/.db) or directory")
    parser.add_argument("--out", type=Path, default=Path("reports/trend.html"))
    parser.add_argument("-k", dest="select", help="only tests whose id contains this text")
    args = parser.parse_args(argv)
    try:
        runs = open_history(args.history).runs()
    except HistoryError as exc:
        print(f"quantgate trend: {exc}", file=sys.stderr)
        return 2
    if not runs:
        print(f"quantgate trend: {args.history} holds no run yet (pytest --history {args.history})", file=sys.stderr)
        return 2
    write_text_atomic(args.out, render(runs, args.select))
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Merge the reports of CI shards (or of families run as separate jobs) into one report and one gate.

    quantgate merge reports/shard-* --out reports/merged [--lang zh]

Each argument is a run's report directory (or its results.json). Every file is read through the
results model (the published schema, quantgate/schemas/results.schema.json, is generated from it);
a test that appears in two files is refused, since one of them would silently win. Writes
``results.json``, ``summary.md`` and ``report.html`` (verdict, matrix, plots, environment of each
shard, every test's flipped items) under ``--out``, prints the verdict, and exits 1 when the merged
gate is blocked, 0 when clear.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from quantgate.files import write_json_atomic, write_text_atomic
from quantgate.report.dashboard import page
from quantgate.results.merge import ResultsFileError, merge, read_results
from quantgate.results.summary import blocked_count, markdown, verdict


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="quantgate merge", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="report directories or results.json files")
    parser.add_argument("--out", type=Path, required=True, help="directory for the merged report")
    parser.add_argument("--lang", choices=("en", "zh"), default="en", help="language of summary.md")
    args = parser.parse_args(argv)
    try:
        merged = merge([(path, read_results(path)) for path in args.runs])
    except ResultsFileError as exc:
        print(f"quantgate merge: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out / "results.json", merged.to_json())
    write_text_atomic(args.out / "summary.md", markdown(merged.results, args.lang, merged.run))
    facts = {f"{shard}: {key}": value for shard, env in merged.environment.items() for key, value in env.items()}
    title = f"quantgate release gate ({len(args.runs)} reports merged)"
    write_text_atomic(args.out / "report.html", page(title, merged.results, facts, args.lang, merged.run))
    print("\n".join(verdict(merged.results, args.lang, merged.run)))
    print(f"merged report: {args.out / 'report.html'}")
    complete = merged.run is not None and merged.run.complete
    return 1 if blocked_count(merged.results) or not complete else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

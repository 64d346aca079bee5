"""How small a drop a paired run resolves: pick a margin the run can resolve, or the n it needs.

    python -m quantgate.power --n 1319 --flip-rate 0.05 --margin 0.02

The flip rate is the share of items whose answer differs between variant and baseline; read it from
an earlier run (results.json's lost + gained over n), or from the noise-floor command for BF16.
"""

from __future__ import annotations

import argparse
import math
import sys

from quantgate.stats import minimum_detectable_drop, pass_probability_non_inferiority, z_value


def paired_se(n: int, flip_rate: float, design_effect: float = 1.0) -> float:
    return math.sqrt(flip_rate * design_effect / n)


def items_needed(margin: float, flip_rate: float, alpha: float, power: float, design_effect: float = 1.0) -> int:
    """Smallest n whose minimum detectable drop is at most ``margin``."""
    return math.ceil(flip_rate * design_effect * ((z_value(1 - alpha) + z_value(power)) / margin) ** 2)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m quantgate.power", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, required=True, help="paired items")
    parser.add_argument("--flip-rate", type=float, required=True, help="share of items whose score differs")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--power", type=float, default=0.8)
    parser.add_argument("--design-effect", type=float, default=1.0, help="variance inflation from clustering")
    parser.add_argument("--margin", type=float, help="a non-inferiority margin to check")
    args = parser.parse_args(argv)
    se = paired_se(args.n, args.flip_rate, args.design_effect)
    mdd = minimum_detectable_drop(se, args.alpha, args.power)
    print(f"n={args.n}, flip rate {args.flip_rate:.1%}: standard error of the paired change {se:.4f}")
    print(f"minimum detectable drop at {args.power:.0%} power, alpha {args.alpha:g}: {mdd:.4f}")
    if args.margin is not None:
        chance = pass_probability_non_inferiority(0.0, se, args.margin, args.alpha)
        needed = items_needed(args.margin, args.flip_rate, args.alpha, args.power, args.design_effect)
        verdict = "resolves" if mdd <= args.margin else "is UNDERPOWERED for"
        print(f"this run {verdict} a margin of {args.margin:g}: an unchanged variant passes {chance:.1%} of the time")
        print(f"items needed for this margin at {args.power:.0%} power: {needed}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

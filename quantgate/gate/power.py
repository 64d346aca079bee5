"""How small a drop a paired run resolves: pick a margin the run can resolve, or the n it needs.

    quantgate power --n 1319 --flip-rate 0.05 --margin 0.02

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

import math

from quantgate.gate.stats import z_value


def paired_se(n: int, flip_rate: float, design_effect: float = 1.0) -> float:
    return math.sqrt(flip_rate * design_effect / n)


def items_needed(margin: float, flip_rate: float, alpha: float, power: float, design_effect: float = 1.0) -> int:
    """Smallest n whose minimum detectable drop is at most ``margin``."""
    return math.ceil(flip_rate * design_effect * ((z_value(1 - alpha) + z_value(power)) / margin) ** 2)

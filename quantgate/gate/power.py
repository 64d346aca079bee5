"""The paired change's standard error at a run's size and flip rate, and the items a margin needs
(the ``quantgate power`` command, quantgate.cli.power; a family's release-level sizing:
quantgate.results.sizing).
"""

from __future__ import annotations

import math

from quantgate.gate.stats import z_value


def paired_se(n: int, flip_rate: float, design_effect: float = 1.0, repeats: int = 1) -> float:
    """Standard error of the paired change over n items. With ``repeats`` k, each item's score is
    the mean of k samples on each side and ``flip_rate`` is the chance that one sample of the variant
    and one of the reference disagree on an item (2 p(1 - p) averaged over items, for an unchanged
    variant with per-item solve rates p): the difference of two k-sample means then has variance
    flip_rate / k (the within-item term of Miller 2024, "Adding Error Bars to Evals", section 3,
    which resampling shrinks by k). Seeded samples shared by variant and reference disagree less
    than independent ones, so this is an upper bound for quantgate's gate."""
    return math.sqrt(flip_rate * design_effect / (n * repeats))


def items_needed(
    margin: float, flip_rate: float, alpha: float, power: float, design_effect: float = 1.0, repeats: int = 1
) -> int:
    """Smallest n whose minimum detectable drop is at most ``margin``."""
    return math.ceil(flip_rate * design_effect / repeats * ((z_value(1 - alpha) + z_value(power)) / margin) ** 2)

"""The paired change's standard error at a run's size and flip rate, and the items a margin needs
(the ``quantgate power`` command, quantgate.cli.power; a family's release-level sizing:
quantgate.results.sizing).
"""

from __future__ import annotations

import math

from quantgate.gate.stats import z_value


def paired_se(n: int, flip_rate: float, design_effect: float = 1.0) -> float:
    return math.sqrt(flip_rate * design_effect / n)


def items_needed(margin: float, flip_rate: float, alpha: float, power: float, design_effect: float = 1.0) -> int:
    """Smallest n whose minimum detectable drop is at most ``margin``."""
    return math.ceil(flip_rate * design_effect * ((z_value(1 - alpha) + z_value(power)) / margin) ** 2)

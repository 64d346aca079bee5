"""The release gate: one test per (family, variant, benchmark) of the catalogue.

Select with the test id (`-k qwen3-8b`, `-k awq`) or markers (`-m "gsm8k and not fp8"`). The
quantgate plugin parametrizes this test from catalogue/*.yaml; the `accuracy` fixture prepares
the benchmark, checks the stored BF16 baseline and loads each variant once per session.
"""

import pytest


def test_accuracy(accuracy):
    outcome = accuracy.run()
    if not outcome.passed:
        pytest.fail(outcome.message, pytrace=False)

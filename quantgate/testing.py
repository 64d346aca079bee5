"""The release gate's test function, for a repository that keeps its own catalogue and baselines.

Its test file is one line: ``from quantgate.testing import test_accuracy  # noqa: F401``. The
plugin (loaded through its ``pytest11`` entry point once quantgate is installed) parametrizes it
from the catalogue that ``--catalogue`` or ``quantgate_catalogue`` in pytest.ini names: one test
per (family, variant, benchmark).
"""

import pytest


def test_accuracy(accuracy):
    outcome = accuracy.run()
    if not outcome.passed:
        pytest.fail(outcome.message, pytrace=False)

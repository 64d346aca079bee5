"""The release gate: one test per (family, variant, benchmark) of the catalogue.

Select with the test id (`-k qwen3-8b`, `-k awq`) or markers (`-m "gsm8k and not fp8"`). The
quantgate plugin parametrizes this test from catalogue/*.yaml; the `accuracy` fixture prepares
the benchmark, checks the stored BF16 baseline and loads each variant once per session.
"""

from quantgate.testing import test_accuracy  # noqa: F401  (the test itself lives in the package)

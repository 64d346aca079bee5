"""quantgate: a pytest suite that gates releases of quantized LLMs against their BF16 baselines."""

__version__ = "0.1.0"

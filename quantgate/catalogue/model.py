"""The catalogue as the run uses it: variants with their resolved checkpoint and engine arguments,
and cases (one accuracy test each: a variant on a benchmark)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from quantgate.catalogue.spec import BenchmarkSpec, ChatSpec, Checkpoint, LlamaCppSpec, ServerSpec
from quantgate.data.sources import Source

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

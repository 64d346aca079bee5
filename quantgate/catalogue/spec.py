"""The catalogue's YAML, key by key: pydantic models that refuse unknown keys and wrong types
(quantgate.catalogue.loader turns them into the run's Variants and Cases)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from quantgate.gate.decision import GateRule

NAME = re.compile(r"^[a-z0-9][a-z0-9._]*(-[a-z0-9._]+)*$")
TAG = re.compile(r"^[a-z][a-z0-9_]*$")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _exactly_one(model: BaseModel, names: Iterable[str]) -> None:
    given = [n for n in names if getattr(model, n) is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of {', '.join(names)} (got {', '.join(given) or 'none'})")


class GateSpec(_Spec):
    """How a benchmark decides pass or fail (see quantgate.gate.decision). ``mode`` defaults to
    non-inferiority, which needs ``margin``; ``absolute`` needs ``tolerance``, ``relative`` needs
    ``recovery``. Margin and tolerance are in score units (0.02 = two points)."""

    mode: Literal["non-inferiority", "absolute", "relative"] = "non-inferiority"
    margin: float | None = Field(None, gt=0, allow_inf_nan=False)
    tolerance: float | None = Field(None, ge=0, allow_inf_nan=False)
    recovery: float | None = Field(None, gt=0, le=1)
    alpha: float = Field(0.05, gt=0, lt=0.5)

    @model_validator(mode="after")
    def _matches_mode(self) -> GateSpec:
        needed = {"non-inferiority": "margin", "absolute": "tolerance", "relative": "recovery"}[self.mode]
        given = [n for n in ("margin", "tolerance", "recovery") if getattr(self, n) is not None]
        if given != [needed]:
            raise ValueError(f"mode {self.mode} takes {needed} and nothing else (got {', '.join(given) or 'none'})")
        return self

    def rule(self) -> GateRule:
        value = {"non-inferiority": self.margin, "absolute": self.tolerance, "relative": self.recovery}[self.mode]
        assert value is not None
        return GateRule(self.mode, value, self.alpha)


class FilesSpec(_Spec):
    test: str
    fewshot: str | None = None


class SourceSpec(_Spec):
    """Where a benchmark's data comes from; absent means the benchmark's hub dataset."""

    hub: str | None = None
    config: str | None = None
    revision: str | None = None
    split: str | None = None
    fewshot_split: str | None = None
    files: FilesSpec | None = None
    packaged: str | None = None

    @model_validator(mode="after")
    def _one(self) -> SourceSpec:
        _exactly_one(self, ("hub", "files", "packaged"))
        if self.hub is None and (self.config or self.revision or self.split or self.fewshot_split):
            raise ValueError("config, revision, split and fewshot_split apply to a hub source only")
        return self


class ChatSpec(_Spec):
    """Prompts go through the tokenizer's chat template (as lm-eval's ``--apply_chat_template``)."""

    enable_thinking: bool | None = None
    """Qwen3's thinking switch, passed to the template."""
    options: dict[str, Any] | None = None
    """Other template variables."""

    def template_options(self) -> dict[str, Any]:
        thinking = {} if self.enable_thinking is None else {"enable_thinking": self.enable_thinking}
        return {**(self.options or {}), **thinking}


class BenchmarkSpec(_Spec):
    task: str | None = None
    num_fewshot: int | None = Field(None, ge=0)
    limit: int | None = Field(None, ge=1)
    max_tokens: int | None = Field(None, ge=1)
    """Caps generated tokens (e.g. AIME's 32,768 in a 32k context); part of the prompt hash."""
    temperature: float | None = Field(None, ge=0, le=2)
    """Sampling temperature of generations (default: the family's ``generation``, else greedy)."""
    top_p: float | None = Field(None, gt=0, le=1)
    repeats: int | None = Field(None, ge=1)
    """Seeded samples per item (quantgate.run.repeats): scores are avg@k, pass@k is reported."""
    chat: ChatSpec | None = None
    """This benchmark's chat template options (thinking on or off), replacing the family's."""
    metric: str | None = None
    gate: GateSpec
    source: SourceSpec | None = None


class GenerationSpec(_Spec):
    """The generation settings a family's publisher uses, for its generative benchmarks (a
    benchmark's own ``max_tokens``, ``temperature`` or ``top_p`` replaces each)."""

    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    source: str
    """Where the publisher states them."""


class PublishedSettings(_Spec):
    """What a published number was measured under, so a reader can tell when a measured score is
    not comparable. A field left out was not stated by the publisher."""

    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    repeats: int | None = Field(None, ge=1)
    """Samples averaged per item (64 for DeepSeek-R1's AIME pass@1)."""
    thinking: bool | None = None
    num_fewshot: int | None = Field(None, ge=0)
    source: str
    """Where the publisher states these settings."""


class Checkpoint(_Spec):
    """A hub id (with revision), a local path, an embedded build, or another variant's checkpoint."""

    hub: str | None = None
    revision: str | None = None
    file: str | None = None
    """A GGUF file in the hub repository: run by llama.cpp (the variant's ``llama_cpp``), or with
    ``dequantize: true`` turned into a BF16 Hugging Face directory for vLLM."""
    path: str | None = None
    embedded: str | None = None
    same_as: str | None = None
    verified: bool = True
    dequantize: bool = False
    """A GGUF checkpoint's weights dequantized for vLLM: measures the rounding, not the GGUF runtime."""

    @model_validator(mode="after")
    def _one(self) -> Checkpoint:
        _exactly_one(self, ("hub", "path", "embedded", "same_as"))
        if (self.revision or self.file) and not self.hub:
            raise ValueError("revision and file apply to a hub checkpoint only")
        if self.file and not self.file.endswith(".gguf"):
            raise ValueError("file names a .gguf file")
        if self.dequantize and not self.file:
            raise ValueError("dequantize applies to a hub GGUF file (file:) only")
        return self

    @property
    def is_gguf(self) -> bool:
        return any(str(x).endswith(".gguf") for x in (self.file, self.path, self.embedded) if x)


class EngineArgs(_Spec):
    """vLLM engine arguments quantgate knows; anything else goes under ``extra`` and reaches vLLM as is."""

    dtype: str | None = None
    quantization: str | None = None
    max_model_len: int | None = Field(None, ge=1)
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1)
    tensor_parallel_size: int | None = Field(None, ge=1)
    pipeline_parallel_size: int | None = Field(None, ge=1)
    enforce_eager: bool | None = None
    enable_prefix_caching: bool | None = None
    max_num_batched_tokens: int | None = Field(None, ge=1)
    max_num_seqs: int | None = Field(None, ge=1)
    kv_cache_dtype: str | None = None
    trust_remote_code: bool | None = None
    seed: int | None = None
    tokenizer: str | None = None
    tokenizer_revision: str | None = None
    distributed_executor_backend: str | None = None
    enable_expert_parallel: bool | None = None
    max_logprobs: int | None = None
    cpu_offload_gb: float | None = Field(None, ge=0)
    hf_overrides: dict[str, Any] | None = None
    data_parallel_size: int | Literal["auto"] | None = None
    """Engine replicas of the variant on its worker's GPUs (``auto``: as many as they hold). Not a
    vLLM argument: quantgate runs the replicas (quantgate.engines.data_parallel)."""
    extra: dict[str, Any] | None = None

    @field_validator("data_parallel_size", mode="before")
    @classmethod
    def _replicas(cls, value: Any) -> Any:
        if value is None or value == "auto" or (type(value) is int and value >= 1):
            return value
        raise ValueError(f"a number of engine replicas (1 or more) or auto, not {value!r}")

    def as_kwargs(self) -> dict[str, Any]:
        known = self.model_dump(exclude_none=True, exclude={"extra"})
        return {**known, **(self.extra or {})}


class ServerSpec(_Spec):
    """The variant is served over an OpenAI-compatible API: by a server quantgate starts for it
    (``start: vllm`` runs ``vllm serve`` with the variant's engine arguments; ``command`` is a
    template for another server, with ``{model}``, ``{port}`` and ``{name}``), or by one already
    running at ``base_url``."""

    start: Literal["vllm"] | None = None
    command: list[str] | None = Field(None, min_length=1)
    base_url: str | None = None
    model: str | None = None
    """The name the external server serves the model under (``/v1/models``)."""
    api_key_env: str | None = None
    """Environment variable holding the external server's API key."""
    tokenizer: str | None = None
    """Where the client's tokenizer comes from (default: the checkpoint)."""
    port: int | None = Field(None, ge=1, le=65535)
    """A managed server's port (default: a free one)."""
    max_concurrency: int = Field(16, ge=1)
    prompts_per_request: int = Field(16, ge=1)
    """Prompts sent in one ``/v1/completions`` request (its ``prompt`` a list of token lists); 1 for
    a server that takes one prompt a request. Streamed generations always go one a request."""
    stream: bool = False
    """Stream generations (one prompt a request) to measure time to first token and inter-token
    latency."""
    request_timeout_s: float = Field(600.0, gt=0)
    start_timeout_s: float = Field(900.0, gt=0)

    @model_validator(mode="after")
    def _one_server(self) -> ServerSpec:
        _exactly_one(self, ("start", "command", "base_url"))
        if self.base_url is not None and self.model is None:
            raise ValueError("a server at base_url needs the model name it serves (model)")
        return self


class LlamaCppSpec(_Spec):
    """The variant's GGUF file runs in llama.cpp (llama-cpp-python), prompts tokenized by the
    family's Hugging Face tokenizer as in vLLM."""

    tokenizer: str | None = None
    """A Hugging Face tokenizer (hub id or path); default: the family's reference checkpoint."""
    n_ctx: int | None = Field(None, ge=16)
    """Context length (default: the family's max_model_len, else 2048)."""
    n_batch: int = Field(512, ge=1)
    n_threads: int | None = Field(None, ge=1)
    n_gpu_layers: int = 0
    """Layers offloaded to a GPU by a CUDA build of llama.cpp (-1: all)."""


class WaiverSpec(_Spec):
    """A regression accepted only on some devices (a kernel that rounds worse on one CPU kind)."""

    reason: str
    devices: list[str] = Field(min_length=1)
    """Shell patterns of the device name (``quantgate.engines.device.device_name``), e.g.
    ``"* (avx2)"`` for CPUs whose only vector extension vLLM-CPU uses is AVX2."""


class VariantSpec(_Spec):
    checkpoint: Checkpoint
    requires: Literal["any", "cuda", "cpu"] | None = None
    scheme: list[str] = []
    engine: EngineArgs = EngineArgs()
    benchmarks: list[str] | None = None
    published: dict[str, float] | None = None
    """The publisher's numbers (benchmark -> score), shown beside the measured ones, never gated on."""
    waivers: dict[str, str | WaiverSpec] | None = None
    """Known regressions accepted with a reason (benchmark -> reason, or reason and the devices it
    applies to): the test is expected to fail, and fails the run if it passes, so a waiver is
    removed once the regression is gone."""
    description: str | None = None
    """Shown in the report beside the variant."""
    server: ServerSpec | None = None
    """Serve this variant over HTTP instead of loading it in-process (overrides the family's)."""
    llama_cpp: LlamaCppSpec | None = None
    """Run this variant's GGUF file in llama.cpp."""
    format: dict[str, Any] | None = None
    """Format facts of a checkpoint quantgate did not build (quant_method, bits, group_size,
    activations, ...), recorded with every result; embedded builds carry their own."""


class FamilySpec(_Spec):
    reference: str
    requires: Literal["any", "cuda", "cpu"] = "any"
    description: str | None = None
    published_source: str | None = None
    """Where the variants' published numbers come from."""
    published_settings: dict[str, PublishedSettings] | None = None
    """Per benchmark, the settings the variants' published numbers were measured under."""
    chat: ChatSpec | None = None
    reasoning: Literal["qwen3", "deepseek-r1", "qwq", "hunyuan"] | None = None
    """The think-trace format removed from generations before answers are read
    (quantgate.benchmarks.reasoning.FORMATS)."""
    generation: GenerationSpec | None = None
    engine: EngineArgs = EngineArgs()
    server: ServerSpec | None = None
    """Serve the family's variants over HTTP (a variant's own ``server`` overrides it)."""
    benchmarks: dict[str, BenchmarkSpec]
    variants: dict[str, VariantSpec]


class CatalogueFile(_Spec):
    families: dict[str, FamilySpec]
    templates: dict[str, Any] | None = None
    """YAML anchors the families reuse; not read otherwise."""

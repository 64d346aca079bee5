"""results.json as a typed, frozen model: what one pytest run (or a merge of CI shards) decided.

Every reader (summary, dashboard, plots, history, trend, merge, noise floor) takes these objects;
the published JSON Schema (quantgate/schemas/results.schema.json) is generated from them
(``python tools/write_results_schema.py``; a test fails when the committed file differs). Unknown
keys are kept, so a file written by a newer quantgate survives a merge by an older one.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


class Status(str, Enum):
    """What a test decided, as the report, the summary and the trend page show it."""

    PASSED = "passed"
    FAILED = "failed"
    WARNED = "warned"
    """failed under a warn-only policy: shown, not blocking"""
    RECORDED = "recorded"
    """the reference's baseline was recorded by this run"""
    NO_BASELINE = "no-baseline"
    REFUSED = "refused"
    """the stored baseline does not match this run (dataset, prompts, task version)"""
    ERROR = "error"
    """the test raised before deciding (its message says why)"""
    WAIVED = "waived"
    """a known regression accepted by the catalogue (the test is an expected failure)"""
    SKIPPED = "skipped"


Comparison = Literal["session", "baseline", "cache", "scored-first", "cross-environment"]


class Flip(_Frozen):
    id: str
    change: float
    prompt: str | None = None
    target: str | None = None
    output: str | None = None
    extracted: str | None = None
    reference_output: str | None = None
    reference_extracted: str | None = None


class Flips(_Frozen):
    """Items lost (BF16 right, variant wrong) and gained, largest change first; the counts are of
    all of them, the lists of those shown."""

    lost: list[Flip]
    gained: list[Flip]
    lost_count: int
    gained_count: int


class Moved(_Frozen):
    """The change since the history's last run, and whether it exceeds the test's noise."""

    previous: float
    score: float
    change: float
    noise: float | None
    moved: bool


class Group(_Frozen):
    n: int
    score: float
    chance: float | None = None
    below_chance_p: float | None = None


class Serving(_Frozen):
    """A served engine's requests for one test; time to first token (ttft) and inter-token latency
    (itl) only where generations were streamed."""

    requests: int
    concurrency: int
    latency_p50_ms: float
    latency_p95_ms: float
    requests_per_s: float | None = None
    output_tokens_per_s: float | None = None
    ttft_p50_ms: float | None = None
    ttft_p95_ms: float | None = None
    itl_p50_ms: float | None = None
    itl_p95_ms: float | None = None

    def text(self) -> str:
        streamed = ""
        if self.ttft_p50_ms is not None:
            streamed = f"; TTFT {self.ttft_p50_ms:,.0f} ms, ITL {self.itl_p50_ms or 0:,.1f} ms"
        return f"{self.latency_p50_ms:,.0f} / {self.latency_p95_ms:,.0f}, {self.requests_per_s or 0:.2f}{streamed}"


class SamplingInfo(_Frozen):
    """How the benchmark's generations were drawn."""

    temperature: float = Field(description="0 is greedy")
    top_p: float
    max_tokens: int | None = Field(None, description="generated tokens allowed; None: the task's own")
    repeats: int = Field(description="seeded samples per item; scores are their per-item means (avg@k)")
    thinking: bool | None = Field(None, description="the chat template's thinking switch, where set")


class ReasoningInfo(_Frozen):
    """Think traces removed before answers were read (quantgate.benchmarks.reasoning)."""

    format: str
    answers: int = Field(description="generations scored (items x repeats)")
    traces: int = Field(description="generations with a think trace")
    unterminated: int = Field(description="traces that never closed: scored 0 and counted invalid")
    trace_chars_mean: float | None = Field(None, description="mean trace length in characters, over traces")


class TestResult(_Frozen):
    """One accuracy test: a variant on a benchmark."""

    __test__ = False  # not a pytest test class

    id: str = Field(description="<family>-<variant>-<benchmark>, the pytest id")
    family: str
    variant: str
    benchmark: str
    task: str | None = Field(None, description="the benchmark implementation (mmlu for mmlu-5shot)")
    scheme: list[str] = []
    reference: bool = Field(False, description="true for the family's BF16 reference")
    published: float | None = Field(None, description="the publisher's score, shown, never gated on")
    published_settings: dict[str, Any] | None = Field(
        None,
        description="what the published number was measured under (temperature, top_p, max_tokens, repeats, "
        "thinking, num_fewshot, source); a field left out was not stated",
    )
    published_differences: list[str] = Field(
        [], description="settings of this run that differ from the published number's"
    )
    published_comparable: bool | None = Field(
        None,
        description="false when a setting that moves the score (temperature, top-p, max tokens, thinking, "
        "shots) differs from the published number's; None without published settings",
    )
    waiver: str | None = Field(None, description="reason a known regression is accepted (an expected failure)")
    family_description: str | None = Field(None, description="the catalogue's description of the family")
    published_source: str | None = Field(None, description="where the family's published numbers come from")
    variant_description: str | None = Field(None, description="the catalogue's description of the variant")
    status: Status | None = Field(
        None, description="quantgate's decision (waived and skipped are read from the outcome, never written)"
    )
    outcome: Literal["passed", "failed", "skipped", "error"] | None = Field(
        None, description="pytest's outcome (an xfail is skipped; error: the test failed in its setup)"
    )
    message: str | None = None
    score: float | None = None
    baseline: float | None = None
    delta: float | None = Field(None, description="score - baseline")
    mode: Literal["non-inferiority", "absolute", "relative"] | None = None
    rule: str | None = None
    allowed_drop: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    ci_level: float | None = Field(None, description="two-sided level, 0.9 by default")
    p_value: float | None = None
    method: str | None = Field(None, description="mcnemar or bootstrap")
    clusters: int | None = Field(None, description="groups the errors were clustered over (MMLU subjects)")
    lost: int | None = Field(None, description="items BF16 got right and the variant wrong")
    gained: int | None = Field(None, description="items the variant got right and BF16 wrong")
    n: int | None = None
    mdd: float | None = Field(None, description="minimum detectable drop at 80% power")
    mdd_single_sample: float | None = Field(
        None,
        description="with repeats: the minimum detectable drop of the same gate on each item's first sample "
        "alone (k = 1), from this run",
    )
    sampling: SamplingInfo | None = None
    reasoning: ReasoningInfo | None = None
    underpowered: bool | None = None
    unchanged_pass: float | None = Field(
        None, description="chance that a variant with no true change passes this gate (normal approximation)"
    )
    drop_blocked_95: float | None = Field(
        None, description="smallest true drop, in score units and the bad direction, blocked with 95% probability"
    )
    metric: str | None = None
    higher_is_better: bool = Field(True, description="the metric's direction (false for perplexities)")
    metrics: dict[str, float] = {}
    flags: list[str] = []
    groups: dict[str, Group] = {}
    invalid: int | None = None
    task_version: str | None = None
    dataset_fingerprint: str | None = None
    wall_s: float | None = None
    load_s: float | None = None
    loaded: bool = False
    duration_s: float | None = None
    tokens: int | None = None
    tokens_per_s: float | None = None
    gpu_peak_mib: float | None = None
    serving: Serving | None = Field(None, description="request latency and throughput of a served variant")
    data_parallel_size: int | None = Field(
        None, description="engine replicas that served this test's requests, each on its own GPUs (absent: one engine)"
    )
    format: dict[str, Any] | None = Field(
        None, description="quant_method, bits, group_size, activations, and the kernel the engine chose (kernel)"
    )
    notes: list[str] = []
    worker: str | None = None
    cuda_visible_devices: str | None = None
    baseline_file: str | None = None
    items_file: str | None = None
    flips: Flips | None = None
    moved: Moved | None = Field(None, description="change since the history's last run (--history)")
    comparison: Comparison | None = Field(
        None,
        description="which reference results the gate compared with: this session's reference run, a stored "
        "baseline of this environment, the reference's cached results, the reference scored first for this "
        "test, or (--cross-environment) a stored baseline of another environment",
    )
    noise_absorbed: int | None = Field(
        None, description="flips not counted because the reference scored that item differently by itself"
    )
    reference_unstable: int | None = Field(
        None, description="compared items the reference has scored differently across its recorded runs"
    )
    environment: dict[str, Any] | None = Field(
        None, description="this run's environment key: engine, version, device model, batch-invariant mode"
    )
    shard: str | None = Field(None, description="the report this entry came from (merged reports)")

    @model_validator(mode="before")
    @classmethod
    def _direction_of_older_files(cls, data: Any) -> Any:
        """Files written before the direction was recorded: perplexities are the lower-is-better metrics."""
        if isinstance(data, dict) and "higher_is_better" not in data and data.get("metric"):
            return {**data, "higher_is_better": not str(data["metric"]).endswith("perplexity")}
        return data

    @property
    def name(self) -> str:
        return self.id

    def format_text(self) -> str:
        f = self.format or {}
        bits = f"{f['bits']}-bit" if f.get("bits") else f.get("llama_cpp_type")
        group = f"group {f['group_size']}" if f.get("group_size") else None
        parts = [str(p) for p in (f.get("quant_method"), f.get("algorithm"), bits, group, f.get("activations")) if p]
        kernel = "; ".join(f.get("kernel") or [])
        return " ".join(parts) + (f" [{kernel}]" if kernel else "")

    def interval_text(self, fmt: str = "+.4f") -> str:
        """The interval of the change against BF16, ``[low, high]``, or "" when there is none."""
        if self.ci_low is None or self.ci_high is None:
            return ""
        return f"[{self.ci_low:{fmt}}, {self.ci_high:{fmt}}]"

    def lost_gained_text(self) -> str:
        return "" if self.lost is None else f"{self.lost} / {self.gained}"

    @property
    def variant_key(self) -> str:
        return f"{self.family}-{self.variant}"


class ErrorEntry(_Frozen):
    """A test that errored before quantgate decided it."""

    nodeid: str
    outcome: Literal["error"]
    message: str | None = None
    shard: str | None = None

    @property
    def name(self) -> str:
        return self.nodeid


Entry = Union[TestResult, ErrorEntry]


class RunState(_Frozen):
    """Whether the run finished: an incomplete run has no release verdict."""

    complete: bool
    reason: str | None = Field(
        description="why the run has no verdict (interrupted, no test selected, tests that did not report)"
    )
    state: Literal["running", "finished"] | None = None
    exitstatus: int | None = None
    selected: int | None = None
    not_run: list[str] = Field([], description="selected tests that reported no result")


class ResultsFile(_Frozen):
    """What one pytest run (or a merge of CI shards) decided. Written atomically at the end of the run."""

    created: str
    command: list[str] = Field(description="pytest's arguments")
    environment: dict[str, Any] = Field(description="platform, GPU, driver, CUDA and package versions")
    engine_loads: dict[str, int] = Field(description="engine loads per <family>-<variant>: 1 each in a healthy run")
    run: RunState | None = None
    engine_releases: list[dict[str, Any]] = []
    merged_from: list[str] | None = Field(None, description="the shard files (merged reports)")
    results: list[Entry]

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)


UNION_TAGS = ("TestResult", "ErrorEntry")


class ResultsFileError(ValueError):
    """A results file that cannot be read or does not follow the model."""


def parse_results(data: Any, source: str = "results.json") -> ResultsFile:
    """Raise ResultsFileError naming the file and the first offending key."""
    try:
        return ResultsFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]  # for an entry: its error as an accuracy test's entry
        where = "/".join(str(part) for part in first["loc"] if part not in UNION_TAGS) or "(top level)"
        raise ResultsFileError(f"{source}: {where}: {first['msg']}") from None


def read_results(path: Path) -> ResultsFile:
    """A run's results.json (``path`` is the file or its report directory)."""
    file = path / "results.json" if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsFileError(f"{file}: no such file (did the run write its report there?)") from None
    except json.JSONDecodeError as exc:
        raise ResultsFileError(f"{file}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    return parse_results(data, str(file))


def results_schema() -> dict[str, Any]:
    """The JSON Schema published as quantgate/schemas/results.schema.json."""
    schema = ResultsFile.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://quantgate.invalid/results.schema.json",
        "title": "quantgate results.json",
        **{k: v for k, v in schema.items() if k != "title"},
    }

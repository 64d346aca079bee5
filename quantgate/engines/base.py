"""The engine interface every backend implements: greedy generation and log-probability scoring."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from quantgate.records import (
    Generation,
    GenerationRequest,
    LoglikelihoodRequest,
    NextTokenRequest,
    RollingLoglikelihoodRequest,
)


@dataclass(frozen=True)
class EngineInfo:
    """What served the requests; stored with results and baselines."""

    name: str
    """Backend, e.g. ``"vllm"``."""
    version: str
    """Backend version."""
    device: str
    """``"cuda"`` or ``"cpu"``."""
    device_name: str
    """GPU or CPU model."""
    settings: dict[str, Any] = field(default_factory=dict)
    """Engine arguments the model was loaded with."""


@dataclass
class TokenCount:
    """Tokens an engine has processed since it loaded (prompts in full, even when prefix-cached)."""

    prompt: int = 0
    generated: int = 0

    @property
    def total(self) -> int:
        return self.prompt + self.generated


@dataclass(frozen=True)
class Release:
    """Evidence that a closed engine gave its memory back."""

    seconds: float
    """Time from close to confirmed release."""
    processes_exited: int
    """Engine processes that were waited for."""
    gpu_used_mib_before_load: float | None
    """Device memory in use before the engine loaded (None without a GPU)."""
    gpu_used_mib_after_close: float | None
    """Device memory in use once released (None without a GPU)."""


class Engine(Protocol):
    """A loaded model. Each method takes a whole benchmark's requests as one batch."""

    info: EngineInfo
    load_s: float

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Generation (greedy, or sampled at the request's temperature, top-p and seed), stopped by
        max_tokens or a stop string."""
        ...

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[float]:
        """Summed log-probability of each continuation given its context."""
        ...

    def next_token_logprobs(self, requests: Sequence[NextTokenRequest]) -> list[dict[str, float]]:
        """Log-probability of each single-token candidate as the token after the context."""
        ...

    def loglikelihood_rolling(self, requests: Sequence[RollingLoglikelihoodRequest]) -> list[float]:
        """Log-probability of each whole document."""
        ...

    def close(self) -> Release:
        """Free the model and confirm its memory is released."""
        ...

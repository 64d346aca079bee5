"""The options of one run, as the plugin reads them from pytest's command line and ini file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class Settings:
    """Options of one run."""

    baselines_dir: Path
    report_dir: Path
    cache_dir: Path
    limit: int | None = None
    """Overrides every benchmark's item limit."""
    update_baselines: bool = False
    """Record (and replace) the reference variant's baselines."""
    record_missing_baselines: bool = False
    """Record the reference variant's baselines where none exist; never replace one."""
    progress: bool = False
    use_cache: bool = True
    """Keep per-item results in ``cache_dir/results`` and reuse them (``--no-cache`` turns it off)."""
    cross_environment: bool = False
    """Compare with a stored baseline from another environment instead of scoring the reference here."""
    request_order: int | None = None
    """Send each batch of requests shuffled by this seed (a rerun that measures batch-order noise)."""
    data_parallel: int | Literal["auto"] | None = None
    """Engine replicas of every in-process vLLM variant (``--data-parallel``); None: the catalogue's."""

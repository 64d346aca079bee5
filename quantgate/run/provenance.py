"""What a result depends on and where it was made: a variant's fingerprint, the engine's provenance,
and the notes a release engineer reads when a baseline was recorded elsewhere or replaced."""

from __future__ import annotations

from pathlib import Path

from quantgate.baselines.reference import environment_differences
from quantgate.baselines.store import Baseline, BaselineFile
from quantgate.catalogue.model import Case, Variant
from quantgate.checkpoints.embedded import embedded_path
from quantgate.engines import EngineInfo
from quantgate.engines.determinism import batch_invariant
from quantgate.engines.device import device_name
from quantgate.engines.vllm_engine import effective_engine_args, installed_version
from quantgate.gate.decision import GateResult
from quantgate.records import Metric

MACHINE_FACTS = (
    ("engine version", ("engine", "version")),
    ("device", ("engine", "device_name")),
    ("quantgate version", ("software", "quantgate")),
)


def variant_fingerprint(variant: Variant, cache_dir: Path) -> dict:
    """What a variant's results depend on, known before loading it: checkpoint (with the files of a
    local one), engine arguments, engine version and device."""
    checkpoint = variant.checkpoint
    local = checkpoint.path or (str(embedded_path(cache_dir, checkpoint.embedded)) if checkpoint.embedded else None)
    files = []
    if local and Path(local).is_dir():
        files = sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in Path(local).iterdir() if f.is_file())
    served = {"server": variant.server.model_dump(exclude_none=True)} if variant.server else {}
    return {
        **served,
        "checkpoint": checkpoint.model_dump(exclude_none=True),
        "files": files,
        "engine_args": effective_engine_args(variant.engine_args),
        "engine": ["vllm", installed_version()],
        "device": device_name(),
        "vllm_batch_invariant": batch_invariant(),
    }


def engine_provenance(info: EngineInfo) -> dict:
    """The engine and determinism sections of a provenance record."""
    return {
        "engine": {
            "name": info.name,
            "version": info.version,
            "device": info.device,
            "device_name": info.device_name,
            "args": info.settings,
        },
        "determinism": {
            "sampling": "greedy (temperature 0)",
            "seed": info.settings.get("seed"),
            "vllm_batch_invariant": batch_invariant(),
        },
    }


def drift_note(case: Case, gate: GateResult, baseline: Baseline, provenance: dict) -> str:
    """The reference against its stored baseline: how far it drifted beyond its recorded noise."""
    c = gate.comparison
    where = "; ".join(environment_differences(baseline.data.provenance, provenance)) or "the same environment"
    return (
        f"{case.id}: the reference drifted from {baseline.path} beyond its recorded noise: {c.lost} item(s) lost, "
        f"{c.gained} gained, delta {c.delta:+.4f}, {c.level:.0%} CI [{c.ci_low:+.4f}, {c.ci_high:+.4f}] "
        f"({where}); variants are compared with reference results of this environment"
    )


def machine_differences(recorded: dict, current: dict) -> list[str]:
    """What differs between the machine a baseline was recorded on and this run's: results stay
    comparable, but a release engineer should know (a warning, not a refusal)."""
    notes = []
    for name, (section, key) in MACHINE_FACTS:
        old, new = recorded.get(section, {}).get(key), current.get(section, {}).get(key)
        if old != new:
            notes.append(f"baseline recorded with {name} {old}, this run has {new}")
    engine_args = [d for d in environment_differences(recorded, current) if d.startswith("engine argument")]
    return notes + [f"baseline recorded with another {d}" for d in engine_args]


def describe_update(old: Baseline, new: BaselineFile, metric: Metric) -> str:
    """Old-vs-new diff of a replaced baseline: score, items whose scores changed, items added or dropped."""
    before = old.data
    value = metric.item_value
    shared = [i for i in new.items if i in before.items]
    changed = sum(1 for i in shared if value(new.items[i].scores) != value(before.items[i].scores))
    prompts = sum(1 for i in shared if new.items[i].prompt_sha != before.items[i].prompt_sha)
    parts = [
        f"replaced: {before.metric} {before.score:.4f} -> {new.score:.4f} (n {before.n} -> {new.n})",
        f"{changed} of {len(shared)} shared items scored differently",
    ]
    if prompts:
        parts.append(f"{prompts} prompts changed")
    if len(new.items) != len(shared) or len(before.items) != len(shared):
        parts.append(f"{len(new.items) - len(shared)} items added, {len(before.items) - len(shared)} dropped")
    if before.dataset.fingerprint != new.dataset.fingerprint:
        parts.append("dataset changed")
    if before.task_version != new.task_version:
        parts.append(f"task version {before.task_version} -> {new.task_version}")
    parts += machine_differences(before.provenance, new.provenance)
    return "; ".join(parts)

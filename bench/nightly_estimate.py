"""Per-test figures of a nightly bench run, their linear extrapolation to full size, and the
estimate of a whole family's nightly from them. Pure functions over plain dictionaries: no vLLM,
no pytest, so the arithmetic is unit-tested on its own (tests/unit/test_nightly_bench.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# The catalogue's seven Qwen3-8B variants, and the measured variant whose speed stands in for one
# that was not measured: the FP8 and INT8 checkpoints run W8A8-style kernels like vLLM's own FP8
# (an assumption: INT8 uses CUTLASS int8 GEMMs, not FP8 ones), the 4-bit ones as fast as BF16
# (an assumption: Marlin decodes faster and prefills slower than BF16).
VARIANTS = ("bf16", "fp8-static", "fp8-dynamic", "int8-dynamic", "int4-gptq", "int4-awq", "fp8-engine")
PROXY = {
    "fp8-static": "fp8-engine",
    "fp8-dynamic": "fp8-engine",
    "int8-dynamic": "fp8-engine",
    "int4-gptq": "bf16",
    "int4-awq": "bf16",
    "fp8-engine": "bf16",
}
MODES = ("compiled", "eager")


def figures(entry: Mapping[str, Any], items: int, full_items: int, generated: int | None, mode: str) -> dict:
    """One test's figures from its results.json entry, with the full-size columns extrapolated
    linearly in items (``items`` scored of ``full_items``); load time is kept apart."""
    wall, tokens = entry.get("wall_s"), entry.get("tokens")
    scale = full_items / items if items else None
    row = {
        "id": entry["id"], "variant": entry["variant"], "benchmark": entry["benchmark"], "mode": mode,
        "status": entry.get("status") or entry.get("outcome"), "items": items, "full_items": full_items,
        "fraction": round(items / full_items, 4) if full_items else None, "load_s": entry.get("load_s"),
        "wall_s": wall, "pytest_s": entry.get("duration_s"), "tokens": tokens,
        "generated_tokens": generated, "prompt_tokens": tokens - (generated or 0) if tokens is not None else None,
        "tokens_per_s": entry.get("tokens_per_s"), "gpu_peak_mib": entry.get("gpu_peak_mib"),
    }  # fmt: skip
    row["full_wall_s_linear"] = round(wall * scale, 1) if wall is not None and scale else None
    row["full_tokens_linear"] = round(tokens * scale) if tokens is not None and scale else None
    return row


def _measured(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, str], float]:
    """(variant, mode, benchmark) -> full-size wall (linear), for the tests that produced one; of
    several measurements of one test, the one that scored the most items (the first of equals)."""
    best: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    for r in rows:
        if r.get("full_wall_s_linear") is None or r.get("status") in ("error", None):
            continue
        key = (r["variant"], r["mode"], r["benchmark"])
        if key not in best or r["items"] > best[key]["items"]:
            best[key] = r
    return {key: float(r["full_wall_s_linear"]) for key, r in best.items()}


def _loads(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], float]:
    """(variant, mode) -> load time, the first measured."""
    loads: dict[tuple[str, str], float] = {}
    for r in rows:
        if r.get("load_s") is not None:
            loads.setdefault((r["variant"], r["mode"]), float(r["load_s"]))
    return loads


def _ratio(
    walls: Mapping[tuple[str, str, str], float], a: tuple[str, str], b: tuple[str, str]
) -> tuple[float, list[str]] | None:
    """Sum of a's walls over sum of b's, over the benchmarks both measured: (ratio, those benchmarks)."""
    common = sorted({k[2] for k in walls if k[:2] == a} & {k[2] for k in walls if k[:2] == b})
    if not common:
        return None
    num, den = (sum(walls[(*x, bench)] for bench in common) for x in (a, b))
    return (num / den, common) if den > 0 else None


def _bf16(walls: Mapping, mode: str, bench: str) -> tuple[float, str] | None:
    """BF16's full-size wall in ``mode``, measured or from the other mode by the measured mode ratio."""
    if ("bf16", mode, bench) in walls:
        return walls[("bf16", mode, bench)], "measured"
    other = next(m for m in MODES if m != mode)
    ratio = _ratio(walls, ("bf16", mode), ("bf16", other))
    if ("bf16", other, bench) in walls and ratio:
        value, common = ratio
        return walls[
            ("bf16", other, bench)
        ] * value, f"bf16 {other} x {value:.2f} ({mode}/{other} on {', '.join(common)})"
    return None


def _same_run_ratio(
    rows: Sequence[Mapping[str, Any]], a: tuple[str, str], b: tuple[str, str]
) -> tuple[float, str] | None:
    """a's walls over b's measured in one run (the same machine, the same minutes), from the run
    with the most benchmarks in common."""
    best: tuple[float, list[str], str] | None = None
    for run in dict.fromkeys(r["run"] for r in rows if r.get("run") is not None):
        ratio = _ratio(_measured(r for r in rows if r.get("run") == run), a, b)
        if ratio and (best is None or len(ratio[1]) > len(best[1])):
            best = (*ratio, str(run))
    return (best[0], f"on {', '.join(best[1])}, one run ({best[2]})") if best else None


def _speed(rows: Sequence[Mapping[str, Any]], walls: Mapping, variant: str, mode: str) -> tuple[float, str]:
    """How a variant's walls compare with BF16's: its own measured ratio (this mode, else the other),
    else its proxy's, else 1 (assumed as fast as BF16). A ratio comes from one run where one run
    measured both, else across runs."""
    chain = [variant]
    while chain[-1] in PROXY and PROXY[chain[-1]] != "bf16":
        chain.append(PROXY[chain[-1]])
    for candidate in chain:
        for m in (mode, *(x for x in MODES if x != mode)):
            same = _same_run_ratio(rows, (candidate, m), ("bf16", m))
            if same:
                return same[0], f"{candidate}/bf16 {m} ratio {same[0]:.2f} {same[1]}"
            across = _ratio(walls, (candidate, m), ("bf16", m))
            if across:
                value, common = across
                return value, f"{candidate}/bf16 {m} ratio {value:.2f} on {', '.join(common)}, across runs"
    return 1.0, "assumed as fast as bf16 (nothing measured for it or its proxy)"


def family_estimate(
    rows: Sequence[Mapping[str, Any]], benchmarks: Sequence[str], variants: Sequence[str] = VARIANTS
) -> dict[str, Any]:
    """The whole family's nightly wall per engine mode: each variant's load plus each benchmark's
    full-size wall, measured where a run measured it, else derived (every cell says how)."""
    walls, loads = _measured(rows), _loads(rows)
    out: dict[str, Any] = {}
    for mode in MODES:
        cells, total, missing = {}, 0.0, []
        for variant in variants:
            load = (
                loads.get((variant, mode)) or loads.get((PROXY.get(variant, "bf16"), mode)) or loads.get(("bf16", mode))
            )
            load_basis = "measured" if (variant, mode) in loads else "load of its proxy or bf16 in this mode"
            if load is None:
                missing.append(f"{variant} load ({mode})")
                load = 0.0
            per_bench, speed = {}, None
            for bench in benchmarks:
                if (variant, mode, bench) in walls:
                    per_bench[bench] = {
                        "s": round(walls[(variant, mode, bench)], 1),
                        "basis": "measured (linear to full size)",
                    }
                    continue
                base = _bf16(walls, mode, bench)
                if base is None:
                    missing.append(f"{variant} {bench} ({mode})")
                    continue
                speed = speed or _speed(rows, walls, variant, mode)
                basis = base[1] if variant == "bf16" else f"bf16 ({base[1]}) x {speed[1]}"
                per_bench[bench] = {"s": round(base[0] * speed[0], 1), "basis": basis}
            seconds = load + sum(c["s"] for c in per_bench.values())
            cells[variant] = {"load_s": round(load, 1), "load_basis": load_basis, "benchmarks": per_bench,
                              "total_s": round(seconds, 1)}  # fmt: skip
            total += seconds
        out[mode] = {"variants": cells, "total_s": round(total, 1), "total_min": round(total / 60, 1),
                     "missing": missing}  # fmt: skip
    complete = [m for m in MODES if not out[m]["missing"]]
    out["faster_mode"] = min(complete, key=lambda m: out[m]["total_s"]) if complete else None
    return out

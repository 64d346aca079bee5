"""Keep only what the gate reads from a run's per-item files: item id, group, scores and prompt hash.

    python tools/strip_items.py ../shared/evidence/embedded-amd-epyc/items fixtures/evidence/amd-epyc-avx512

Prompts, outputs and targets are dropped (they are dataset text, which the repository does not
copy); the result is small enough to commit as evidence of another machine's numbers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

KEEP = ("id", "group", "scores", "prompt_sha")


def main(source: Path, target: Path) -> int:
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.jsonl")):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        kept = "".join(json.dumps({k: row[k] for k in KEEP}, ensure_ascii=False) + "\n" for row in rows)
        (target / path.name).write_text(kept, encoding="utf-8")
        print(f"{target / path.name}: {len(rows)} items")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))

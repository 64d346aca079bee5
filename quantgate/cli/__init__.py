"""The ``quantgate`` command: the project's tools under one name (``[project.scripts]``).

    quantgate merge reports/shard-* --out reports/merged
    quantgate power family smollm2-135m
    quantgate catalogue check -k qwen3-8b
    quantgate --help

Each command is a module of this package (``python -m quantgate.cli.merge`` runs the same); the gate
itself is pytest.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

COMMANDS = {
    "merge": ("quantgate.cli.merge", "merge CI shards' reports into one report and one gate"),
    "trend": ("quantgate.cli.trend", "a trend page from a run history"),
    "power": ("quantgate.cli.power", "detectable drops, the n a margin needs, a family's release-level error rates"),
    "noise-floor": ("quantgate.cli.noise_floor", "rerun the BF16 references against their own baselines"),
    "reruns": ("quantgate.cli.reruns", "record a rerun of a family's reference in its baselines as noise"),
    "build-embedded": ("quantgate.cli.build_embedded", "build the embedded smollm2-135m family into the cache"),
    "catalogue": ("quantgate.cli.catalogue", "check: resolve every checkpoint and dataset the tests need on the hub"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    return "usage: quantgate COMMAND [ARGS...]   (quantgate COMMAND --help for its options)\n\ncommands:\n" + "\n".join(
        lines
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else 2
    if args[0] not in COMMANDS:
        print(f"quantgate: unknown command {args[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[args[0]][0])
    return int(module.main(args[1:]))


if __name__ == "__main__":
    sys.exit(main())

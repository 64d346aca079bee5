"""What the catalogue asks of the hub, checked before a run: every checkpoint and dataset the selected tests need.

    quantgate catalogue check [--catalogue catalogue/] [-k qwen3-8b]

On a runner with hub access this resolves, with metadata calls only (seconds, nothing downloaded),
each checkpoint (repository, revision, config and weights or the GGUF file named, a hub tokenizer)
and each dataset (repository, revision, every configuration and split read) and lists what is
missing. Exits 0 when everything resolved, 1 when something is missing, 2 when it could not check
(offline: HF_HUB_OFFLINE=1, or the hub unreachable); it never passes without checking.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from quantgate.catalogue.loader import load_catalogue
from quantgate.catalogue.model import Catalogue
from quantgate.catalogue.preflight import HubApi, Unreachable, check, exit_code, render, wanted
from quantgate.data.hub import offline
from quantgate.errors import CatalogueError


def hub_api() -> HubApi:
    from huggingface_hub import HfApi

    return HfApi()


def check_main(argv: Sequence[str], api: Callable[[], HubApi] = hub_api) -> int:
    parser = argparse.ArgumentParser(prog="quantgate catalogue check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalogue", type=Path, action="append", help="catalogue file or directory (repeatable)")
    parser.add_argument("-k", dest="select", help="only tests whose id contains this text")
    parser.add_argument("--workers", type=int, default=8, help="hub calls in flight at once")
    args = parser.parse_args(argv)
    try:
        catalogue = load_catalogue(args.catalogue or [Path("catalogue")])
    except CatalogueError as exc:
        print(f"quantgate catalogue check: {exc}", file=sys.stderr)
        return 2
    if args.select:
        catalogue = Catalogue(tuple(c for c in catalogue.cases if args.select in c.id), catalogue.files)
    if not catalogue.cases:
        print(f"quantgate catalogue check: no test id contains {args.select!r}", file=sys.stderr)
        return 2
    if offline():
        print(
            "quantgate catalogue check: cannot check: offline mode is on (HF_HUB_OFFLINE); nothing was "
            "resolved. Run it where the hub can be reached, with HF_HUB_OFFLINE unset.",
            file=sys.stderr,
        )
        return 2
    try:
        findings = check(wanted(catalogue), api(), workers=args.workers)
    except Unreachable as exc:
        print(f"quantgate catalogue check: cannot check: the hub cannot be reached ({exc})", file=sys.stderr)
        return 2
    print(render(findings, len(catalogue.cases)))
    return exit_code(findings)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "check":
        print("usage: quantgate catalogue check [--catalogue PATH] [-k TEXT]", file=sys.stderr)
        return 0 if args[:1] in (["-h"], ["--help"]) else 2
    return check_main(args[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

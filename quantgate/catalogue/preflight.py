"""What a run will ask the hub for, checked before any engine loads (``quantgate catalogue check``).

Where the hub can be reached, every selected checkpoint (repository, revision, config and weights,
or the GGUF file it names; a hub tokenizer it names) and every dataset (repository, revision, each
configuration and split the benchmark reads, in the layout ``datasets`` will read) is resolved
with metadata calls only: nothing is downloaded. Offline nothing can be checked, and the check
says so rather than passing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from quantgate.benchmarks import REGISTRY
from quantgate.catalogue.model import Catalogue
from quantgate.catalogue.spec import Checkpoint
from quantgate.data.hub import HubSource, is_data_file, script_advice, script_only

Kind = Literal["checkpoint", "tokenizer", "dataset"]
Status = Literal["found", "missing", "unknown"]


class HubApi(Protocol):
    """The two ``huggingface_hub.HfApi`` calls the check makes."""

    def model_info(self, repo_id: str, *, revision: str | None = None) -> Any: ...

    def dataset_info(self, repo_id: str, *, revision: str | None = None) -> Any: ...


class Unreachable(Exception):
    """The hub cannot be reached: nothing can be checked."""


@dataclass(frozen=True)
class Entry:
    """One thing the run asks the hub for, and the tests that need it."""

    kind: Kind
    repo: str
    revision: str | None
    file: str | None = None
    """A checkpoint's GGUF file."""
    source: HubSource | None = None
    """A dataset's source (configurations and splits read)."""
    verified: bool = True
    """False for catalogue ids no source confirmed (``verified: false``)."""

    @property
    def label(self) -> str:
        at = f" @ {self.revision}" if self.revision else ""
        what = f" file {self.file}" if self.file else ""
        if self.source is not None:
            reads = ", ".join(f"{c}/{s}" if c else s for c, s in self.source.reads()[:4])
            more = f" and {len(self.source.reads()) - 4} more" if len(self.source.reads()) > 4 else ""
            what = f" ({reads}{more})"
        return f"{self.kind} {self.repo}{at}{what}" + ("" if self.verified else " [unverified id]")


@dataclass(frozen=True)
class Finding:
    entry: Entry
    status: Status
    detail: str
    """Why it is missing, or the commit it resolved to."""
    used_by: tuple[str, ...]


def wanted(catalogue: Catalogue) -> dict[Entry, tuple[str, ...]]:
    """Every hub entry the selected cases need, with the test ids that need it."""
    needs: dict[Entry, list[str]] = {}
    for case in catalogue.cases:
        entries = [_checkpoint(case.variant.checkpoint), _checkpoint(case.variant.reference_checkpoint)]
        tokenizer = case.variant.engine_args.get("tokenizer")
        if case.variant.llama_cpp is not None and case.variant.llama_cpp.tokenizer:
            tokenizer = case.variant.llama_cpp.tokenizer
        if isinstance(tokenizer, str) and tokenizer.count("/") == 1 and not Path(tokenizer).exists():
            entries.append(Entry("tokenizer", tokenizer, case.variant.engine_args.get("tokenizer_revision")))
        source = case.source if case.source is not None else REGISTRY[case.task].hub
        if isinstance(source, HubSource):
            entries.append(Entry("dataset", source.path, source.revision, source=source))
        for entry in entries:
            if entry is not None:
                needs.setdefault(entry, []).append(case.id)
    return {entry: tuple(dict.fromkeys(ids)) for entry, ids in needs.items()}


def _checkpoint(checkpoint: Checkpoint) -> Entry | None:
    if checkpoint.hub is None:
        return None
    return Entry("checkpoint", checkpoint.hub, checkpoint.revision, checkpoint.file, verified=checkpoint.verified)


def check(needs: dict[Entry, tuple[str, ...]], api: HubApi, workers: int = 8) -> list[Finding]:
    """Resolve every entry (in parallel: metadata calls only); raise Unreachable when the hub cannot be reached."""

    def one(entry: Entry) -> Finding:
        status, detail = _resolve(entry, api)
        return Finding(entry, status, detail, needs[entry])

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, needs))


def _resolve(entry: Entry, api: HubApi) -> tuple[Status, str]:
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    call = api.dataset_info if entry.kind == "dataset" else api.model_info
    try:
        info = call(entry.repo, revision=entry.revision)
    except GatedRepoError:
        return "missing", "gated: accept its terms on the hub with the account whose HF_TOKEN the runner uses"
    except RepositoryNotFoundError:
        return "missing", "no such repository (or a private one this token cannot see)"
    except RevisionNotFoundError:
        return "missing", f"the repository has no revision {entry.revision!r}"
    except HfHubHTTPError as exc:  # another answer from the hub (a 5xx): this entry stays unchecked
        return "unknown", f"the hub answered {exc}"
    except (OfflineModeIsEnabled, ConnectionError) as exc:
        raise Unreachable(f"{type(exc).__name__}: {exc}") from exc
    except Exception as exc:  # httpx's transport errors, and anything else: never a silent pass
        if any(word in type(exc).__name__.lower() for word in ("connect", "timeout", "network", "transport")):
            raise Unreachable(f"{type(exc).__name__}: {exc}") from exc
        return "unknown", f"{type(exc).__name__}: {exc}"
    files = [s.rfilename for s in (getattr(info, "siblings", None) or [])]
    problem = _dataset_problem(entry, info, files) if entry.source is not None else _model_problem(entry, files)
    return ("missing", problem) if problem else ("found", f"revision {info.sha}")


def _model_problem(entry: Entry, files: Sequence[str]) -> str | None:
    if entry.file is not None:
        if entry.file in files:
            return None
        ggufs = [f for f in files if f.endswith(".gguf")]
        return f"has no file {entry.file}" + (f"; its GGUF files: {', '.join(ggufs)}" if ggufs else "")
    if entry.kind == "tokenizer":
        ok = any(f in files for f in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model"))
        return None if ok else "has no tokenizer files (tokenizer.json, tokenizer_config.json)"
    if "config.json" not in files:
        return "has no config.json: not a checkpoint vLLM can load"
    if not any(f.endswith((".safetensors", ".bin")) for f in files):
        return "has no weights (*.safetensors, *.bin)"
    return None


def _dataset_problem(entry: Entry, info: Any, files: Sequence[str]) -> str | None:
    source = entry.source
    assert source is not None
    script = script_only(list(files))
    if script is not None:
        return script_advice(source, script).split(": ", 1)[1]
    card = info.card_data.to_dict() if getattr(info, "card_data", None) is not None else {}
    try:
        layout = dataset_layout(files, card)
    except (KeyError, TypeError, AttributeError) as exc:
        return f"its card's configs: cannot be read ({type(exc).__name__}: {exc}); datasets will not read them either"
    if not layout:
        return "has no data files datasets can read"
    problems = []
    for config, split in source.reads():
        name = config or ("default" if "default" in layout or len(layout) != 1 else next(iter(layout)))
        if name not in layout:
            problems.append(f"no configuration {name!r} (it has {_some(layout)})")
            continue
        patterns = [data] if (data := (source.data_files(config, split) or {}).get(split)) else layout[name].get(split)
        if patterns is None:
            problems.append(f"configuration {name!r} has no split {split!r} (it has {_some(layout[name])})")
        elif not any(matches(p, files) for p in patterns):
            problems.append(f"no file of {name}/{split} matches {', '.join(patterns)}")
    return "; ".join(dict.fromkeys(problems)) or None


def _some(names: Iterable[str], n: int = 8) -> str:
    names = list(names)
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def dataset_layout(files: Sequence[str], card: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Configuration -> split -> file patterns, as ``datasets`` reads a repository without a
    script: the card's ``configs:`` where it has them, else one ``default`` configuration whose
    splits datasets infers from the file names (its own rules)."""
    layout: dict[str, dict[str, list[str]]] = {}
    for config in card.get("configs") or []:
        data_files = config.get("data_files")
        prefix = f"{config['data_dir'].strip('/')}/" if config.get("data_dir") else ""
        if data_files is None:
            layout[config.get("config_name", "default")] = _inferred(files, prefix)
            continue
        if isinstance(data_files, str) or not all(isinstance(item, dict) for item in data_files):
            data_files = [{"split": "train", "path": data_files}]
        splits: dict[str, list[str]] = {}
        for item in data_files:
            paths = item["path"] if isinstance(item["path"], list) else [item["path"]]
            splits.setdefault(item["split"], []).extend(prefix + p for p in paths)
        layout[config.get("config_name", "default")] = splits
    return layout or ({"default": inferred} if (inferred := _inferred(files, "")) else {})


def _inferred(files: Sequence[str], prefix: str) -> dict[str, list[str]]:
    from datasets.data_files import _get_data_files_patterns

    data = [f[len(prefix) :] for f in files if f.startswith(prefix) and is_data_file(f)]

    def resolve(pattern: str) -> list[str]:
        return [f for f in data if matches(pattern, [f])]

    try:
        patterns = _get_data_files_patterns(resolve)
    except FileNotFoundError:
        return {}
    return {str(split): [prefix + p for p in found] for split, found in patterns.items()}


def matches(pattern: str, files: Sequence[str]) -> bool:
    """Whether any path matches a datasets (fsspec) glob: ``**`` crosses directories, ``*`` does not."""
    regex = _glob_regex(pattern.removeprefix("./"))
    return any(regex.fullmatch(f) for f in files if not f.split("/")[-1].startswith("."))


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[" and (end := pattern.find("]", i)) > i:
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def render(findings: Sequence[Finding], tests: int) -> str:
    order: dict[Status, int] = {"missing": 0, "unknown": 1, "found": 2}
    lines = [f"{len(findings)} hub entries for {tests} tests"]
    for f in sorted(findings, key=lambda f: (order[f.status], f.entry.kind, f.entry.repo)):
        shown = ", ".join(f.used_by[:3]) + (f" and {len(f.used_by) - 3} more" if len(f.used_by) > 3 else "")
        lines.append(f"{f.status.upper() if f.status != 'found' else 'found':8} {f.entry.label}: {f.detail}")
        if f.status != "found":
            lines.append(f"         needed by {shown}")
    counts = {s: sum(f.status == s for f in findings) for s in ("missing", "unknown", "found")}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()))
    return "\n".join(lines)


def exit_code(findings: Sequence[Finding]) -> int:
    """0 when everything resolved, 1 when something is missing, 2 when something could not be checked."""
    if any(f.status == "missing" for f in findings):
        return 1
    return 2 if any(f.status == "unknown" for f in findings) else 0

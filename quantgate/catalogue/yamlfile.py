"""Read YAML keeping each key's line number, and refuse duplicate keys (PyYAML keeps the last silently)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from quantgate.errors import CatalogueError

KeyPath = tuple[Any, ...]
MERGE = "tag:yaml.org,2002:merge"


def dotted(path: KeyPath) -> str:
    """``("families", "qwen3-8b", "variants")`` -> ``families.qwen3-8b.variants``; list indices in brackets."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def load_yaml(path: Path) -> tuple[Any, dict[KeyPath, int]]:
    """Parse ``path``; return the data and a map from key path to 1-based line number."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogueError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise CatalogueError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    lines: dict[KeyPath, int] = {}
    if node is None:
        return None, lines
    constructor = yaml.SafeLoader("")
    return _build(node, (), lines, path, constructor), lines


def _build(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], file: Path, loader: yaml.SafeLoader) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE:  # `<<: *anchor`: the anchor's keys, unless the mapping gives them
                merged = _build(value_node, path, {}, file, loader)
                explicit = {loader.construct_object(k) for k, _ in node.value if k.tag != MERGE}
                for source in merged if isinstance(merged, list) else [merged]:
                    out.update({key: value for key, value in source.items() if key not in explicit})
                continue
            key = loader.construct_object(key_node, deep=True)
            here = path + (key,)
            if key in out:
                raise CatalogueError(
                    f"{file}:{key_node.start_mark.line + 1}: {dotted(here)}: duplicate key "
                    f"(first defined on line {lines[here]})"
                )
            lines[here] = key_node.start_mark.line + 1
            out[key] = _build(value_node, here, lines, file, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), lines, file, loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def line_of(lines: dict[KeyPath, int], path: KeyPath) -> int | None:
    """Line of the longest prefix of ``path`` that was seen in the file."""
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None

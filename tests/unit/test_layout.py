"""The package's tree shows its layers: no module over 400 lines, about a dozen modules at the root,
no import cycle between modules or between subpackages."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "quantgate"


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        found[name] = path
    return found


def imports(path: Path, known: set[str]) -> set[str]:
    """quantgate modules ``path`` imports (``from a.b import c`` counts as a.b.c when c is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("quantgate"):
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                found.add(name if name in known else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("quantgate")}
    return found


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph``, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target) :] + [target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def graphs() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    known = modules()
    by_module = {name: imports(path, set(known)) - {name} for name, path in known.items()}
    subpackages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}

    def layer(module: str) -> str | None:
        parts = module.split(".")
        return parts[1] if len(parts) > 1 and parts[1] in subpackages else None

    by_package: dict[str, set[str]] = {}
    for module, targets in by_module.items():
        source = layer(module)
        for target in targets:
            if source and layer(target) and layer(target) != source:
                by_package.setdefault(source, set()).add(str(layer(target)))
    return by_module, by_package


def test_no_module_is_over_400_lines_and_the_root_holds_about_a_dozen():
    long = {
        str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400
    }
    assert long == {}
    assert len(list(PACKAGE.glob("*.py"))) <= 12


def test_no_import_cycle_between_modules_or_between_subpackages():
    by_module, by_package = graphs()
    assert cycle(by_module) is None
    assert cycle(by_package) is None


def test_the_cycle_check_finds_a_cycle():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None

"""The floor plan: seven layers, imports only downwards, modules and classes of a readable
size. Read from the source with ``ast``: every import counts, inside functions and behind
``TYPE_CHECKING`` too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "trending_panel"
LAYERS = ("core", "db", "live", "read", "web", "serve", "ops")
MAX_MODULE_LINES = 500
MAX_CLASS_LINES = 400


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def layer(module: str) -> int | None:
    """The layer of ``trending_panel.<layer>...``; None for the package's own front door."""
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def imports(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, module) of every import of the package in the file, relative ones resolved."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [
                (node.lineno, a.name) for a in node.names if a.name.startswith("trending_panel")
            ]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("trending_panel"):
                out.append((node.lineno, target))
                # `from trending_panel.read import stats`: the module itself
                out += [(node.lineno, f"{target}.{a.name}") for a in node.names]
    return out


def test_every_module_is_in_a_layer():
    loose = [m for m in modules() if m != "trending_panel" and layer(m) is None]
    assert loose == []


def test_no_import_goes_up_a_layer():
    known = modules()
    upward = []
    for module, path in known.items():
        mine = layer(module)
        if mine is None:
            continue  # the package's front door may hand out anything
        for line, target in imports(path, module):
            theirs = layer(target)
            ours = target in known or target.rpartition(".")[0] in known
            if ours and theirs is not None and theirs > mine:
                upward.append(f"{path.relative_to(PACKAGE)}:{line} imports {target}")
    assert upward == []


def test_the_page_html_and_the_cli_stay_apart():
    for line, target in imports(PACKAGE / "ops" / "cli.py", "trending_panel.ops.cli"):
        assert not target.startswith(
            ("trending_panel.web.header", "trending_panel.web.statsview")
        ), line


@pytest.mark.parametrize("module", sorted(modules()))
def test_modules_and_classes_stay_readable(module):
    path = modules()[module]
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{path.name}: split it"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef):
            size = node.end_lineno - node.lineno + 1
            assert size <= MAX_CLASS_LINES, f"{path.name}: class {node.name} has {size} lines"


def test_the_state_knows_no_css():
    """The session and its helpers describe; the views and the header style."""
    for name in ("session", "notes", "live_stats", "viewport", "url", "notebook", "sources"):
        text = (PACKAGE / "web" / f"{name}.py").read_text()
        assert "tp-" not in text, name

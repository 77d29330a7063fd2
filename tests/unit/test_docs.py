"""The documentation names only what exists: every ``trending-panel`` command and flag in
the README and ``docs/`` is one the CLI accepts, every ``TRENDING_*``/``POSTGRES_*``
variable is one the code or the deployment reads, and the README stays short."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from trending_panel.core.settings import COUNTS, DURATIONS, REQUIRED
from trending_panel.ops.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: Where a variable may be read: the package, and the deployment's own files.
READERS = [
    *(ROOT / "src").rglob("*.py"),
    ROOT / "compose.yaml",
    ROOT / "compose.plant.yaml",
    ROOT / "local.env",
    *(ROOT / "docker").rglob("*"),
]


def commands() -> dict[str, set[str]]:
    """Each subcommand and the flags it accepts (the top level's under '')."""
    parser = build_parser()
    out = {"": {flag for a in parser._actions for flag in a.option_strings}}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out[name] = {flag for a in sub._actions for flag in a.option_strings}
    return out


def test_the_readme_is_the_front_page_not_the_manual():
    assert len((ROOT / "README.md").read_bytes()) <= 12 * 1024


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_and_flag_named_exists(page):
    known = commands()
    text = page.read_text()
    for m in re.finditer(r"trending-panel ([a-z-]+)((?:[ ]+(?:--?[a-z][a-z-]*|[^\s`|]+))*)", text):
        command, rest = m.group(1), m.group(2)
        if command not in known:
            continue  # prose: "trending-panel's", the package's name
        for flag in re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", rest):
            assert flag in known[command] | {"-h", "--help"}, (page.name, command, flag)
    for m in re.finditer(r"`trending-panel ([a-z][a-z-]*)", text):
        assert m.group(1) in known, (page.name, m.group(1))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_variable_named_is_read_somewhere(page):
    read = "\n".join(p.read_text(errors="replace") for p in READERS if p.is_file())
    settings = set(REQUIRED) | set(DURATIONS.values()) | set(COUNTS.values())
    for name in set(re.findall(r"\b((?:TRENDING|POSTGRES)_[A-Z_]*[A-Z])\b", page.read_text())):
        if name.endswith("_"):
            continue
        assert name in settings or name in read, (page.name, name)


def test_the_architecture_page_names_every_module_and_no_other():
    """Each layer's table lists exactly that folder's modules (a moved, new or deleted module
    makes the page wrong: this says where)."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    package = ROOT / "src" / "trending_panel"
    named: dict[str, set[str]] = {}
    for section in re.split(r"^#{2,3} ", text, flags=re.M)[1:]:
        layer = section.split(":", 1)[0].strip()
        if (package / layer).is_dir():
            named[layer] = set(re.findall(r"`([a-z0-9_]+\.py)`", section))
    layers = sorted(p.name for p in package.iterdir() if (p / "__init__.py").exists())
    assert sorted(named) == layers
    for layer in layers:
        present = {p.name for p in (package / layer).glob("*.py") if p.name != "__init__.py"}
        assert named[layer] == present, f"docs/architecture.md, layer {layer}"


def _slug(heading: str) -> str:
    """The anchor MkDocs' ``toc`` gives a heading (lower case, words joined by ``-``)."""
    words = re.sub(r"[^\w\s-]", "", heading.strip().lower())
    return re.sub(r"[\s-]+", "-", words).strip("-")


def test_the_readmes_links_into_the_manual_exist():
    """MkDocs checks the manual's own links (``make docs``); the README is outside it."""
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\((docs/[^)#\s]+)(?:#([^)\s]+))?\)", text)
    assert links
    for path, anchor in links:
        target = ROOT / path
        assert target.exists(), path
        if anchor:
            headings = re.findall(r"^#+ (.+)$", target.read_text(), flags=re.M)
            assert anchor in {_slug(h) for h in headings}, f"{path}#{anchor}"

"""Displays: a page's trends of pens saved as ``NAME.toml`` in the ``TRENDING_DISPLAYS`` folder,
opened by ``?display=NAME`` (and ``default.toml`` by a page that asks for nothing)::

    [[trends]]
    pens = ["BR01/TEMP_PV", "BR01/JACKET_TEMP_PV"]   # one or more tag keys
    y_min = 30.0                                     # optional: a fixed y-range
    y_max = 40.0

    [[trends]]
    pens = ["BR01/PH_PV"]
    colors = ["#9467bd"]                             # optional: the pens' colours

Each file is validated entry by entry; a problem names the file, the trend and what is wrong.
Saving writes a temporary file and renames it, so a reader never sees half a display.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trending_panel.core.errors import ConfigError
from trending_panel.core.pens import MAX_TRENDS
from trending_panel.core.variable_file import read_toml

#: A display's name: what ``?display=`` takes and the file's name without ``.toml``.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: The display a page opens when it asks for nothing.
DEFAULT = "default"


@dataclass(frozen=True)
class TrendSpec:
    """One trend of a display: its pens' keys, and its y-range when fixed."""

    pens: tuple[str, ...]
    y_min: float | None = None
    y_max: float | None = None
    #: The pens' colours (``#rrggbb``, in the pens' order; fewer: the rest by their place).
    colors: tuple[str, ...] = ()

    @property
    def y_range(self) -> tuple[float | None, float | None]:
        return self.y_min, self.y_max


@dataclass(frozen=True)
class Display:
    name: str
    trends: tuple[TrendSpec, ...]

    def to_toml(self) -> str:
        """The file's text (strings as TOML basic strings: JSON's escapes are TOML's)."""
        out = [f"# trending-panel display {self.name!r}\n"]
        for trend in self.trends:
            pens = ", ".join(json.dumps(k, ensure_ascii=False) for k in trend.pens)
            out.append(f"\n[[trends]]\npens = [{pens}]\n")
            for side in ("y_min", "y_max"):
                value = getattr(trend, side)
                if value is not None:
                    out.append(f"{side} = {float(value)!r}\n")
            if trend.colors:
                out.append(f"colors = [{', '.join(json.dumps(c) for c in trend.colors)}]\n")
        return "".join(out)


def check_name(name: str) -> str:
    """``name`` if it can name a display, else ``ValueError`` saying what a name is."""
    if not NAME.match(name or ""):
        raise ValueError(
            f"{name[:40]!r} is not a display name (letters, digits, '_', '-', '.'; "
            "at most 64, starting with a letter or digit)"
        )
    return name


class Displays:
    """The folder of displays (``TRENDING_DISPLAYS``)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    @property
    def writable(self) -> bool:
        return os.access(self.folder, os.W_OK | os.X_OK)

    def names(self) -> list[str]:
        """The displays in the folder, by name (unreadable names skipped)."""
        try:
            files = sorted(self.folder.glob("*.toml"))
        except OSError:
            return []
        return [f.stem for f in files if NAME.match(f.stem)]

    def exists(self, name: str) -> bool:
        return NAME.match(name) is not None and (self.folder / f"{name}.toml").is_file()

    def load(self, name: str) -> Display:
        """The display ``name``; ``ConfigError`` naming the file and the problem."""
        check_name(name)
        path = self.folder / f"{name}.toml"
        where = f"display {str(path)!r}"
        if not path.exists():
            raise ConfigError(f"no display named {name!r} in {str(self.folder)!r}")
        data = read_toml(path, where)
        unknown = sorted(set(data) - {"trends"})
        if unknown:
            raise ConfigError(f"{where}: unknown section(s) {', '.join(unknown)}; use [[trends]]")
        entries = data.get("trends")
        if not isinstance(entries, list) or not entries:
            raise ConfigError(f"{where}: no [[trends]] entries")
        if len(entries) > MAX_TRENDS:
            raise ConfigError(f"{where}: {len(entries)} trends; at most {MAX_TRENDS}")
        trends = tuple(_trend(e, f"{where}, trend {n}") for n, e in enumerate(entries, 1))
        return Display(name, trends)

    def save(self, display: Display) -> Path:
        """Write ``display`` (replacing one of the same name) atomically; ``OSError`` when
        the folder cannot be written."""
        check_name(display.name)
        path = self.folder / f"{display.name}.toml"
        fd, temporary = tempfile.mkstemp(prefix=".display-", suffix=".toml", dir=self.folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(display.to_toml())
            os.chmod(temporary, 0o644)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        return path


def _trend(entry: Any, where: str) -> TrendSpec:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a table of settings")
    unknown = sorted(set(entry) - {"pens", "y_min", "y_max", "colors"})
    if unknown:
        raise ConfigError(
            f"{where}: unknown setting(s) {', '.join(unknown)}; use pens, y_min, y_max, colors"
        )
    pens = entry.get("pens")
    if (
        not isinstance(pens, list)
        or not pens
        or not all(isinstance(k, str) and k.strip() for k in pens)
    ):
        raise ConfigError(f'{where}: pens must be a list of tag keys, e.g. pens = ["BR01/TEMP_PV"]')
    limits = []
    for side in ("y_min", "y_max"):
        value = entry.get(side)
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ConfigError(f"{where}: {side} must be a finite number, got {value!r}")
        limits.append(None if value is None else float(value))
    if limits[0] is not None and limits[1] is not None and limits[0] >= limits[1]:
        raise ConfigError(f"{where}: y_min ({limits[0]:g}) must be below y_max ({limits[1]:g})")
    colors = entry.get("colors", [])
    if not isinstance(colors, list) or not all(
        isinstance(c, str) and re.fullmatch(r"#[0-9a-fA-F]{6}", c) for c in colors
    ):
        raise ConfigError(f'{where}: colors must be a list of "#rrggbb", one per pen')
    return TrendSpec(tuple(dict.fromkeys(pens)), limits[0], limits[1], tuple(colors))

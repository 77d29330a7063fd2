"""The variables from a TOML file (``TRENDING_CONFIG``), validated entry by entry.

One ``[[variables]]`` table per database table::

    [[variables]]
    table = "CM_HAM_DO_AI1/Temp_value"   # required: the exact table name
    label = "Temperature"                # required
    unit = "°C"                          # optional ("" when dimensionless)
    decimals = 2                         # optional: decimals of the current value
    color = "#d62728"                    # optional: #rrggbb
    low = 36.5                           # optional alarm limits
    high = 37.5
    key = "temperature"                  # optional: URL/CSV name (default: from the label)

Without the file, the four tables of the spec (:data:`trending_panel.variables.VARIABLES`).
A problem names the entry (its number and table) and what is wrong with it.
"""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path
from typing import Any

from trending_panel.core.errors import ConfigError
from trending_panel.core.variables import PALETTE, Variable

_KEYS = {"table", "label", "unit", "decimals", "color", "low", "high", "key"}
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def load_variables(path: str | Path) -> tuple[Variable, ...]:
    """The variables of the TOML file at ``path``, in the file's order."""
    where = f"TRENDING_CONFIG {str(path)!r}"
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{where}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML ({exc})") from None
    unknown = sorted(set(data) - {"variables"})
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {', '.join(unknown)}; use [[variables]]")
    entries = data.get("variables")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{where}: no [[variables]] entries")
    out: list[Variable] = []
    for number, entry in enumerate(entries, 1):
        name = entry.get("table") if isinstance(entry, dict) else None
        label = f"{where}, variables entry {number}" + (f" ({name!r})" if name else "")
        out.append(_variable(entry, label, number))
    for attr in ("table", "key"):
        seen: set[str] = set()
        for var in out:
            value = getattr(var, attr)
            if value in seen:
                raise ConfigError(f"{where}: {attr} {value!r} appears twice")
            seen.add(value)
    return tuple(out)


def _variable(entry: Any, where: str, number: int) -> Variable:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a table of settings")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown setting(s) {', '.join(unknown)}; use {', '.join(sorted(_KEYS))}"
        )
    for required in ("table", "label"):
        if not isinstance(entry.get(required), str) or not entry[required].strip():
            raise ConfigError(f"{where}: {required} is required (a non-empty text)")
    table, label = entry["table"], entry["label"].strip()
    if len(table) > 63 or "\x00" in table:
        raise ConfigError(f"{where}: table is not a PostgreSQL table name (at most 63 bytes)")
    unit = entry.get("unit", "")
    if not isinstance(unit, str):
        raise ConfigError(f"{where}: unit must be a text")
    decimals = entry.get("decimals", 2)
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 10:
        raise ConfigError(f"{where}: decimals must be a whole number 0-10, got {decimals!r}")
    color = entry.get("color", PALETTE[(number - 1) % len(PALETTE)])
    if not isinstance(color, str) or not _COLOR.match(color):
        raise ConfigError(f"{where}: color must be #rrggbb, got {color!r}")
    low, high = (_limit(entry.get(side), side, where) for side in ("low", "high"))
    if low is not None and high is not None and low >= high:
        raise ConfigError(f"{where}: low ({low:g}) must be below high ({high:g})")
    key = entry.get("key") or _slug(label)
    if not isinstance(key, str) or not _KEY.match(key):
        raise ConfigError(
            f"{where}: key must be lower-case letters, digits and _ (starting with a letter), "
            f"got {key!r}"
        )
    return Variable(key, table, label, unit, color, decimals, low, high)


def _limit(value: Any, side: str, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where}: {side} must be a finite number, got {value!r}")
    return float(value)


def _slug(label: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")
    return slug if slug and slug[0].isalpha() else f"v_{slug}"

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

An optional ``[catalog]`` makes the plant's tables tags (see :mod:`.tags`)::

    [catalog]
    include = ["BR*/*"]          # glob patterns over table names (schema-qualified allowed)
    exclude = ["*/TEST_*"]       # optional
    metadata = "plant_tags"      # optional: tag, label, unit, low, high, description

An optional ``[events]`` names the batches' table (see :mod:`.events`); a file with
``[events]`` alone keeps the spec's four tables.

With a ``[catalog]``, ``[[variables]]`` entries are optional. Without the file, the four tables
of the spec (:data:`trending_panel.core.variables.VARIABLES`). A problem names the entry (its
number and table) and what is wrong with it.
"""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path
from typing import Any

from trending_panel.core.errors import ConfigError
from trending_panel.core.events import EventsSpec, events_spec
from trending_panel.core.tags import CatalogSpec
from trending_panel.core.variables import PALETTE, VARIABLES, Variable

_KEYS = {"table", "label", "unit", "decimals", "color", "low", "high", "key"}
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def load_variables(path: str | Path) -> tuple[Variable, ...]:
    """The variables of the TOML file at ``path``, in the file's order."""
    return load_config(path)[0]


def load_config(path: str | Path) -> tuple[tuple[Variable, ...], CatalogSpec | None]:
    """The variables of the TOML file at ``path`` (in the file's order) and its catalog."""
    where = f"TRENDING_CONFIG {str(path)!r}"
    data = read_toml(path, where)
    unknown = sorted(set(data) - {"variables", "catalog", "events"})
    if unknown:
        raise ConfigError(
            f"{where}: unknown section(s) {', '.join(unknown)}; use [[variables]], [catalog] "
            "and [events]"
        )
    catalog = _catalog(data["catalog"], f"{where}, [catalog]") if "catalog" in data else None
    if "variables" not in data and catalog is None and "events" in data:
        return VARIABLES, None  # batches for the spec's four tables
    entries = data.get("variables", [] if catalog is not None else None)
    if not isinstance(entries, list) or (not entries and catalog is None):
        raise ConfigError(f"{where}: no [[variables]] entries (and no [catalog])")
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
    return tuple(out), catalog


def load_events(path: str | Path) -> EventsSpec | None:
    """The TOML file's ``[events]`` (see :mod:`.events`), or None."""
    where = f"TRENDING_CONFIG {str(path)!r}"
    data = read_toml(path, where)
    return events_spec(data["events"], f"{where}, [events]") if "events" in data else None


def read_toml(path: str | Path, where: str) -> dict[str, Any]:
    """The TOML file at ``path``; ``ConfigError`` starting with ``where`` saying why not."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{where}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML ({exc})") from None


def _catalog(entry: Any, where: str) -> CatalogSpec:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a table of settings")
    unknown = sorted(set(entry) - {"include", "exclude", "metadata"})
    if unknown:
        raise ConfigError(
            f"{where}: unknown setting(s) {', '.join(unknown)}; use include, exclude, metadata"
        )
    patterns = {}
    for name in ("include", "exclude"):
        value = entry.get(name, [])
        if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
            raise ConfigError(f"{where}: {name} must be a list of glob patterns (texts)")
        patterns[name] = tuple(value)
    if not patterns["include"]:
        raise ConfigError(f'{where}: include is required, e.g. include = ["BR*/*"]')
    metadata = entry.get("metadata")
    if metadata is not None and (not isinstance(metadata, str) or not metadata.strip()):
        raise ConfigError(f"{where}: metadata must be a table name (a non-empty text)")
    return CatalogSpec(patterns["include"], patterns["exclude"], metadata)


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

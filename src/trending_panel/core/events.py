"""Batches and their phases, from an events table (issue 20): the site's context.

``TRENDING_CONFIG`` names the table (or view) in an ``[events]`` section::

    [events]
    table = "batch_events"
    # column names, if they differ from these defaults:
    # start = "start_time", end = "end_time", batch = "batch_id", phase = "phase",
    # unit = "unit", description = "description"

One row per phase of a batch (``phase`` NULL for a row about the batch itself), ``end`` NULL
while it runs, ``unit`` the bioreactor (NULL on a single-unit site). A batch spans from its
first start to its last end, and runs while any of its rows has no end.

Rows that cannot be right are named, never guessed at: an end before its start (the row is
left out), and phases of one batch that overlap (kept, as written). Nothing here reads the
database (:mod:`~..db.events` does).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from trending_panel.core.errors import ConfigError
from trending_panel.core.timewindow import format_time

#: The columns of an events table, by role, and their default names.
COLUMNS = {
    "start": "start_time",
    "end": "end_time",
    "batch": "batch_id",
    "phase": "phase",
    "unit": "unit",
    "description": "description",
}
#: Roles a table may leave out (then NULL: one unit, no descriptions).
OPTIONAL = frozenset({"unit", "description"})


@dataclass(frozen=True)
class EventsSpec:
    """``TRENDING_CONFIG``'s ``[events]``: the table and its column names by role."""

    table: str
    columns: tuple[tuple[str, str], ...] = tuple(COLUMNS.items())

    def column(self, role: str) -> str:
        return dict(self.columns)[role]


def events_spec(entry: Any, where: str) -> EventsSpec:
    """``[events]`` validated; a problem names the setting."""
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a table of settings")
    unknown = sorted(set(entry) - {"table", *COLUMNS})
    if unknown:
        raise ConfigError(
            f"{where}: unknown setting(s) {', '.join(unknown)}; use table, " + ", ".join(COLUMNS)
        )
    names = {}
    for role, default in (("table", None), *COLUMNS.items()):
        value = entry.get(role, default)
        if not isinstance(value, str) or not value.strip() or len(value.encode()) > 63:
            what = "the events table's name" if role == "table" else f"the {role} column's name"
            raise ConfigError(f"{where}: {role} must be {what} (a text of 1-63 bytes)")
        names[role] = value
    return EventsSpec(names.pop("table"), tuple(names.items()))


@dataclass(frozen=True)
class Phase:
    name: str
    start: datetime
    end: datetime | None  #: None: running
    description: str = ""

    def as_json(self) -> dict:
        return {"phase": self.name, "start": _iso(self.start), "end": _iso(self.end)}


@dataclass(frozen=True)
class Batch:
    batch_id: str
    unit: str | None
    start: datetime
    end: datetime | None  #: None: running
    phases: tuple[Phase, ...] = ()
    description: str = ""

    @property
    def running(self) -> bool:
        return self.end is None

    def span(self, now: datetime) -> tuple[datetime, datetime]:
        """From its start to its end; a running batch's until ``now``."""
        return self.start, self.end or now

    def phase(self, name: str) -> Phase | None:
        """The batch's first phase of that name (any case), or None."""
        wanted = name.casefold()
        return next((p for p in self.phases if p.name.casefold() == wanted), None)

    def as_json(self) -> dict:
        return {
            "batch_id": self.batch_id,
            "unit": self.unit,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "phases": [p.as_json() for p in self.phases],
        }


@dataclass
class Batches:
    """Every batch, newest first, and what was wrong with the rows."""

    batches: list[Batch] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def get(self, batch_id: str) -> Batch | None:
        return next((b for b in self.batches if b.batch_id == batch_id), None)

    def of_unit(self, unit: str | None) -> list[Batch]:
        return [b for b in self.batches if unit is None or b.unit == unit]

    def neighbours(self, batch: Batch) -> tuple[Batch | None, Batch | None]:
        """The batch before and after ``batch`` on its unit (previous, next)."""
        same = sorted(self.of_unit(batch.unit), key=lambda b: (b.start, b.batch_id))
        at = next(i for i, b in enumerate(same) if b.batch_id == batch.batch_id)
        return (same[at - 1] if at > 0 else None), (same[at + 1] if at + 1 < len(same) else None)


Row = tuple[datetime | None, datetime | None, Any, Any, Any, Any]


def assemble(rows: Iterable[Row]) -> Batches:
    """Rows of (start, end, batch, phase, unit, description) as batches, newest first."""
    out = Batches()
    by_batch: dict[str, list[Row]] = {}
    for row in rows:
        start, end, batch, phase, _unit, _ = row
        if batch is None or start is None:
            what = "a row without a batch id" if batch is None else f"batch {batch}: a row"
            out.problems.append(f"{what} without a start time was left out")
            continue
        if end is not None and end < start:
            out.problems.append(
                f"batch {batch}" + (f", phase {phase}" if phase else "")
                + f": ends ({format_time(end)}) before it starts ({format_time(start)}); left out"
            )  # fmt: skip
            continue
        by_batch.setdefault(str(batch), []).append(row)
    for batch_id, members in by_batch.items():
        out.batches.append(_batch(batch_id, members, out.problems))
    out.batches.sort(key=lambda b: (b.start, b.batch_id), reverse=True)
    return out


def _batch(batch_id: str, rows: Sequence[Row], problems: list[str]) -> Batch:
    units = {r[4] for r in rows if r[4] is not None}
    if len(units) > 1:
        problems.append(f"batch {batch_id}: rows name several units ({', '.join(sorted(units))})")
    start = min(r[0] for r in rows if r[0] is not None)
    ends = [r[1] for r in rows]
    end = None if any(e is None for e in ends) else max(e for e in ends if e is not None)
    phases = sorted(
        (Phase(str(r[3]), r[0], r[1], str(r[5] or "")) for r in rows if r[3] is not None),
        key=lambda p: (p.start, p.name),
    )  # type: ignore[arg-type]
    for a, b in itertools.pairwise(phases):
        if a.end is None or b.start < a.end:
            problems.append(f"batch {batch_id}: phases {a.name} and {b.name} overlap")
    about = next((str(r[5]) for r in rows if r[3] is None and r[5]), "")
    return Batch(batch_id, sorted(units)[0] if units else None, start, end, tuple(phases), about)


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()

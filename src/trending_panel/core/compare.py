"""Batches compared on one axis (issue 20): which batches, where each one's zero is, and which
tag each draws for a pen of the page.

``?compare=ID1,ID2,...`` (at most :data:`MAX_COMPARED`) overlays batches on an axis of time
since each batch's start, or since the start of a phase (``?align=PHASE``). On a site of
several units, a pen whose key starts with one unit's name followed by a separator is drawn,
for a batch of another unit, from the same tag of that unit (``BR01/TEMP_PV`` for a batch of
``BR03`` is read from ``BR03/TEMP_PV``): the asset swap of Seeq's overlays. Nothing here
reads the database.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from trending_panel.core.events import Batch, Batches

#: The most batches one comparison draws (each in its own colour).
MAX_COMPARED = 8
#: What may follow a unit's name at the start of a tag's key for the tag to be the unit's.
SEPARATORS = "/_.-: "
#: The longest batch id the URL may name.
MAX_ID = 200
#: Colours of the compared batches, in order (Okabe and Ito's palette for colour-blind
#: readers, the yellow darkened to read on white; each 3:1 or more on both themes' plots).
COLOURS = (
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#8a6d00", "#56b4e9", "#e69f00", "#7f7f7f",
)  # fmt: skip


def parse_ids(text: str) -> list[str]:
    """``ID1,ID2,...`` as batch ids (in order, each once); ValueError names what is wrong."""
    ids: list[str] = []
    for part in text.split(","):
        part = part.strip()
        if not part or part in ids:
            continue
        if len(part) > MAX_ID:
            raise ValueError(f"a batch id longer than {MAX_ID} characters ({part[:20]!r}...)")
        ids.append(part)
    if not ids:
        raise ValueError("name the batches to compare: ?compare=ID1,ID2")
    if len(ids) > MAX_COMPARED:
        raise ValueError(f"{len(ids)} batches asked; at most {MAX_COMPARED} are compared")
    return ids


def swapped(key: str, unit: str | None, units: Iterable[str], known: Container[str]) -> str | None:
    """The tag that stands for the pen ``key`` in a batch of ``unit``: ``key`` itself, or
    for a key that names another unit (its name then a separator) the same tag of ``unit``;
    None when ``unit`` has no such tag (in ``known``)."""
    if unit is None:
        return key
    for other in sorted(units, key=len, reverse=True):  # BR1 must not claim BR10's tags
        if (
            other != unit
            and len(key) > len(other)
            and key.startswith(other)
            and key[len(other)] in SEPARATORS
        ):
            candidate = unit + key[len(other) :]
            return candidate if candidate in known else None
    return key


@dataclass(frozen=True)
class Compared:
    """One batch of a comparison."""

    batch: Batch
    slot: int  #: its place among the batches asked (its colour, its sources)
    colour: str
    anchor: datetime  #: elapsed 0: the batch's start, or the aligned phase's
    start: datetime  #: what is read: the batch's span (a running one's until now)
    end: datetime
    #: The tag read for each pen of the page (the pen's own, or its unit's: see ``swapped``).
    tags: dict[str, str]

    def elapsed(self, t: datetime) -> float:
        """Hours from the anchor to ``t``."""
        return (t - self.anchor) / timedelta(hours=1)

    def at(self, hours: float) -> datetime:
        """The time ``hours`` after the anchor."""
        return self.anchor + timedelta(hours=hours)

    @property
    def label(self) -> str:
        unit = f" · {self.batch.unit}" if self.batch.unit else ""
        return f"{self.batch.batch_id}{unit}"


def plan(
    batches: Batches,
    ids: list[str],
    align: str | None,
    pens: list[str],
    known: Container[str],
    now: datetime,
) -> tuple[list[Compared], list[str]]:
    """The batches ``ids`` compared on the ``pens`` of a page, and what was left out and why
    (an unknown id, a batch without the ``align`` phase, a pen its unit has no tag for)."""
    out: list[Compared] = []
    problems: list[str] = []
    units = {b.unit for b in batches.batches if b.unit}
    for index, batch_id in enumerate(ids):
        batch = batches.get(batch_id)
        if batch is None:
            problems.append(f"no batch {batch_id!r}")
            continue
        anchor = batch.start
        if align:
            phase = batch.phase(align)
            if phase is None:
                problems.append(f"batch {batch_id} has no phase {align!r}")
                continue
            anchor = phase.start
        tags: dict[str, str] = {}
        for key in pens:
            tag = swapped(key, batch.unit, units, known)
            if tag is None:
                problems.append(f"{batch.unit} has no tag for {key} (batch {batch_id})")
            else:
                tags[key] = tag
        start, end = batch.span(now)
        colour = COLOURS[index % len(COLOURS)]
        out.append(Compared(batch, index, colour, anchor, start, max(end, start), tags))
    return out, problems

"""The command line's batches (issue 20): ``trending-panel batches``, and the batch or phase
windows of ``stats --batch ID [--by-phase]`` and ``export --batch ID``."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from datetime import datetime

from trending_panel.core import compare
from trending_panel.core.compare import Compared
from trending_panel.core.errors import EventsUnusable
from trending_panel.core.events import Batch, Batches
from trending_panel.core.settings import Settings
from trending_panel.core.timewindow import TimeWindow, format_time
from trending_panel.core.variables import Variable
from trending_panel.db.store import Store
from trending_panel.live.tag_list import TagList
from trending_panel.read.stats import COLUMNS, Stats


class NoBatches(Exception):
    """What keeps a batch command from working, in a sentence (exit 1, or 2 for settings)."""

    def __init__(self, message: str, *, settings: bool = False) -> None:
        super().__init__(message)
        self.settings = settings


async def read_batches(store: Store, settings: Settings) -> Batches:
    """The events table's batches; :class:`NoBatches` when there is none to read."""
    if settings.events is None:
        raise NoBatches("no [events] in TRENDING_CONFIG: no batches to read", settings=True)
    try:
        found = await store.batches(settings.events)
    except EventsUnusable as exc:
        raise NoBatches(str(exc)) from None
    for problem in found.problems:
        print(f"trending-panel: warning: {settings.events.table}: {problem}", file=sys.stderr)
    return found


async def batch_named(store: Store, settings: Settings, batch_id: str) -> Batch:
    found = (await read_batches(store, settings)).get(batch_id)
    if found is None:
        raise NoBatches(f"unknown batch {batch_id!r} (trending-panel batches lists them)")
    return found


async def compared_batches(
    store: Store, settings: Settings, ids: str, align: str | None, pens: Sequence[Variable]
) -> tuple[list[Compared], dict[str, Variable]]:
    """The batches ``ids`` (``ID1,ID2``) compared on ``pens``, aligned on ``align``, and every
    tag they read by key; :class:`NoBatches` names an unknown batch, a batch without that
    phase, or a pen a batch's unit has no tag for (a CSV has no column to leave empty)."""
    try:
        asked = compare.parse_ids(ids)
    except ValueError as exc:
        raise NoBatches(f"--compare: {exc}") from None
    found = await read_batches(store, settings)
    tags = TagList(store, settings)
    if settings.catalog is not None:
        await tags.refresh()
    compared, problems = compare.plan(found, asked, align, [p.key for p in pens], tags,
                                      settings.now())  # fmt: skip
    if problems:
        raise NoBatches("cannot compare: " + "; ".join(problems))
    return compared, {key: tags.get(key) for c in compared for key in c.tags.values()}


def batch_window(batch: Batch, settings: Settings) -> TimeWindow:
    """The batch's span; a running batch's until now."""
    start, end = batch.span(settings.now())
    return TimeWindow(preset=None, start=start, end=end)


def print_batches(found: Batches, unit: str | None, as_json: bool) -> None:
    """A line per batch (newest first), or the JSON list."""
    batches = found.of_unit(unit)
    if as_json:
        sys.stdout.write(json.dumps([b.as_json() for b in batches], ensure_ascii=False) + "\n")
        return
    for b in batches:
        end = "running" if b.end is None else format_time(b.end)
        phases = ", ".join(p.name for p in b.phases)
        sys.stdout.write(
            f"{b.batch_id}\t{b.unit or '-'}\t{format_time(b.start)}\t{end}"
            + (f"\t{phases}" if phases else "") + "\n"
        )  # fmt: skip


def phase_spans(batch: Batch, now: datetime) -> list[tuple[str, datetime, datetime]]:
    """Each phase of ``batch`` as (name, start, end); a running phase's until ``now``."""
    return [(p.name, p.start, p.end or now) for p in batch.phases]


def by_phase_csv(rows: Sequence[tuple[str, Stats]]) -> str:
    """The statistics' CSV with a ``phase`` column after ``variable``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([COLUMNS[0], "phase", *COLUMNS[1:]])
    for phase, stats in rows:
        cells = stats.row()
        writer.writerow([cells[0], phase, *cells[1:]])
    return out.getvalue()

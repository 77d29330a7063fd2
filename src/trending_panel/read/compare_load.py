"""Reading a comparison of batches (issue 20): each compared batch's traces at the plots'
width, from the shared rollup, the summary or the database as any window is
(:func:`~.resolution.read`), placed on the axis of hours since its anchor.

Each batch is read from its anchor (its start, or the aligned phase's start) to its end, so
its first vertex is at elapsed 0: the value the batch held there (the row before it) when
there is one. A zoom reads each batch's part of the zoomed hours again, raw when few enough
rows fall in it. Nothing here touches a Bokeh model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from trending_panel.core import steps as traces
from trending_panel.core.compare import Compared
from trending_panel.core.rows import to_us
from trending_panel.core.settings import Settings
from trending_panel.core.variables import Variable
from trending_panel.db.store import Store
from trending_panel.live.rollup_view import RollupView
from trending_panel.live.summary import Summary
from trending_panel.read import resolution
from trending_panel.read.stats import Stats, from_totals

_HOUR_US = 3_600_000_000


@dataclass
class Overlay:
    """One compared batch's traces by the page's pen key, with their statistics."""

    compared: Compared
    columns: dict[str, traces.Columns]  #: ``elapsed`` (h), ``time``, ``value``, ``sample``
    stats: dict[str, Stats] = field(default_factory=dict)


@dataclass
class LoadedComparison:
    """A comparison read, waiting for the next tick to apply it."""

    generation: int
    overlays: list[Overlay]
    problems: list[str]
    zoom: tuple[float, float] | None = None  #: the elapsed hours read again, or None


def overlay_columns(columns: traces.Columns, start: datetime, anchor: datetime) -> traces.Columns:
    """A trace of a batch read from ``start`` on the axis of hours since ``anchor``: the
    lead vertex (the row before ``start``, whose value holds there) is drawn at ``start``."""
    times = np.asarray(columns["time"], dtype="datetime64[us]")
    floor = np.datetime64(to_us(start), "us")
    times = np.maximum(times, floor)
    elapsed = (times.astype("int64") - to_us(anchor)) / _HOUR_US
    return {**columns, "time": times, "elapsed": elapsed}


async def read_comparison(
    store: Store,
    summary: Summary | None,
    rollup: RollupView | None,
    compared: list[Compared],
    pens: dict[str, Variable],
    width: int,
    settings: Settings,
    *,
    generation: int = 0,
    zoom: tuple[float, float] | None = None,
) -> LoadedComparison:
    """The ``compared`` batches' traces of the page's ``pens`` (each batch's own tag of each
    pen in ``pens[compared.tags[key]]``); ``zoom``: only those elapsed hours, no statistics."""
    wanted = {pens[tag] for c in compared for tag in c.tags.values() if tag in pens}
    broken = await store.problems(wanted) if wanted else {}
    problems = [f"{v.table}: {why}" for v, why in broken.items()]
    overlays = []
    for c in compared:
        start, end = real_span(c, zoom)
        by_tag = {
            key: pens[tag] for key, tag in c.tags.items() if tag in pens and pens[tag] not in broken
        }
        overlay = Overlay(c, {})
        if end > start and by_tag:
            drawn, _, _ = await resolution.read(
                store, summary, list(by_tag.values()), start, end, width, settings,
                with_totals=zoom is None, rollup=rollup,
            )  # fmt: skip
            for key, var in by_tag.items():
                got = drawn[var.key]
                overlay.columns[key] = overlay_columns(got.columns, start, c.anchor)
                if got.totals is not None:
                    overlay.stats[key] = from_totals(var, got.totals, start, end)
        overlays.append(overlay)
    return LoadedComparison(generation, overlays, problems, zoom)


def elapsed_range(compared: list[Compared]) -> tuple[float, float]:
    """The elapsed hours the comparison's reads cover (each batch from its anchor)."""
    if not compared:
        return 0.0, 1.0
    high = max(c.elapsed(c.end) for c in compared)
    return 0.0, high if high > 0 else 1.0


def real_span(c: Compared, zoom: tuple[float, float] | None) -> tuple[datetime, datetime]:
    """What of batch ``c`` a comparison shows: from its anchor to its end, or the zoom's."""
    if zoom is None:
        return c.anchor, c.end
    return max(c.anchor, c.at(zoom[0])), min(c.end, c.at(zoom[1]))

"""A window at the resolution its plot needs: what the dashboard draws for each variable.

A plot ``width`` pixels wide gets at most four rows per pixel column (M4): raw rows when the
window holds few enough that they and their step corners fit in that budget, the M4 points
otherwise. Wide windows come from the in-memory :class:`~trending_panel.summary.Summary`
(milliseconds, whatever the history); narrow ones from the database through the ``time``
index. A wide window the summary cannot answer yet (it is still being built) is reduced at
pixel width in one pass over its rows (:mod:`~trending_panel.scan`): no page waits for the
summary. plotly-resampler and HoloViews' ``downsample1d`` do the same on data already in
memory; here the rows are still in the database, so the choice of source comes first.

Asked for, each trace also carries its window's moments (:class:`~trending_panel.reduce.Totals`),
the statistics beside the trend: from the same pass over the database, or from the summary.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from trending_panel.core import m4 as reduce
from trending_panel.core import steps as traces
from trending_panel.core.errors import TooManyRows
from trending_panel.core.rows import US, Row, Series, from_us, to_us
from trending_panel.core.settings import Settings
from trending_panel.core.variables import Variable
from trending_panel.db import scan
from trending_panel.db.store import Store
from trending_panel.live.rollup_view import RollupView
from trending_panel.live.summary import Summary
from trending_panel.read import rollup_window


@dataclass
class Drawn:
    """One variable's trace for a window, ready for its ``ColumnDataSource``."""

    columns: traces.Columns
    rows: int  #: rows of the window in the database
    reduced: bool  #: True when ``columns`` holds M4 points, not every row
    source: str  #: "database", "summary" or "rollup"
    before: Row | None  #: the last row before the window (holds at its start)
    last: Row | None  #: the newest row drawn (streaming continues from it)
    #: The raw rows of the window's last ``tail`` (what the live feed may deliver again).
    tail: list[Row] = field(default_factory=list)
    #: The moments of the window (for its statistics), when they were asked for.
    totals: reduce.Totals | None = None

    @property
    def samples(self) -> int:
        return int(np.count_nonzero(self.columns["sample"]))


def raw_budget(width: int) -> int:
    """Most rows sent raw to a plot ``width`` px wide: four per pixel column, as many as its
    M4 reduction would send (their step corners come on top, as they do for M4 points)."""
    return 4 * max(width, 1)


def _row(t_us: int, value: float) -> Row:
    value = float(value)
    return (from_us(t_us), None if np.isnan(value) else value)


def rows_since(series: Series, since: datetime) -> list[Row]:
    """The series' rows at or after ``since`` as ``(time, value)`` (NaN → None)."""
    i = int(np.searchsorted(series.times, np.datetime64(since, "us"), side="left"))
    return [
        _row(t, v) for t, v in zip(series.times[i:].view("int64"), series.values[i:], strict=True)
    ]


def _from_points(
    p: reduce.Points, before: Row | None, column_us: int, gap: timedelta, source: str
) -> Drawn:
    cols = traces.reduced_vertices(
        p.times, p.values, p.breaks, timedelta(microseconds=column_us), lead=before, gap=gap
    )
    last = _row(p.times[-1], p.values[-1]) if len(p.times) else before
    return Drawn(cols, p.rows, True, source, before, last)


def from_series(
    series: Series, start: datetime, end: datetime, width: int, gap: timedelta
) -> Drawn:
    """Rows read from the database → raw steps, or M4 points when over the budget."""
    if len(series) <= raw_budget(width):
        pixel = (end - start) / max(width, 1)
        cols = traces.with_lead(series.before, series.times, series.values, gap, pixel)
        last = (
            _row(series.times[-1:].view("int64")[0], series.values[-1])
            if len(series)
            else series.before
        )
        return Drawn(cols, len(series), False, "database", series.before, last)
    start_us = to_us(start)
    column_us = max(1, -(-(to_us(end) - start_us) // width))
    gap_us = gap // US
    buckets = reduce.aggregate(
        series.times.view("int64"), series.values, start_us, column_us, gap_us
    )
    return _from_points(reduce.points(buckets, gap_us), series.before, column_us, gap, "database")


def _us(row: Row | None) -> tuple[int, float] | None:
    if row is None:
        return None
    return to_us(row[0]), np.nan if row[1] is None else float(row[1])


async def _from_database(
    store: Store,
    var: Variable,
    start: datetime,
    end: datetime,
    width: int,
    settings: Settings,
    with_totals: bool,
    slot: scan.SlotFactory | None,
) -> tuple[Drawn, Series | None]:
    """``var``'s trace from the database: its raw rows when they fit the plot's budget (read
    through the ``time`` index), else one pass reducing them at pixel width. Returns the raw
    rows too when it has them."""
    gap_us = settings.gap // US
    start_us, end_us = to_us(start), to_us(end)
    try:
        # Past the budget the read stops at once: a wide window costs one row more than that.
        budget = min(raw_budget(width), settings.max_rows)
        series = await store.series(var, start, end, limit=budget, carry_in=True)
    except TooManyRows:
        series = None
    if series is not None:
        drawn = from_series(series, start, end, width, settings.gap)
        if with_totals:
            rows = reduce.Buckets.of_rows(series.times.view("int64"), series.values)
            drawn.totals = reduce.window_totals(
                rows, _us(series.before), start_us, end_us, gap_us, var.limits
            )
        return drawn, series
    column_us = max(1, -(-(end_us - start_us) // width))
    buckets, before = await scan.read_buckets(
        store, var, start, end, start_us, column_us, gap_us, slot=slot
    )
    drawn = await asyncio.to_thread(
        _from_points, reduce.points(buckets, gap_us), before, column_us, settings.gap, "database"
    )
    if with_totals:
        drawn.totals = reduce.window_totals(
            buckets, _us(before), start_us, end_us, gap_us, var.limits
        )
    return drawn, None


async def read(
    store: Store,
    summary: Summary | None,
    variables: list[Variable],
    start: datetime | None,
    end: datetime | None,
    width: int,
    settings: Settings,
    tail: timedelta = timedelta(0),
    *,
    with_totals: bool = False,
    slot: scan.SlotFactory | None = None,
    rollup: RollupView | None = None,
) -> tuple[dict[str, Drawn], datetime | None, datetime | None]:
    """Each variable's trace of ``[start, end]`` for a plot ``width`` px wide.

    ``None`` ends (the whole history) are resolved to the oldest/newest sample; the resolved
    ends are returned with the traces. Each trace carries the raw rows of the window's last
    ``tail`` (read separately where the trace itself is reduced), and ``with_totals`` the
    window's moments. ``slot``: held around each slice of a pass over many rows. A wide
    window of a tag the shared ``rollup`` serves is drawn from it; else from the summary.
    """
    if start is None or end is None:
        extent = await store.extent(variables)
        if extent is None:
            empty = Drawn(traces.empty(), 0, False, "database", None, None)
            return {v.key: empty for v in variables}, start, end
        start = start or extent[0]
        end = end or extent[1]
    width = max(int(width), 1)
    column_us = max(1, -(-(to_us(end) - to_us(start)) // width))
    out: dict[str, Drawn] = {}

    async def one(var: Variable) -> None:
        served = rollup.level_for(var, column_us) if rollup is not None else None
        if served is not None:
            pub, level = served
            points, before = await rollup_window.draw(rollup, pub, level, var, start, end, width)
            drawn = _from_points(points, before, column_us, settings.gap, "rollup")
            if with_totals:
                drawn.totals, _ = await rollup_window.totals(rollup, pub, var, start, end)
            out[var.key] = drawn
            return
        if summary is not None and summary.covers(var.key, column_us):
            points, before = summary.window(var.key, start, end, width)
            drawn = _from_points(points, before, column_us, settings.gap, "summary")
            if with_totals:
                drawn.totals = await summary.totals(var, start, end)
            out[var.key] = drawn
            return
        drawn, series = await _from_database(
            store, var, start, end, width, settings, with_totals, slot
        )
        if series is not None and tail > timedelta(0):
            drawn.tail = rows_since(series, _tail_start(drawn, end, tail))
        out[var.key] = drawn

    await asyncio.gather(*(one(v) for v in variables))
    reduced = [v for v in variables if out[v.key].reduced]
    if reduced and tail > timedelta(0):
        since = {v.key: _tail_start(out[v.key], end, tail) for v in reduced}
        tails = await store.window(reduced, min(since.values()), end)
        for var in reduced:
            out[var.key].tail = rows_since(tails[var.key], since[var.key])
    return {v.key: out[v.key] for v in variables}, start, end


def _tail_start(drawn: Drawn, end: datetime, tail: timedelta) -> datetime:
    """Where the rows the feed may deliver again begin: ``tail`` before the newest row drawn
    (not before the window's end: a window that ends ahead of its newest row, an absolute one
    reaching into the future, would otherwise hold none, and the feed's rows would go twice)."""
    newest = end if drawn.last is None else min(drawn.last[0], end)
    return newest - tail

"""A window drawn, and its statistics computed, from the shared rollup.

A window is drawn from the coarsest level that still gives each pixel column at least four
buckets (:meth:`~..live.rollup_view.RollupView.level_for`), like the in-memory summary draws
from its minutes. Its statistics merge the fewest buckets that tile it exactly: whole days in
the middle, whole hours and minutes towards its ends, and the rows of the two minutes its ends
cut (plus the row before it), so they equal the definitions over every row.

What the rollup does not hold yet (from the bucket holding its watermark on) is composed from
the level below, down to the rows themselves at the minute level: a few seconds of rows when
the rollup is caught up.
"""

from __future__ import annotations

from datetime import datetime

from trending_panel.core import m4 as reduce
from trending_panel.core.chunks import DAYS, HOURS, LEVELS, MINUTES, Level
from trending_panel.core.rows import US, Row, Series, from_us, to_us, us_row
from trending_panel.core.variables import Variable
from trending_panel.db import scan
from trending_panel.db.rollup import Published
from trending_panel.live.history import window_points
from trending_panel.live.rollup_view import RollupView


async def level_buckets(
    view: RollupView, pub: Published, var: Variable, level: Level, first: int, last: int
) -> reduce.Buckets:
    """Buckets ``first..last`` of ``level``, whole: the rollup's before the one holding its
    watermark (kept by the view), composed from the level below (rows, at the minute level)
    from there."""
    settings = view.settings
    cut = pub.built_us // level.width_us  # the first bucket the rollup may not hold whole
    parts = []
    if first < cut:
        parts.append(await view.buckets(pub, var.table, level, first, min(last, cut - 1)))
    if last >= cut:
        lo = max(first, cut)
        if level is MINUTES:
            a_us = lo * level.width_us
            b_us = min((last + 1) * level.width_us, to_us(settings.horizon()) + 1) - 1
            if a_us <= b_us:
                minutes, _ = await scan.read_buckets(
                    view.store, var, from_us(a_us), from_us(b_us), 0, level.width_us, view.gap_us
                )
                parts.append(minutes)
        else:
            below = LEVELS[level.number - 1]
            ratio = level.width_us // below.width_us
            children = await level_buckets(
                view, pub, var, below, lo * ratio, (last + 1) * ratio - 1
            )
            if len(children):
                parts.append(
                    reduce.regroup(children, children.index // ratio, view.gap_us, var.limits)
                )
    return reduce.Buckets.concat(parts)


async def _rows(
    view: RollupView, pub: Published, var: Variable, start: datetime, end: datetime, before: bool
) -> Series:
    """Rows of ``[start, end]`` (and the row before, with ``before``); kept when the rollup
    holds them whole (the rows of a window's first minute, asked again by a live window)."""
    memo = (var.table, pub.changes, "rows", start, end, before)
    whole = to_us(end) < pub.built_us
    if whole and isinstance(hit := view.kept(memo), Series):
        return hit
    found = await view.store.series(var, start, end, limit=view.settings.max_rows, carry_in=before)
    if whole:
        view.keep(memo, found)
    return found


async def draw(
    view: RollupView,
    pub: Published,
    level: Level,
    var: Variable,
    start: datetime,
    end: datetime,
    columns: int,
) -> tuple[reduce.Points, Row | None]:
    """The window's M4 points at ``columns`` pixel columns from ``level``'s buckets, and the
    row before it."""
    w = level.width_us
    held = await level_buckets(view, pub, var, level, to_us(start) // w, to_us(end) // w)
    points, _ = window_points(held, w, view.gap_us, start, end, columns)
    return points, (await _rows(view, pub, var, start, start, True)).before


def tiles(first: int, last: int) -> list[tuple[Level, int, int]]:
    """Minutes ``first..last`` as the fewest whole buckets of the three levels, in time
    order: (level, first index, last index) each."""
    h0, h1 = -(-first // 60), (last + 1) // 60  # whole hours: [h0, h1)
    if h0 >= h1:
        return [(MINUTES, first, last)]
    out: list[tuple[Level, int, int]] = []
    if first < h0 * 60:
        out.append((MINUTES, first, h0 * 60 - 1))
    d0, d1 = -(-h0 // 24), h1 // 24  # whole days: [d0, d1)
    if d0 >= d1:
        out.append((HOURS, h0, h1 - 1))
    else:
        if h0 < d0 * 24:
            out.append((HOURS, h0, d0 * 24 - 1))
        out.append((DAYS, d0, d1 - 1))
        if d1 * 24 < h1:
            out.append((HOURS, d1 * 24, h1 - 1))
    if h1 * 60 <= last:
        out.append((MINUTES, h1 * 60, last))
    return out


async def totals(
    view: RollupView, pub: Published, var: Variable, start: datetime, end: datetime
) -> tuple[reduce.Totals, int]:
    """The moments of ``var`` over ``[start, end]`` (see the module's docstring), and the rows
    read for them. A window the rollup holds whole is kept: its pages ask again."""
    M = MINUTES.width_us
    s_us, e_us = to_us(start), to_us(end)
    memo = (var.table, pub.changes, "totals", s_us, e_us)
    if e_us < pub.built_us and isinstance(hit := view.kept(memo), reduce.Totals):
        return hit, 0
    m0, m1 = -(-s_us // M), (e_us + 1) // M  # whole minutes: [m0, m1)
    parts: list[reduce.Buckets] = []
    rows = 0
    if m0 >= m1:  # no whole minute: the rows themselves
        series = await _rows(view, pub, var, start, end, True)
        rows += len(series)
        parts.append(reduce.Buckets.of_rows(series.times.view("int64"), series.values))
        before = series.before
    else:
        head = await _rows(view, pub, var, start, min(end, from_us(m0 * M) - US), True)
        before = head.before
        if s_us < m0 * M:
            rows += len(head)
            parts.append(reduce.Buckets.of_rows(head.times.view("int64"), head.values))
        for level, a, b in tiles(m0, m1 - 1):
            parts.append(await level_buckets(view, pub, var, level, a, b))
        if m1 * M <= e_us:
            tail = await _rows(view, pub, var, from_us(m1 * M), end, False)
            rows += len(tail)
            parts.append(reduce.Buckets.of_rows(tail.times.view("int64"), tail.values))
    found = reduce.window_totals(
        reduce.Buckets.concat(parts), us_row(before), s_us, e_us, view.gap_us, var.limits
    )
    if e_us < pub.built_us:
        view.keep(memo, found)
    return found, rows

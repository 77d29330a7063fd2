"""Statistics of a window, per variable, over every row the database holds (never the plotted
points): what the page shows beside the trends, ``trending-panel stats`` prints, and
``Dashboard.stats()`` returns.

By exception, the time-weighted mean is what an engineer means by "average": each row's value
holds until the next row, the row before the window from the window's start, the last row to
the window's end; an interval longer than the gap limit, and a NULL/NaN row's interval, are no
data. ``coverage`` is the share of the window with data; ``time_outside_limits_s`` the seconds
of data beyond the variable's alarm limits.

They are made of mergeable moments (:class:`~trending_panel.reduce.Totals`): with a summary,
whole buckets merged in memory and the rows of the at most two buckets at the window's ends
(:meth:`Summary.totals`); without one, one pass over the window's rows, a slice at a time
(:mod:`~trending_panel.scan`).
"""

from __future__ import annotations

import asyncio
import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from trending_panel.core import m4 as reduce
from trending_panel.core.rows import to_us
from trending_panel.core.variables import Variable
from trending_panel.db import scan
from trending_panel.db.store import Store
from trending_panel.live.rollup_view import RollupView
from trending_panel.live.summary import Summary
from trending_panel.read import rollup_window

#: Buckets a window is cut into when its statistics are computed without a summary (any
#: number gives the same result; this one bounds the memory of the pass).
BUCKETS = 1000

#: The CSV's columns, exactly (scripts depend on them).
COLUMNS = (
    "variable",
    "unit",
    "samples",
    "min",
    "max",
    "mean",
    "time_weighted_mean",
    "std",
    "coverage",
    "time_outside_limits_s",
)


@dataclass(frozen=True)
class Stats:
    """One variable's statistics over one window (None: no sample, or no data interval)."""

    variable: str
    unit: str
    samples: int
    min: float | None
    max: float | None
    mean: float | None
    time_weighted_mean: float | None
    std: float | None
    coverage: float
    time_outside_limits_s: float

    def row(self) -> list[str]:
        """The CSV's cells (empty for None)."""
        return [_text(v) for v in self.row_values()]

    def row_values(self) -> list[object]:
        return [getattr(self, f.name) for f in fields(self)]


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def from_totals(var: Variable, t: reduce.Totals, start: datetime, end: datetime) -> Stats:
    """A variable's statistics from its window's moments."""
    n = t.samples
    span = (end - start).total_seconds()
    covered = t.covered_us / 1e6
    return Stats(
        variable=var.key,
        unit=var.unit,
        samples=n,
        min=t.lo if n else None,
        max=t.hi if n else None,
        mean=t.total / n if n else None,
        time_weighted_mean=t.area / covered if covered > 0 else None,
        std=math.sqrt(max(t.m2, 0.0) / (n - 1)) if n > 1 else None,
        coverage=covered / span if span > 0 else 0.0,
        time_outside_limits_s=(t.below_us + t.above_us) / 1e6,
    )


async def scan_totals(
    store: Store, var: Variable, start: datetime, end: datetime, gap: timedelta, **options
) -> reduce.Totals:
    """The moments of ``var`` over ``[start, end]`` from one pass over its rows (no summary).
    ``options`` go to :func:`~trending_panel.scan.read_buckets` (``slot``)."""
    s_us, e_us = to_us(start), to_us(end)
    width = max(1, -(-(e_us - s_us + 1) // BUCKETS))
    gap_us = gap // timedelta(microseconds=1)
    buckets, before = await scan.read_buckets(
        store, var, start, end, s_us, width, gap_us, **options
    )
    return reduce.window_totals(buckets, _us_row(before), s_us, e_us, gap_us, var.limits)


def _us_row(row) -> tuple[int, float] | None:
    if row is None:
        return None
    return to_us(row[0]), math.nan if row[1] is None else float(row[1])


async def window_stats(
    store: Store,
    variables: Sequence[Variable],
    start: datetime,
    end: datetime,
    gap: timedelta,
    *,
    summary: Summary | None = None,
    rollup: RollupView | None = None,
    **options,
) -> list[Stats]:
    """The statistics of each variable over ``[start, end]`` (the variables concurrently):
    from the shared ``rollup`` where it serves the variable, else from ``summary`` where it
    holds it, else from one pass over the window's rows."""

    async def one(var: Variable) -> Stats:
        if rollup is not None and (pub := rollup.usable(var)) is not None:
            found, _ = await rollup_window.totals(rollup, pub, var, start, end)
        elif summary is not None and summary.holds(var.key):
            found = await summary.totals(var, start, end)
        else:
            found = await scan_totals(store, var, start, end, gap, **options)
        return from_totals(var, found, start, end)

    return list(await asyncio.gather(*(one(v) for v in variables)))


def to_csv(stats: Sequence[Stats]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for s in stats:
        writer.writerow(s.row())
    return out.getvalue()

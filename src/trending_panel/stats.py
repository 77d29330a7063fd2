"""Statistics of a window, per variable, over every row the database holds (never the plotted
points): what the page shows beside the trends, ``trending-panel stats`` prints, and
``Dashboard.stats()`` returns.

By exception, the time-weighted mean is what an engineer means by "average": each row's value
holds until the next row, the row before the window from the window's start, the last row to
the window's end; an interval longer than the gap limit, and a NULL/NaN row's interval, are no
data. ``coverage`` is the share of the window with data; ``time_outside_limits_s`` the seconds
of data beyond the variable's alarm limits. The SQL is :meth:`Store.window_stats`.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from .store import Store
from .variables import Variable

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


#: Statistics already computed, per store, variable and window, for a few seconds: sessions
#: that show the same live window (the same preset, ending at the same newest sample) share
#: one query, so the database's load does not grow with the number of viewers.
_CACHE: dict[tuple, tuple[float, dict]] = {}
CACHE_S = 10.0
_CACHE_SIZE = 2000


async def _cached(store: Store, var: Variable, start: datetime, end: datetime, gap: timedelta):
    key = (id(store), var, start, end, gap)
    now = time.monotonic()
    hit = _CACHE.get(key)
    if hit is not None and now - hit[0] < CACHE_S:
        return hit[1]
    found = await store.window_stats(var, start, end, gap)
    if len(_CACHE) >= _CACHE_SIZE:
        for old in sorted(_CACHE, key=lambda k: _CACHE[k][0])[: _CACHE_SIZE // 2]:
            del _CACHE[old]
    _CACHE[key] = (now, found)
    return found


async def window_stats(
    store: Store, variables: Sequence[Variable], start: datetime, end: datetime, gap: timedelta
) -> list[Stats]:
    """The statistics of each variable over ``[start, end]`` (the variables concurrently;
    the same window asked again within :data:`CACHE_S` is answered from memory)."""
    span = (end - start).total_seconds()
    found = await asyncio.gather(*(_cached(store, v, start, end, gap) for v in variables))
    out = []
    for var, s in zip(variables, found, strict=True):
        out.append(
            Stats(
                variable=var.key,
                unit=var.unit,
                samples=int(s["samples"] or 0),
                min=s["min"],
                max=s["max"],
                mean=s["mean"],
                time_weighted_mean=s["time_weighted_mean"],
                std=s["std"],
                coverage=float(s["covered_s"] or 0.0) / span if span > 0 else 0.0,
                time_outside_limits_s=float(s["outside_s"] or 0.0),
            )
        )
    return out


def to_csv(stats: Sequence[Stats]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for s in stats:
        writer.writerow(s.row())
    return out.getvalue()

"""Every row of a window reduced to buckets (M4 and moments), a slice of time at a time.

What the summary's build, a wide window drawn before the summary is ready, and the statistics
of a window without a summary have in common: one pass over the rows in the database, in time
order, into buckets of a fixed grid. The rows come packed (:func:`~.reads.read_series`: two
``bytea`` that numpy reads without a loop) a slice at a time, so memory stays bounded whatever
the window; while numpy reduces one slice the database reads the next. A slice holding more
than :data:`SLICE_ROWS` rows is cut in half and read again; one with few rows doubles the
next. Buckets cut by a slice's edge are merged whole (:func:`~.reduce.merge_same`).

Measured on 2 cores (30 days of 1 Hz, 2.6 M rows): 1.0 s in PostgreSQL to pack the rows and
about 0.4 s of numpy, against 4.0 s for the same buckets computed in SQL (a window function
for the held intervals and some twenty aggregates per bucket), so the reduction runs here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

from trending_panel.core import m4 as reduce
from trending_panel.core.errors import TooManyRows
from trending_panel.core.rows import US, Row
from trending_panel.core.variables import Variable
from trending_panel.db.store import Store

#: Most rows brought into memory by one slice (or ``TRENDING_MAX_ROWS``, if fewer).
SLICE_ROWS = 1_000_000
#: The first slice's length; later ones follow the density found.
FIRST_SLICE = timedelta(days=1)

#: Holds a slot of the caller's around each slice's read (see :mod:`.limits`).
SlotFactory = Callable[[], contextlib.AbstractAsyncContextManager]


async def read_buckets(
    store: Store,
    var: Variable,
    start: datetime,
    end: datetime,
    origin_us: int,
    width_us: int,
    gap_us: int,
    *,
    slot: SlotFactory | None = None,
    progress: Callable[[float], None] | None = None,
    lane: str | None = None,
) -> tuple[reduce.Buckets, Row | None]:
    """The rows of ``var`` in ``[start, end]`` as buckets of the grid ``origin + k·width``
    (µs since 1970), and the last row before ``start``. ``slot``: held around each read, so
    work of higher priority goes first between slices; ``progress``: told the share of the
    window read so far; ``lane``: read on that lane's own connection (see
    :meth:`Store.series`)."""
    limits = var.limits
    parts: list[reduce.Buckets] = []
    before: Row | None = None
    pending: asyncio.Task | None = None
    span = end - start
    async for series, done in _slices(store, var, start, end, slot, lane):
        if before is None and series.before is not None and not parts:
            before = series.before
        if pending is not None:
            parts.append(await pending)
        pending = asyncio.ensure_future(
            asyncio.to_thread(
                reduce.aggregate,
                series.times.view("int64"),
                series.values,
                origin_us,
                width_us,
                gap_us,
                limits,
            )
        )
        if progress is not None and span > timedelta(0):
            progress(min(1.0, (done - start) / span))
    if pending is not None:
        parts.append(await pending)
    merged = reduce.Buckets.concat(parts)
    if len(parts) > 1:
        merged = reduce.merge_same(merged, gap_us, limits)
    return merged, before


async def _slices(
    store: Store,
    var: Variable,
    start: datetime,
    end: datetime,
    slot: SlotFactory | None,
    lane: str | None,
) -> AsyncIterator[tuple]:
    """The window's rows, slice after slice in time order, with how far each reaches; the
    first slice also brings the row before ``start``."""
    step = min(FIRST_SLICE, end - start + US)
    limit = min(SLICE_ROWS, store.settings.max_rows)  # TRENDING_MAX_ROWS bounds each read
    a = start
    first = True
    while a <= end:
        b = min(a + step, end + US)  # [a, b)
        try:
            async with slot() if slot is not None else contextlib.nullcontext():
                series = await store.series(var, a, b - US, limit=limit, carry_in=first, lane=lane)
        except TooManyRows:
            if step <= US:
                raise
            step = max(step / 2, US)
            continue
        yield series, b - US
        first = False
        a = b
        if len(series) < limit // 4:
            step *= 2

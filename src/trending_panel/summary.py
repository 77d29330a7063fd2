"""The per-process summary: every variable's whole history as M4 buckets, in memory.

Built in the background when the server starts (the history is read once, a day at a time,
with the read-only role), then kept up to date from the live feed: a row newer than
everything held merges into its bucket; a row at or before the newest held time (late, or a
duplicate) makes its bucket be read again from the database, so the summary always equals the
same reduction of the rows in the database. Wide windows are answered from here in
milliseconds; narrow ones go to the database through the ``time`` index.

Memory grows with the span of history, not with the row rate or the number of viewers:
96 bytes per variable per bucket (twelve 8-byte columns, see
:class:`~trending_panel.reduce.Buckets`); with the default one-minute buckets 4.1 MB per
variable per 30 days.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

import numpy as np
import param

from . import reduce
from .background import Background
from .feed import Batch, Change, LiveFeed, Subscription
from .settings import Settings
from .store import Row, error_line
from .variables import Variable

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1)
_US = timedelta(microseconds=1)


def to_us(t: datetime) -> int:
    """Naive time → microseconds since 1970 (the summary's and the grid's unit)."""
    return (t - _EPOCH) // _US


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(us))


class Summary(Background, param.Parameterized):
    """M4 buckets of a fixed width over each variable's whole history (one per process)."""

    state = param.Selector(
        default="idle",
        objects=["idle", "building", "ready", "failed"],
        doc="idle: not started; building: reading history; ready: answers windows.",
    )
    progress = param.Number(default=0.0, bounds=(0, 1), doc="Share of history read so far.")
    error = param.String(default="", doc="Why the last build or refresh failed.")
    refreshes = param.Integer(default=0, doc="Buckets read again for late rows (for tests).")

    def __init__(self, feed: LiveFeed, settings: Settings, **params: object) -> None:
        super().__init__(**params)
        self.feed = feed
        self.store = feed.store
        self.settings = settings
        self.bucket_us = settings.summary_bucket // _US
        self.gap_us = settings.gap // _US
        self._data: dict[str, reduce.Buckets] = {}
        self._sub: Subscription | None = None
        self._ready = asyncio.Event()

    # -- lifecycle --------------------------------------------------------------------------

    # start() builds on the running loop, then follows the feed; stop() (Background).

    def _starting(self) -> None:
        self._ready = asyncio.Event()

    def _stopped(self) -> None:
        if self._sub is not None:
            self.feed.unsubscribe(self._sub)
            self._sub = None

    async def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait until the summary answers windows; False if it did not within ``timeout``."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def _run(self) -> None:
        # Subscribe first: rows written while history is read are then not missed.
        self._sub = self.feed.subscribe()
        delay = 1.0
        while True:
            try:
                await self.build()
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.param.update(state="failed", error=error_line(exc))
                log.warning("summary build failed (%s); retrying", error_line(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        interval = self.settings.poll_interval.total_seconds()
        pending: Batch = {}
        changed: list[Change] = []
        while True:
            await asyncio.sleep(interval)
            for key, rows in self._sub.drain().items():
                pending.setdefault(key, []).extend(rows)
            changed.extend(self._sub.drain_changes())
            if not pending and not changed:
                continue
            try:
                async with asyncio.timeout(2 * self.settings.query_timeout.total_seconds()):
                    await self.apply(pending)
                pending = {}
                while changed:  # updated or deleted rows the feed saw vanish: read again
                    change = changed[0]
                    if change.key in self._data:
                        await self.refresh_range(
                            change.key,
                            to_us(change.start) // self.bucket_us,
                            to_us(change.end) // self.bucket_us,
                        )
                    changed.pop(0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep the rows and try again on the next round
                self.error = error_line(exc)
                log.warning("summary update failed (%s); retrying", self.error)

    # -- building -------------------------------------------------------------------------

    async def build(self) -> None:
        """Read every variable's history, a day at a time, into buckets."""
        self.param.update(state="building", progress=0.0, error="")
        problems = await self.store.problems(self.settings.variables)
        variables = [v for v in self.settings.variables if v not in problems]
        spans = {v.key: await self.store.span(v) for v in variables}
        chunk = self.bucket_us * max(1, -(-86_400_000_000 // self.bucket_us))
        plan: list[tuple[Variable, int, int, datetime]] = []
        for var in variables:
            span = spans[var.key]
            if span is None:
                continue
            first, last = to_us(span[0]), to_us(span[1])
            for c0 in range(first // chunk * chunk, last + 1, chunk):
                plan.append((var, c0, c0 + chunk, span[1]))
        data: dict[str, list[reduce.Buckets]] = {v.key: [] for v in variables}
        done = 0

        async def read(var: Variable, c0: int, c1: int, last: datetime) -> reduce.Buckets:
            nonlocal done
            # Up to the newest row seen at the start: later rows come from the feed.
            end = min(from_us(c1) - _US, last)
            async with asyncio.timeout(self.settings.query_timeout.total_seconds()):
                series = (await self.store.window([var], from_us(c0), end))[var.key]
            buckets = await asyncio.to_thread(self._aggregate, series)
            done += 1
            self.progress = done / len(plan)
            return buckets

        # Two chunks at a time: the database works on one while numpy reduces the other, and
        # the feed keeps a pooled connection for itself.
        lanes = asyncio.Semaphore(2)

        async def lane(item: tuple[Variable, int, int, datetime]) -> reduce.Buckets:
            async with lanes:
                return await read(*item)

        for item, buckets in zip(
            plan, await asyncio.gather(*(lane(item) for item in plan)), strict=True
        ):
            data[item[0].key].append(buckets)
        self._data = {key: reduce.Buckets.concat(parts) for key, parts in data.items()}
        self.param.update(state="ready", progress=1.0)
        self._ready.set()
        log.info(
            "summary ready: %d buckets of %s, %.1f MB",
            sum(len(b) for b in self._data.values()),
            self.settings.summary_bucket,
            self.nbytes / 1e6,
        )

    def _aggregate(self, series) -> reduce.Buckets:
        return reduce.aggregate(
            series.times.view("int64"), series.values, 0, self.bucket_us, self.gap_us
        )

    @property
    def nbytes(self) -> int:
        return sum(b.nbytes for b in self._data.values())

    def buckets(self, key: str) -> reduce.Buckets | None:
        """The buckets held for ``key`` (None if the variable is not summarised)."""
        return self._data.get(key)

    # -- following the feed -----------------------------------------------------------------

    async def apply(self, batch: Batch) -> None:
        """Merge new rows; read again every bucket that a late or duplicate row touches."""
        for key, rows in batch.items():
            held = self._data.get(key)
            if held is None or not rows:
                continue
            newest = int(held.last_t[-1]) if len(held) else reduce.NONE
            fresh = sorted((r for r in rows if to_us(r[0]) > newest), key=lambda r: r[0])
            stale = {to_us(r[0]) // self.bucket_us for r in rows if to_us(r[0]) <= newest}
            if fresh:
                self._append(key, fresh)
            for index in sorted(stale):
                await self.refresh_range(key, index, index)

    def _append(self, key: str, rows: list[Row]) -> None:
        times = np.array([to_us(r[0]) for r in rows], dtype="int64")
        values = np.array([np.nan if r[1] is None else r[1] for r in rows], dtype="float64")
        new = reduce.aggregate(times, values, 0, self.bucket_us, self.gap_us)
        held = self._data[key]
        if len(held) and held.index[-1] == new.index[0]:
            merged = reduce.Buckets.concat([held.take(slice(-1, None)), new.take(slice(0, 1))])
            head = reduce.regroup(merged, merged.index, self.gap_us)
            self._data[key] = reduce.Buckets.concat(
                [held.take(slice(0, -1)), head, new.take(slice(1, None))]
            )
        else:
            self._data[key] = reduce.Buckets.concat([held, new])

    async def refresh_range(self, key: str, first: int, last: int) -> tuple[datetime, datetime]:
        """Read buckets ``first``..``last`` (inclusive) of ``key`` again from the database and
        replace what is held for them; returns the span they cover."""
        var = self.settings.by_key[key]
        start = from_us(first * self.bucket_us)
        end = from_us((last + 1) * self.bucket_us) - _US
        series = (await self.store.window([var], start, end))[key]
        fresh = self._aggregate(series)
        held = self._data[key]
        lo = int(np.searchsorted(held.index, first, side="left"))
        hi = int(np.searchsorted(held.index, last, side="right"))
        self._data[key] = reduce.Buckets.concat(
            [held.take(slice(0, lo)), fresh, held.take(slice(hi, None))]
        )
        self.refreshes += 1
        return start, end

    # -- answering windows ---------------------------------------------------------------

    def covers(self, key: str, column_us: float) -> bool:
        """True when ``key`` can be drawn from here at ``column_us`` per pixel column: the
        summary is ready and its buckets are at most a quarter of a column (so a bucket's
        placement errs by under a quarter pixel)."""
        return self.state == "ready" and key in self._data and column_us >= 4 * self.bucket_us

    def window(
        self, key: str, start: datetime, end: datetime, columns: int
    ) -> tuple[reduce.Points, Row | None]:
        """The window's M4 points at ``columns`` pixel columns, and the row before it."""
        held = self._data[key]
        start_us, end_us = to_us(start), to_us(end)
        lo = int(np.searchsorted(held.index, start_us // self.bucket_us, side="left"))
        hi = int(np.searchsorted(held.index, end_us // self.bucket_us, side="right"))
        before: Row | None = None
        if lo > 0:
            value = float(held.last_v[lo - 1])
            before = (from_us(held.last_t[lo - 1]), None if np.isnan(value) else value)
        column_us = max(1, -(-(end_us - start_us) // columns))
        merged = reduce.columns_of(
            held.take(slice(lo, hi)), self.bucket_us, start_us, column_us, columns, self.gap_us
        )
        return reduce.points(merged, self.gap_us), before


# -- the process-wide instance ----------------------------------------------------------------

_summaries: dict[Settings, Summary] = {}


def get_summary(feed: LiveFeed) -> Summary:
    """The one summary of this process for ``feed``, started on the running loop."""
    summary = _summaries.get(feed.settings)
    if summary is None or summary.feed is not feed:
        summary = _summaries[feed.settings] = Summary(feed, feed.settings)
    summary.start()
    return summary

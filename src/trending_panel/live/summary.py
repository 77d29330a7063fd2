"""The per-process summary: every variable's whole history as buckets (M4 and moments), in
memory, and what windows and statistics are answered from it.

Built in the background when the server starts (each variable's history read once, a slice at
a time, at background priority: a page's own reads go first), then kept up to date from the
live feed: a row newer than everything held merges into its bucket; a row at or before the
newest held time (late, or a duplicate) makes its bucket be read again from the database, so
the summary always equals the same reduction of the rows in the database. Wide windows are
drawn from here in milliseconds; narrow ones go to the database through the ``time`` index.

A window's statistics are whole buckets merged in memory, plus the rows of the at most two
buckets cut by the window's ends: the newest bucket's rows are held here as the feed brings
them, older ones are read once (a bucket of rows) and kept for a while. A live window's
statistics therefore follow the feed without a query.

Memory grows with the span of history, not with the row rate or the number of viewers:
168 bytes per variable per bucket (twenty-one 8-byte columns, see
:class:`~trending_panel.reduce.Buckets`); with the default one-minute buckets 7.3 MB per
variable per 30 days.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

import numpy as np
import param

from trending_panel.core import m4 as reduce
from trending_panel.core.errors import error_line
from trending_panel.core.rows import US, Row, Series, from_us, to_us
from trending_panel.core.settings import Settings
from trending_panel.core.variables import Variable
from trending_panel.db import scan
from trending_panel.live.background import Background
from trending_panel.live.feed import Change, LiveFeed, Subscription
from trending_panel.live.history import History, window_points
from trending_panel.live.interest import IDLE_S, Interest
from trending_panel.live.rollup_view import RollupView
from trending_panel.live.slots import BACKGROUND, Slots, in_lanes
from trending_panel.live.totals import WindowTotals

log = logging.getLogger(__name__)

#: Buckets of rows kept for the ends of windows (a bucket of 1 Hz rows is about 1 KB).
ROWS_KEPT = 512
#: Merged whole-bucket spans and window totals kept (shared by the pages of one window).
TOTALS_KEPT = 256
#: Bytes per bucket held (twenty-one 8-byte columns), to judge a tag's size before reading it.
BUCKET_BYTES = 168


class Summary(Background, param.Parameterized):
    """Buckets of a fixed width over each variable's whole history (one per process)."""

    state = param.Selector(
        default="idle",
        objects=["idle", "building", "ready", "failed"],
        doc="idle: not started; building: reading history; ready: answers windows.",
    )
    progress = param.Number(default=0.0, bounds=(0, 1), doc="Share of history read so far.")
    error = param.String(default="", doc="Why the last build or refresh failed.")
    refreshes = param.Integer(default=0, doc="Buckets read again for late rows (for tests).")
    build_s = param.Number(default=None, allow_None=True, doc="Seconds the last build took.")
    rollup = param.ClassSelector(class_=RollupView, default=None, allow_None=True,
                                 doc="The shared rollup: its tags are not built here.")  # fmt: skip

    def __init__(
        self, feed: LiveFeed, settings: Settings, *, loads: Slots | None = None, **params: object
    ) -> None:
        super().__init__(**params)
        #: Keys the shared rollup serves: not built here while it does (see :meth:`build`).
        self.by_rollup: set[str] = set()
        if self.rollup is not None:
            self.rollup.param.watch(lambda _: self._kick.set(), "version")
        #: The slots the summary's reads share with the pages' (see :mod:`.hub`).
        self.loads = loads if loads is not None else Slots("window load")
        self.feed = feed
        self.store = feed.store
        self.settings = settings
        self.bucket_us = settings.summary_bucket // US
        self.gap_us = settings.gap // US
        self._data: dict[str, History] = {}
        #: What is summarised, or being built: the pinned variables and those pages want.
        self.variables: dict[str, Variable] = {}
        #: Who shows what: pinned are the configured variables when there is no catalog
        #: (the spec's four by default, exactly as before tags); with a catalog, none.
        self.interest = Interest(
            v.key for v in (settings.variables if settings.catalog is None else ())
        )
        #: Keys wanted that do not fit the budget (pages draw them from the database).
        self.over_budget: set[str] = set()
        #: Keys not built: their table is unusable or too big (tried again when asked anew).
        self._skipped: set[str] = set()
        #: Live rows of keys being built: merged once their history is in.
        self._early: dict[str, list[Row]] = {}
        #: Per key built, what was written before its history was read: the write counters,
        #: the rows the feed had delivered and the transaction horizon (see :mod:`.convergence`).
        self.baselines: dict[str, tuple[tuple[int, ...], int, int]] = {}
        #: Per variable, bumped whenever buckets behind the newest change (late rows).
        self._epoch: dict[str, int] = {}
        #: Any window's statistics from here (see :mod:`.totals`).
        self.windows = WindowTotals(self)
        self._sub: Subscription | None = None
        self._ready = asyncio.Event()
        self._stale: list[tuple[str, Row]] = []
        self._changed: list[Change] = []
        self._kick = asyncio.Event()
        if self.interest.pinned:
            self._add(v for v in settings.variables)

    # -- lifecycle --------------------------------------------------------------------------

    # start() builds on the running loop, then follows the feed; stop() (Background).

    def _starting(self) -> None:
        self._ready = asyncio.Event()
        self._kick = asyncio.Event()
        self._kick.set()

    # -- what is summarised ------------------------------------------------------------------

    def want(self, owner: object, variables: list[Variable] | tuple[Variable, ...]) -> None:
        """``owner`` (a page) shows ``variables``: build the missing ones in the background
        and follow them while anyone shows them (replaces what ``owner`` wanted before)."""
        retry = self.interest.want(owner, (v.key for v in variables)) & self._skipped
        self._skipped -= retry
        if self._add(variables) or retry:
            self._ready.clear()
            self._kick.set()

    def release(self, owner: object) -> None:
        """``owner`` shows nothing any more (its keys go after ``IDLE_S`` unviewed)."""
        self.interest.release(owner)

    def _add(self, variables) -> bool:
        """Summarise ``variables`` too; True when one was new."""
        new = False
        for var in variables:
            if var.key not in self.variables:
                self.variables[var.key] = var
                new = True
        if new:
            self.feed.watch(self, tuple(self.variables.values()))
            if self._ready.is_set():
                self._ready.clear()
        return new

    def _let_go(self, keys: set[str]) -> None:
        for key in keys:
            self._skipped.discard(key)
            self.over_budget.discard(key)
            self.variables.pop(key, None)
            self._data.pop(key, None)
            self._early.pop(key, None)
            self.interest.forget(key)
            self.windows.live.pop(key, None)
            self._epoch[key] = self._epoch.get(key, 0) + 1
        if keys:
            self.windows.clear()
            self.feed.watch(self, tuple(self.variables.values()))
            log.info("summary: let go of %d tag(s) nobody shows", len(keys))

    def _evict(self) -> None:
        """Tags unviewed for ``IDLE_S`` go; then, over the budget, the least recently shown
        unviewed ones."""
        self._let_go(self.interest.idle(self.variables))
        sizes = {k: h.nbytes for k, h in self._data.items()}
        to_go = self.interest.make_room(sizes, 0, self.settings.summary_mb * 1_000_000)
        self._let_go(set(self.interest.spare(sizes) if to_go is None else to_go))

    def _stopped(self) -> None:
        if self._sub is not None:
            self._sub.wake = None
            self.feed.unsubscribe(self._sub)
            self._sub = None

    async def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait until the summary answers windows; False if it did not within ``timeout``."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            return False
        return True

    @property
    def ready(self) -> bool:
        """Every tag wanted is held (or cannot be: see ``over_budget``)."""
        return self.state == "ready"

    def holds(self, key: str) -> bool:
        """``key``'s history is in: its windows and statistics can come from here."""
        return key in self._data

    async def _run(self) -> None:
        # Subscribe first: rows written while history is read are then not missed. New rows
        # merge as soon as the feed hands them out, before any page streams them (the feed
        # wakes its subscribers in order, and this one came first); rows of tags still being
        # built wait in ``_early``.
        self._sub = self.feed.subscribe()
        self._sub.wake = self._take_batches
        delay = 1.0
        while True:
            with contextlib.suppress(TimeoutError):  # now and then: let idle tags go
                await asyncio.wait_for(self._kick.wait(), IDLE_S / 10)
            self._kick.clear()
            try:
                if self.rollup is not None:  # those it stopped serving are built here again
                    self.by_rollup &= self.rollup.serving(self.variables.values())
                if set(self.variables) - set(self._data) - self._skipped - self.by_rollup:
                    await self.build()
                self._take_batches()
                async with asyncio.timeout(2 * self.settings.query_timeout.total_seconds()):
                    await self._catch_up()
                self._evict()
                delay = 1.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep what is pending and try again shortly
                if self.state == "building":
                    self.state = "failed"
                self.error = error_line(exc)
                log.warning("summary build or update failed (%s); retrying", self.error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                self._kick.set()

    def _take_batches(self) -> None:
        """Merge the feed's new rows now; late ones and changed spans are read again by the
        background task."""
        if self._sub is None:
            return
        for key, rows in self._sub.drain().items():
            if key not in self._data:
                if key in self.variables:  # being built: merged once its history is in
                    self._early.setdefault(key, []).extend(rows)
                continue
            self._stale.extend((key, r) for r in self._merge_fresh(key, rows))
        self._changed.extend(self._sub.drain_changes())
        if self._stale or self._changed:
            self._kick.set()

    async def _catch_up(self) -> None:
        while self._stale:
            key, row = self._stale[0]
            index = to_us(row[0]) // self.bucket_us
            if key in self._data:
                await self.refresh_range(key, index, index)
            # one read per bucket: drop the others of the same bucket
            self._stale = [
                (k, r)
                for k, r in self._stale
                if not (k == key and to_us(r[0]) // self.bucket_us == index)
            ]
        while self._changed:  # updated or deleted rows the feed saw vanish: read again
            change = self._changed[0]
            if change.key in self._data:
                await self.refresh_range(
                    change.key,
                    to_us(change.start) // self.bucket_us,
                    to_us(change.end) // self.bucket_us,
                )
            self._changed.pop(0)

    # -- building -------------------------------------------------------------------------

    async def build(self) -> None:
        """Read the history of every variable wanted and not held yet, a slice at a time,
        into buckets (each tag answers windows as soon as its own history is in)."""
        started = asyncio.get_running_loop().time()
        self.param.update(state="building", progress=0.0, error="")
        todo = [v for k, v in list(self.variables.items())
                if k not in self._data and k not in self._skipped]  # fmt: skip
        if self.rollup is not None:  # its tags need no history scan here
            await self.rollup.wait_loaded(self.settings.connect_timeout)
            self.by_rollup |= self.rollup.serving(todo)
            todo = [v for v in todo if v.key not in self.by_rollup]
        # The feed takes the rows present at its first look at a tag as known: rows after it
        # come from the feed, rows before it from this read, so none is missed between.
        await self.feed.before_history([v.key for v in todo])
        problems = await self.store.problems(todo)
        variables = [v for v in todo if v not in problems]
        # Before any history is read: a change written while it is read, or before the
        # detector's first look, is then found (by comparing with these), never taken as known.
        counters = await self.store.write_counters(variables)
        delivered, horizon = dict(self.feed.delivered), await self.store.xid_horizon()
        for key, now in counters.items():
            self.baselines[key] = (now, delivered.get(key, 0), horizon)
        spans = {v.key: await self.store.span(v) for v in variables}
        variables = [v for v in variables if self._fits(v, spans[v.key])]
        done: dict[str, float] = {}

        def progress(key: str, share: float) -> None:
            done[key] = share
            self.progress = min(1.0, sum(done.values()) / max(len(variables), 1))

        async def one(var: Variable, lane: str) -> None:
            span = spans[var.key]
            if span is None:  # an empty table: rows to come merge as they arrive
                self._install(var.key, reduce.Buckets.empty(), None)
                return
            # Up to the newest row seen at the start: later rows come from the feed.
            buckets, _ = await scan.read_buckets(
                self.store, var, span[0], span[1], 0, self.bucket_us, self.gap_us,
                slot=self._slot, progress=lambda share: progress(var.key, share), lane=lane,
            )  # fmt: skip
            live = None
            if len(buckets):
                index = int(buckets.index[-1])
                rows = await self.windows.read(var, index, until=span[1])
                live = (index, rows)
            self._install(var.key, buckets, live)

        # Two variables at a time, each lane on a connection of its own: the database reads
        # for one while numpy reduces the other, and the pool stays the pages'.
        await in_lanes(variables, one, ["summary-0", "summary-1"])
        self.build_s = asyncio.get_running_loop().time() - started
        self._skipped |= {v.key for v in problems} | self.over_budget
        if set(self.variables) - set(self._data) - self._skipped - self.by_rollup:
            self._kick.set()  # more were wanted meanwhile
            return
        self.param.update(state="ready", progress=1.0)
        self._ready.set()
        log.info("summary ready in %.1f s: %d tag(s), %d buckets of %s, %.1f MB", self.build_s,
                 len(self._data), sum(h.size for h in self._data.values()),
                 self.settings.summary_bucket, self.nbytes / 1e6)  # fmt: skip

    def _fits(self, var: Variable, span: tuple[datetime, datetime] | None) -> bool:
        """Whether ``var``'s buckets fit the memory budget (letting unviewed tags go first);
        a tag that does not is drawn from the database, as before any summary."""
        if span is None or var.key in self.interest.pinned:
            return True
        size = ((span[1] - span[0]) // self.settings.summary_bucket + 1) * BUCKET_BYTES
        sizes = {k: h.nbytes for k, h in self._data.items()}
        to_go = self.interest.make_room(sizes, size, self.settings.summary_mb * 1_000_000)
        if to_go is None:
            if var.key not in self.over_budget:
                log.warning(
                    "summary: %s (%.1f MB) does not fit TRENDING_SUMMARY_MB=%d: drawn from "
                    "the database", var.table, size / 1e6, self.settings.summary_mb,
                )  # fmt: skip
            self.over_budget.add(var.key)
            return False
        self._let_go(set(to_go))
        self.over_budget.discard(var.key)
        return True

    def _install(self, key: str, buckets: reduce.Buckets, live) -> None:
        """``key``'s history is in: it answers windows, and the live rows that came while it
        was read merge (those at or before its newest row are read again)."""
        if key not in self.variables:
            return  # let go of while it was read
        self._data[key] = History(buckets)
        if live is not None:
            self.windows.live[key] = live
        self._epoch[key] = self._epoch.get(key, 0) + 1
        self.windows.clear()
        early = self._early.pop(key, [])
        self._stale.extend((key, r) for r in self._merge_fresh(key, early))
        if self._stale:
            self._kick.set()

    def _slot(self):
        """The summary's reads wait behind every page's (background priority)."""
        return self.loads.wait(self.settings.max_loads, None, kind=BACKGROUND)

    @property
    def nbytes(self) -> int:
        return sum(h.nbytes for h in self._data.values())

    def buckets(self, key: str) -> reduce.Buckets | None:
        """The buckets held for ``key`` (None if the variable is not summarised)."""
        held = self._data.get(key)
        return held.buckets if held is not None else None

    def newest(self, key: str) -> int | None:
        """The newest row time held for ``key`` (µs), or None."""
        held = self._data.get(key)
        if held is None or not held.size:
            return None
        return int(held.buckets.last_t[-1])

    # -- following the feed -----------------------------------------------------------------

    def _merge_fresh(self, key: str, rows: list[Row]) -> list[Row]:
        """Merge the rows newer than everything held for ``key``; return the others."""
        held = self._data.get(key)
        if held is None or not rows:
            return []
        newest = self.newest(key)
        newest = reduce.NONE if newest is None else newest
        fresh = sorted(
            (r for r in rows if to_us(r[0]) > newest), key=lambda r: (r[0], _order(r[1]))
        )
        if fresh:
            self._append(key, fresh)
        return [r for r in rows if to_us(r[0]) <= newest]

    def _append(self, key: str, rows: list[Row]) -> None:
        var = self.variables[key]
        series = Series.from_rows(rows)
        times = series.times.view("int64")
        new = reduce.aggregate(times, series.values, 0, self.bucket_us, self.gap_us, var.limits)
        self._data[key].append(new, self.gap_us, var.limits)
        self.windows.appended(key, rows)  # the newest bucket's rows, for live windows

    async def refresh_range(self, key: str, first: int, last: int) -> tuple[datetime, datetime]:
        """Read buckets ``first``..``last`` (inclusive) of ``key`` again from the database and
        replace what is held for them; returns the span they cover."""
        var = self.variables[key]
        start = from_us(first * self.bucket_us)
        end = from_us((last + 1) * self.bucket_us) - US
        fresh, _ = await scan.read_buckets(
            self.store, var, start, end, 0, self.bucket_us, self.gap_us, slot=self._slot,
            lane="summary-refresh",
        )  # fmt: skip
        held = self._data[key]
        index = held.buckets.index
        lo = int(np.searchsorted(index, first, side="left"))
        hi = int(np.searchsorted(index, last, side="right"))
        held.splice(lo, hi, fresh)
        self._epoch[key] = self._epoch.get(key, 0) + 1
        await self.windows.refreshed(var, first, last)
        self.refreshes += 1
        return start, end

    # -- answering windows ---------------------------------------------------------------

    def covers(self, key: str, column_us: float) -> bool:
        """True when ``key`` can be drawn from here at ``column_us`` per pixel column: the
        summary is ready and its buckets are at most a quarter of a column (so a bucket's
        placement errs by under a quarter pixel)."""
        return key in self._data and column_us >= 4 * self.bucket_us

    async def totals(self, var: Variable, start: datetime, end: datetime) -> reduce.Totals:
        """The moments of ``var`` over ``[start, end]`` (see :class:`~.totals.WindowTotals`):
        equal to the same definitions over every row of the window."""
        return await self.windows.of(var, start, end)

    @property
    def rows_read(self) -> int:
        """Rows read from the database for the ends of windows (for tests and benchmarks)."""
        return self.windows.rows_read

    def window(
        self, key: str, start: datetime, end: datetime, columns: int
    ) -> tuple[reduce.Points, Row | None]:
        """The window's M4 points at ``columns`` pixel columns, and the row before it."""
        return window_points(
            self._data[key].buckets, self.bucket_us, self.gap_us, start, end, columns
        )


def _order(value: float | None) -> tuple[int, float]:
    """PostgreSQL's order of values: numbers, then NaN, then NULL."""
    if value is None:
        return (2, 0.0)
    if value != value:
        return (1, 0.0)
    return (0, value)

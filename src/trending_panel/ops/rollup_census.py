"""The rollup's census: rows written behind each tag's live edge (late, corrected, deleted)
found and their hours read again (see :mod:`.rollup`, whose :class:`~.rollup.Rollup` it is a
part of).

Three ways in, cheapest first: the **quick look** at each poll reads the pages written since
the last look (a TID range scan), where PostgreSQL puts late rows and corrections; a **delete**
is counted from the time index, a day and then an hour at a time; the **pass** compares the
rows per hour, and the rows written since its horizon, with the rollup's, when the write
counters say something else changed. At start, one pass per tag from the horizon the last one
kept in the schema.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta

from psycopg import AsyncConnection

from trending_panel.core import m4 as reduce
from trending_panel.core.chunks import LEVELS, MINUTES
from trending_panel.core.rows import from_us
from trending_panel.core.variables import Variable
from trending_panel.db import rollup as tables
from trending_panel.db import scan
from trending_panel.db.census import changed_runs, runs_of, suspected
from trending_panel.db.rollup import Written
from trending_panel.db.store import Store

log = logging.getLogger(__name__)

#: A table's census (a pass over its rows) at most this often.
CENSUS_EVERY_S = 3.0
#: After the quick look found the rows an insert or update wrote, the pass that looks for
#: any written elsewhere waits this long (a delete makes it run at once).
BACKSTOP_S = 30.0
#: An insert or update suspected by the pass is left this long to the quick look, which
#: polls with the follower and finds one in the newest pages in a second (a pass over a year
#: of rows takes 5-10 s, and a delete arriving during one waited for the next: 18 s).
QUICK_LOOK_S = 5.0


@dataclass
class Tag:
    """A tag as the service follows it."""

    var: Variable
    state: tables.TagState
    #: The newest chunk written at each level, as written (the live edge needs no read back).
    edge: dict[int, tuple[int, reduce.Buckets]] = field(default_factory=dict)
    #: Census: write counters and rows folded past the watermark at the last look, the
    #: transaction horizon of the last pass, inserts not yet explained.
    counters: tuple[int, ...] | None = None
    fed: int = 0
    fed_then: int = 0
    since_xid: int | None = None
    suspect: bool = False
    #: Since when the quick look has not read what the table's counters count (None: it has).
    behind_since: float | None = None
    unexplained: bool = False
    last_census: float = -math.inf
    #: The quick look at the table's newest pages: counters, pages, horizon and rows folded
    #: at the last one.
    tail: tuple[tuple[int, ...], int, int, int] | None = None
    tail_at: float = -math.inf  #: when the quick look last read the newest pages
    #: Built to its table's newest row: the follower's from then on (the builder's before).
    live: bool = False
    #: Why its table cannot be read (left out until the catalog is read again).
    broken: str | None = None
    #: Not yet looked at by a pass since this service started (see :meth:`Rollup.start_passes`).
    restarted: bool = True
    #: Built (in part) before this service started.
    resumed: bool = False
    #: Whether its table has an index on time (None: not asked yet).
    time_indexed: bool | None = None


class Census:
    """The census's part of :class:`~.rollup.Rollup` (which holds what is declared here)."""

    store: Store
    schema: str
    lookback_us: int
    gap_us: int
    tags: dict[str, Tag]
    writing: asyncio.Lock
    folds: int
    passes: int
    counts: int
    _fold: Callable[..., Awaitable[list[Written]]]
    _commit: Callable[..., Awaitable[None]]

    async def _counted(self) -> list[tuple[Tag, tuple[int, ...]]]:
        """Every tag followed at its live edge, and its table's write counters now."""
        built = [t for t in self.tags.values() if t.live and not t.broken]
        if not built:
            return []
        counters = await self.store.write_counters([t.var for t in built])
        return [(t, counters[t.var.key]) for t in built if t.var.key in counters]

    async def census(self, conn: AsyncConnection) -> int:
        """Rows written behind the live edge found and their hours read again; the spans."""
        spans = 0
        for t, now in await self._counted():
            if t.counters is None:  # the first look; a pass from here covers the start's
                t.counters, t.fed_then, t.since_xid = now, t.fed, t.state.census_xid
                continue
            due, t.unexplained = suspected(t.counters, now, t.fed - t.fed_then, t.unexplained)
            t.suspect = t.suspect or due
            if not t.suspect or time.monotonic() - t.last_census < CENSUS_EVERY_S:
                continue
            if self._left_to_quick_look(t, now):
                continue  # the pass is the backstop, BACKSTOP_S later, or sooner for a delete
            t.last_census = time.monotonic()
            counters_now = (await self.store.write_counters([t.var]))[t.var.key]
            if counters_now[2] != t.counters[2] and await self._time_indexed(t):
                # Rows deleted: counted from the index. Inserts and updates since the last
                # pass stay pending (the quick look, then the pass, as without the delete).
                spans += await self._census_one(conn, t, t.since_xid, counted=True)
                self.counts += 1
                t.counters = (*t.counters[:2], counters_now[2])
                t.suspect = False
                continue
            fed_now, horizon = t.fed, await self.store.xid_horizon()
            spans += await self._census_one(conn, t, t.since_xid)
            self.passes += 1
            await tables.mark_census(conn, self.schema, t.state.id, horizon)
            t.counters, t.fed_then, t.since_xid = counters_now, fed_now, horizon
            t.suspect = t.unexplained = t.restarted = False
        return spans

    async def start_passes(self, conn: AsyncConnection, only_resumed: bool = False) -> int:
        """One pass over each followed tag that none looked at since the service started,
        from the horizon the last pass kept in the schema: rows deleted, inserted or
        corrected while no service followed the tag (or during its build) are found, which
        the census's first look takes as known. Run beside the census, on a connection of its
        own: a delete found meanwhile is not held up by these passes (a year's: 5-10 s each).
        ``only_resumed``: only tags built before this run (``--once`` after a first build
        leaves the rows written during it to the next run, from the horizon kept)."""
        spans = 0
        for t in list(self.tags.values()):
            if not (t.restarted and t.live and not t.broken) or (only_resumed and not t.resumed):
                continue
            horizon = await self.store.xid_horizon()
            spans += await self._census_one(conn, t, t.state.census_xid)
            self.passes += 1
            if t.restarted:  # (a pass of the census meanwhile started from the same horizon)
                await tables.mark_census(conn, self.schema, t.state.id, horizon)
                t.restarted = False
        return spans

    def _left_to_quick_look(self, t: Tag, now: tuple[int, ...]) -> bool:
        """Whether the pass waits because the quick look finds, or has found, what these
        counters count: no row was deleted (only a pass finds that), and either the quick
        look has read the newest pages since every insert and update they count, less than
        BACKSTOP_S ago, or it has been behind for less than QUICK_LOOK_S (it polls with the
        follower; a pass started first, 5-10 s over a year of rows, held up a delete that
        came during it until the next: 18 s)."""
        if t.tail is None or t.counters is None or now[2] != t.counters[2]:
            return False
        clock = time.monotonic()
        if all(a >= b for a, b in zip(t.tail[0][:2], now[:2], strict=True)):
            t.behind_since = None
            return clock - t.tail_at < BACKSTOP_S
        if t.behind_since is None:
            t.behind_since = clock
        return clock - t.behind_since < QUICK_LOOK_S

    async def quick_census(self, conn: AsyncConnection) -> int:
        """Rows written behind the live edge into a table's newest pages, found without a
        pass over it (see :meth:`~...db.census.Census.tail_writes`), their hours read again:
        a late row or a correction within a second or two. Looked at when the write counters
        say an update, or more inserts than the follower brought; the pass (:meth:`census`)
        still runs for whatever lands elsewhere, and for deletes."""
        spans = 0
        for t, now in await self._counted():
            if t.tail is not None:
                inserted, updated, _ = (a - b for a, b in zip(now, t.tail[0], strict=True))
                if not updated and inserted <= t.fed - t.tail[3]:
                    t.tail = (now, *t.tail[1:3], t.fed)
                    continue
            horizon, fed = await self.store.xid_horizon(), t.fed
            found, pages = await self.store.tail_writes(
                t.var, timedelta(hours=1), t.tail[2] if t.tail else horizon,
                t.tail[1] if t.tail else None,
            )  # fmt: skip
            edge = self._edge_hour(t)
            runs = runs_of([int(b) for b in found if b < edge])
            spans += await self._reread(conn, t, runs)
            t.tail, t.tail_at = (now, pages, horizon, fed), time.monotonic()
        return spans

    async def _time_indexed(self, t: Tag) -> bool:
        """Whether the tag's table has an index on time (asked once)."""
        if t.time_indexed is None:
            t.time_indexed = await self.store.time_indexed(t.var)
        return t.time_indexed

    def _edge_hour(self, t: Tag) -> int:
        """The first hour at the tag's live edge (its rows are the follower's, not late)."""
        return ((t.state.built_us or 0) - self.lookback_us) // LEVELS[1].width_us

    async def _census_one(
        self, conn: AsyncConnection, t: Tag, since_xid: int | None, counted: bool = False
    ) -> int:
        """The tag's rows per hour against the rollup's; differing hours, or hours rewritten
        since ``since_xid``, behind the live edge read again from the rows. ``counted``: by
        the counts alone, from the time index (what a delete needs, without the pass's read
        of every row: 5-10 s over a year)."""
        held_index, held_counts = await tables.level_counts(
            conn, self.schema, t.state.id, LEVELS[1]
        )
        edge, hour = self._edge_hour(t), timedelta(hours=1)
        if counted:
            runs = await self.store.count_census(t.var, hour, held_index, held_counts, edge)
        else:
            census = await self.store.bucket_census(t.var, hour, since_xid)
            runs = changed_runs(census, held_index, held_counts, edge)
        return await self._reread(conn, t, runs)

    async def _reread(self, conn: AsyncConnection, t: Tag, runs: list[tuple[int, int]]) -> int:
        """The ``runs`` of hours (first, last) read again from the rows, folded and written,
        and announced to the dashboards; how many runs."""
        hours = LEVELS[1]
        for first, last in runs:
            a, b = first * hours.width_us, (last + 1) * hours.width_us
            minutes, _ = await scan.read_buckets(
                self.store, t.var, from_us(a), from_us(b - 1), 0, MINUTES.width_us,
                self.gap_us, lane="rollup-census",
            )  # fmt: skip
            await self.writing.acquire()
            state = t.state
            if state.first_us is not None and len(minutes):
                state = replace(state, first_us=min(state.first_us, int(minutes.first_t[0])))
            first_min, last_min = a // MINUTES.width_us, (b - 1) // MINUTES.width_us
            try:
                written = await self._fold(conn, t, first_min, last_min, minutes)
                await self._commit(conn, [(t, state, written)])
            finally:
                self.writing.release()
            self.folds += 1
            log.info("rollup: %s: rows between %s and %s changed: read again", t.var.table,
                     from_us(a), from_us(b - 1))  # fmt: skip
        if runs:  # the dashboards showing the span read it again
            span = (runs[0][0] * hours.width_us, (runs[-1][1] + 1) * hours.width_us - 1)
            await tables.changed(conn, self.schema, t.state.id, *span)
        return len(runs)

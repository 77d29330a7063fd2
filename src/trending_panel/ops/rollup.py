"""The shared rollup kept: one service per site holds every tag's buckets in PostgreSQL.

The rollup (issue 19) is the in-memory summary moved into the database, once for every
dashboard: each tag's buckets (M4 and the moments of the statistics) at 1 min, 1 h and 1 d,
in its own schema (:mod:`~..db.rollup`), each level merged exactly from the one below.

Three tasks share the work (:mod:`.rollup_service` runs them):

- the **builder** reads each tag's history once, a few days at a time in time order, with the
  same packed read and numpy reduction as the in-memory summary (:func:`~..db.scan.read_buckets`);
  every slice's chunks and the tag's watermark are written in one transaction, so a crash or a
  restart resumes from the last slice;
- the **follower**, every poll, reads what is new in every built tag in one round trip (the
  live feed's query) from a minute before each tag's watermark, and rewrites the minutes it
  touches and the hour and day above them, every tag in one commit;
- the **census** finds rows written further back (late, corrected or deleted) as the
  dashboard's convergence detector does: the tables' write counters, then a count of rows
  per hour; only the hours that differ are read again. Its pass over a big table runs beside
  the follower, never in its way. A delete needs only counts: they come from the time index
  (a day at a time, then the hours of the days that differ), without reading a row. It lives
  in :mod:`.rollup_census`, as does a fourth task: at start, one pass over each tag from the
  horizon of the last pass, kept in the schema (``census_xid``), for what was written while
  no service followed the tag.

Merges and writes hold one lock (they share day chunks); the reads run outside it.

It reads the tag tables as the dashboard does (read-only sessions) and writes only its schema.
Its health is in the schema's ``health`` view, which ``trending-panel check`` reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from psycopg import AsyncConnection

from trending_panel.core import chunks
from trending_panel.core import m4 as reduce
from trending_panel.core.chunks import DAYS, LEVELS, MINUTES, Level
from trending_panel.core.errors import error_line
from trending_panel.core.rows import US, Series, from_us, to_us
from trending_panel.core.settings import Settings
from trending_panel.db import rollup as tables
from trending_panel.db import scan
from trending_panel.db.rollup import Written
from trending_panel.db.store import Store
from trending_panel.live.tag_list import as_variable
from trending_panel.ops.rollup_census import Census, Tag

log = logging.getLogger(__name__)

#: Days read by the builder's first slice of a tag; later slices follow the density found.
FIRST_DAYS = 1
#: At most this many days per slice, and about this many rows.
MAX_DAYS = 32
SLICE_ROWS = 2_000_000
#: The tag catalog is read again this often (new tables join within it).
CATALOG_EVERY_S = 60.0


class Rollup(Census):
    """Builds and follows every tag's rollup (see the module's docstring)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        schema: str,
        on_slice: Callable[[Tag, float], None] | None = None,
    ) -> None:
        self.store = store
        #: Told each tag and the share of its history built, after each slice is saved.
        self.on_slice = on_slice if on_slice is not None else _log_progress
        self.settings = settings
        self.schema = schema
        self.gap_us = settings.gap // US
        self.lookback_us = settings.lookback // US
        self.tags: dict[str, Tag] = {}
        #: Held while chunks are merged and written: the builder, the follower and the
        #: census write the same day chunks (their reads, the long part, run outside it).
        self.writing = asyncio.Lock()
        self.rows_built = 0  # rows read by the builder (for the benchmark)
        self.folds = 0  # spans rewritten behind the live edge (for tests)
        self.passes = self.counts = 0  # census passes over the rows, counts from the index

    # -- tags ------------------------------------------------------------------------------------

    async def refresh_tags(self, conn: AsyncConnection) -> None:
        """Every tag of the catalog (or the configured variables) registered; new ones join."""
        catalog = await self.store.tag_catalog(self.settings.catalog, self.settings.variables)
        configured = {v.table: v for v in self.settings.variables}
        for i, tag in enumerate(catalog.tags):
            var = configured.get(tag.table) or as_variable(tag, i)
            var = replace(var, key=tag.table)  # the rollup knows tags by table
            known = self.tags.get(var.table)
            if known is not None and (known.var.low, known.var.high) == (var.low, var.high):
                known.broken = None  # read again: a table granted or fixed meanwhile
                continue
            state = await tables.register(
                conn, self.schema, var.table, self.gap_us, var.low, var.high
            )
            self.tags[var.table] = Tag(var, state, resumed=state.built_us is not None)
        for name in catalog.unreadable:
            log.warning("rollup: cannot read %r (GRANT SELECT to the rollup's role)", name)

    # -- the builder -----------------------------------------------------------------------------

    async def build_all(self, conn: AsyncConnection, stop: asyncio.Event | None = None) -> int:
        """Every tag not yet built read to its table's newest row; the tags built."""
        done = 0
        for tag in list(self.tags.values()):
            if stop is not None and stop.is_set():
                break
            if tag.live or tag.broken:
                continue
            try:
                await self.build(conn, tag, stop)
                done += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one broken table does not stop the others
                await self._broken(conn, tag, error_line(exc))
        return done

    async def _broken(self, conn: AsyncConnection, tag: Tag, why: str) -> None:
        tag.broken = why
        log.warning("rollup: %s: %s", tag.var.table, why)
        with contextlib.suppress(Exception):
            await tables.heartbeat(conn, self.schema, [], {tag.state.id: why})

    async def find_broken(self, conn: AsyncConnection) -> None:
        """After a failed round: the tables that cannot be read are left out, named."""
        live = [t for t in self.tags.values() if t.live and not t.broken]
        problems = await self.store.problems([t.var for t in live])
        for t in live:
            if t.var in problems:
                await self._broken(conn, t, problems[t.var])

    async def build(self, conn: AsyncConnection, tag: Tag, stop: asyncio.Event | None) -> None:
        """One tag's history from its watermark (or its first row) to its newest row."""
        if tag.state.census_xid is None:  # writes from here on: the census's to look at
            xid = await self.store.xid_horizon()
            await tables.mark_census(conn, self.schema, tag.state.id, xid)
            tag.state = replace(tag.state, census_xid=xid)
        span = await self.store.span(tag.var)
        state = tag.state
        if span is None:  # empty: nothing to build, follow from now
            built = state.built_us or to_us(self.settings.now()) - self.lookback_us
            state = replace(state, built_us=built, first_us=state.first_us or built)
            await self._commit(conn, [(tag, state, [])])
            tag.live = True
            return
        oldest, newest = to_us(span[0]), to_us(span[1])
        if state.built_us is None:
            state = replace(state, first_us=oldest)
            a = oldest - oldest % chunks.DAY_US
        else:
            a = state.built_us
        days = FIRST_DAYS
        while a <= newest and not (stop is not None and stop.is_set()):
            b = min(a - a % chunks.DAY_US + days * chunks.DAY_US, newest + 1)
            minutes, _ = await scan.read_buckets(
                self.store, tag.var, from_us(a), from_us(b - 1), 0, MINUTES.width_us,
                self.gap_us, lane="rollup-build",
            )  # fmt: skip
            rows = int(minutes.count.sum())
            self.rows_built += rows
            first_min = a // MINUTES.width_us
            last_min = (b - 1) // MINUTES.width_us
            newest_us = state.newest_us
            if len(minutes):
                newest_us = max(newest_us or 0, int(minutes.last_t[-1]))
            state = replace(state, built_us=b, newest_us=newest_us)
            async with self.writing:
                written = await self._fold(conn, tag, first_min, last_min, minutes)
                await self._commit(conn, [(tag, state, written)])
            a = b
            self.on_slice(tag, min(1.0, (a - (state.first_us or a)) / max(newest - oldest, 1)))
            if rows < SLICE_ROWS // 2:
                days = min(days * 2, MAX_DAYS)
            elif rows > SLICE_ROWS:
                days = max(days // 2, 1)
        tag.live = a > newest

    # -- writing a span --------------------------------------------------------------------------

    async def _fold(
        self,
        conn: AsyncConnection,
        tag: Tag,
        first_min: int,
        last_min: int,
        minutes: reduce.Buckets,
    ) -> list[Written]:
        """The chunks that hold minutes ``first_min..last_min`` replaced by ``minutes``
        (their buckets read again from the rows), and the hours and days above them merged
        again: what :meth:`_commit` writes."""
        limits = tag.var.limits
        written: list[Written] = []
        lo, hi, new = first_min, last_min, minutes
        for level in LEVELS:
            first_chunk, last_chunk = int(level.chunk_of(lo)), int(level.chunk_of(hi))
            held = await self._held(conn, tag, level, first_chunk, last_chunk)
            merged = chunks.replace_span(held, new, lo, hi)
            parts = chunks.split(merged, level)
            for c in range(first_chunk, last_chunk + 1):
                written.append((level, c, parts.get(c, reduce.Buckets.empty())))
            if level is DAYS:
                break
            ratio = LEVELS[level.number + 1].width_us // level.width_us
            lo, hi = lo // ratio, hi // ratio
            sel = (merged.index >= lo * ratio) & (merged.index < (hi + 1) * ratio)
            children = merged.take(sel)
            new = reduce.regroup(children, children.index // ratio, self.gap_us, limits)
        return written

    async def _commit(
        self, conn: AsyncConnection, batch: list[tuple[Tag, tables.TagState, list[Written]]]
    ) -> None:
        """Tags' spans written and their new states saved in one transaction; then held."""
        await tables.save(conn, self.schema, [(state, written) for _, state, written in batch])
        for tag, state, written in batch:
            tag.state = state
            for level, c, b in written:
                edge = tag.edge.get(level.number)
                if edge is None or c >= edge[0]:
                    tag.edge[level.number] = (c, b)

    async def _held(
        self, conn: AsyncConnection, tag: Tag, level: Level, first: int, last: int
    ) -> reduce.Buckets:
        edge = tag.edge.get(level.number)
        if first == last and edge is not None and edge[0] == first:
            return edge[1]
        return await tables.load_chunks(conn, self.schema, tag.state.id, level, first, last)

    # -- the follower ----------------------------------------------------------------------------

    async def follow(self, conn: AsyncConnection) -> list[str]:
        """One round: what is new in every built tag folded in; the tags caught up."""
        built = [t for t in self.tags.values() if t.live and not t.broken]
        if not built:
            return []
        starts = {}
        for t in built:
            w = t.state.built_us or 0
            s = w - self.lookback_us
            starts[t.var.key] = from_us(s - s % MINUTES.width_us)
        rows = await self.store.since([t.var for t in built], starts, lane="rollup-follow")
        async with self.writing:
            await self._fold_new(conn, built, rows, starts)
        return [t.var.key for t in built]

    async def _fold_new(self, conn: AsyncConnection, built: list[Tag], rows, starts) -> None:
        """The rows re-read from each tag's watermark folded in, every tag in one commit."""
        batch: list[tuple[Tag, tables.TagState, list[Written]]] = []
        fed: dict[str, int] = {}
        for t in built:
            got = rows.get(t.var.key) or []
            start_us = to_us(starts[t.var.key])
            if not got:
                continue
            series = Series.from_rows(got)
            times, values = series.times.view("int64"), series.values
            w = t.state.built_us or 0
            new_rows = int(np.count_nonzero(times >= w))
            if new_rows == 0 and self._holds(t, start_us, len(got)):
                continue  # nothing new or late in the minutes re-read: held already
            minutes = reduce.aggregate(
                times, values, 0, MINUTES.width_us, self.gap_us, t.var.limits
            )
            state = replace(t.state, newest_us=max(t.state.newest_us or 0, int(times[-1])),
                            built_us=max(w, int(times[-1]) + 1))  # fmt: skip
            last_min = max(int(times[-1]), start_us) // MINUTES.width_us
            written = await self._fold(conn, t, start_us // MINUTES.width_us, last_min, minutes)
            batch.append((t, state, written))
            fed[t.var.key] = new_rows
        if batch:  # every tag's new minutes in one transaction
            await self._commit(conn, batch)
            for t, _, _ in batch:
                t.fed += fed[t.var.key]

    def _holds(self, t: Tag, start_us: int, rows: int) -> bool:
        """Whether the rollup's newest minutes from ``start_us`` hold ``rows`` rows (then a
        re-read of them found nothing late); unknown (not at hand) is no."""
        edge = t.edge.get(MINUTES.number)
        first_min = start_us // MINUTES.width_us
        if edge is None or MINUTES.chunk_of(first_min) != edge[0]:
            return False
        held = edge[1]
        return int(held.count[held.index >= first_min].sum()) == rows


_last_said: dict[str, float] = {}


def _log_progress(tag: Tag, share: float) -> None:
    """The build's progress in the log, every 10 s per tag and when it is done."""
    now = time.monotonic()
    if share >= 1.0 or now - _last_said.get(tag.var.table, now - 11) > 10:
        _last_said[tag.var.table] = now
        log.info("rollup: %s: %.0f %% of its history built", tag.var.table, 100 * share)

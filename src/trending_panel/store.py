"""Every SQL statement of the project lives here.

psycopg 3, asynchronous, behind one connection pool that runs on the store's own event-loop
thread, so that a Bokeh server's (or a Jupyter kernel's) event loop never waits on the
database. Table names contain a slash: they are only ever spliced in through
``psycopg.sql.Identifier``; values only ever travel as query parameters.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar

import numpy as np
from psycopg import AsyncConnection, OperationalError, errors, sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from .catalog import UNINDEXED, column_problem
from .diagnosis import CannotConnect, Diagnosis, explain
from .settings import Settings
from .timewindow import TimeWindow
from .variables import VARIABLES, Variable

log = logging.getLogger(__name__)

Row = tuple[datetime, float | None]
P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class Series:
    """Rows of one variable in time order. ``values`` holds NaN for NULL (a gap, not a zero)."""

    times: np.ndarray  # datetime64[us]
    values: np.ndarray  # float64
    #: The last row before the window, if asked for: its value still holds at the window's
    #: start (by-exception logging), so the trend can begin at the left edge.
    before: Row | None = None

    @classmethod
    def from_rows(cls, rows: Sequence[Row]) -> Series:
        times = np.array([r[0] for r in rows], dtype="datetime64[us]")
        values = np.array([math.nan if r[1] is None else r[1] for r in rows], dtype="float64")
        return cls(times, values)

    @classmethod
    def empty(cls) -> Series:
        return cls(np.array([], dtype="datetime64[us]"), np.array([], dtype="float64"))

    def __len__(self) -> int:
        return len(self.times)


def error_line(exc: BaseException) -> str:
    """A database error in one line, for a log record or the status line."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


#: A value as CSV text, the same as Python's ``repr(float)``: PostgreSQL (12+) prints the
#: shortest text that reads back to the same double too, but without Python's ``.0`` on whole
#: numbers, and from 1e15 on in a notation of its own: those few are marked with \x01 for
#: :mod:`trending_panel.export` to rewrite. NULL and NaN stay apart from "no row" (empty).
CSV_VALUE = (
    "CASE WHEN value IS NULL THEN 'NULL' WHEN value = 'NaN' THEN 'NaN'"
    " WHEN value = 'Infinity' THEN 'inf' WHEN value = '-Infinity' THEN '-inf'"
    " WHEN abs(value) >= 1e15 THEN E'\\x01' || value::text"
    " WHEN value = trunc(value) THEN value::text || '.0' ELSE value::text END"
)
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01, PostgreSQL's binary timestamp origin


class TooManyRows(Exception):
    """A read would bring more rows into memory than one request may (``max_rows``)."""


async def read_series(
    conn: AsyncConnection,
    var: Variable,
    start: datetime | None,
    end: datetime | None,
    limit: int | None = None,
) -> Series:
    """Rows of ``[start, end]`` as numpy arrays, fast.

    Row by row, psycopg spends about a microsecond of Python per row. Here PostgreSQL packs
    the times and values into two ``bytea`` (its own binary encodings, in time order) that
    numpy reads without a loop: 2.6 M rows in about 1.5 s instead of 3-4 s. More than
    ``limit`` rows raise :class:`TooManyRows` (no more than one row past it is read).
    """
    where, params = _time_filter(start, end)
    capped = sql.SQL("")
    if limit is not None:
        capped = sql.SQL(" LIMIT %s")
        params.append(limit + 1)
    query = sql.SQL(
        "SELECT string_agg(timestamp_send(time), ''::bytea),"
        " string_agg(float8send(coalesce(value, 'NaN')), ''::bytea)"
        " FROM (SELECT time, value FROM {} WHERE {} ORDER BY time, value{}) AS s"
    ).format(_table(var), where, capped)
    cur = conn.cursor(binary=True)
    await cur.execute(query, params)
    row = await cur.fetchone()
    if row is None or row[0] is None:
        return Series.empty()
    if limit is not None and len(row[0]) > 8 * limit:
        raise TooManyRows(
            f"{var.label}: more than {limit:,} rows in this range, more than one view may read "
            "(TRENDING_MAX_ROWS); choose a shorter range (the CSV has them all)"
        )
    stamps = np.frombuffer(row[0], dtype=">i8").astype("int64")
    values = np.frombuffer(row[1], dtype=">f8").astype("float64")
    # +/-infinity timestamps cannot be drawn or bucketed; one NaN bit pattern for NULL and NaN.
    finite = (stamps != np.iinfo(np.int64).max) & (stamps != np.iinfo(np.int64).min)
    if not finite.all():
        stamps, values = stamps[finite], values[finite]
    values[np.isnan(values)] = np.nan
    return Series((stamps + _PG_EPOCH_US).view("datetime64[us]"), values)


def _table(var: Variable) -> sql.Identifier:
    return sql.Identifier(var.table)


def _time_filter(start: datetime | None, end: datetime | None) -> tuple[sql.Composable, list]:
    """``WHERE`` for an inclusive ``[start, end]`` window; rows without a time never match."""
    clauses: list[sql.Composable] = [sql.SQL("time IS NOT NULL")]
    params: list = []
    if start is not None:
        clauses.append(sql.SQL("time >= %s"))
        params.append(start)
    if end is not None:
        clauses.append(sql.SQL("time <= %s"))
        params.append(end)
    return sql.SQL(" AND ").join(clauses), params


def _on_db_loop(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Run the coroutine method on the store's own event loop, awaited from the caller's."""

    @functools.wraps(method)
    async def wrapper(self: Store, *args: Any, **kwargs: Any) -> T:
        return await self._call(method(self, *args, **kwargs))

    return wrapper  # type: ignore[return-value]


class Store:
    """Asynchronous access to the four process tables through one connection pool.

    The pool and every query live on one event loop in a thread of their own, and callers on
    any loop (the Bokeh server's, a Jupyter kernel's, possibly several threads of it) await the
    results. asyncio objects cannot be shared between loops, so this is what makes one store
    safe to share across a process; the caller's loop only ever waits on a future.
    """

    def __init__(self, settings: Settings, *, max_size: int = 4, read_only: bool = True) -> None:
        self.settings = settings
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._loop_lock = threading.Lock()
        self._conninfo = settings.conninfo(read_only=read_only)
        self.pool = AsyncConnectionPool(
            self._conninfo,
            min_size=1,
            max_size=max_size,
            open=False,
            timeout=settings.connect_timeout,
            # A connection broken by a database restart is replaced on checkout, not handed out.
            check=AsyncConnectionPool.check_connection,
            kwargs={"autocommit": True},
            name="trending-panel",
        )
        #: Connections of their own for callers that must not wait behind the pool (the live
        #: feed): a refused connection fails at once, a broken one is replaced on next use.
        self._own: dict[str, AsyncConnection] = {}
        #: Why the last connection attempt failed, until one succeeds: while set, the pool is
        #: not trusted to connect (it would wait its whole timeout and hide the reason).
        self.down: str | None = "not connected yet"
        self._probe_lock: asyncio.Lock | None = None

    # -- the store's own event loop -----------------------------------------------------------

    def _db_loop(self) -> asyncio.AbstractEventLoop:
        with self._loop_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="trending-panel-db", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    async def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        loop = self._db_loop()
        if asyncio.get_running_loop() is loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

    def wait(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run a store coroutine to the end from synchronous code (a notebook cell), blocking
        the caller's thread, never the store's loop. Not for an event loop's own thread
        in a server: there, await the coroutine."""
        future = asyncio.run_coroutine_threadsafe(coro, self._db_loop())
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    @_on_db_loop
    async def open(self, wait: bool = False) -> None:
        """Open the pool. With ``wait=False`` a database that is down does not stop start-up;
        with ``wait=True`` it fails at once with the reason (one direct connection first)."""
        if wait and self.down is not None:
            await self._probe()
        if self.pool.closed:
            await self.pool.open(wait=wait, timeout=self.settings.connect_timeout)

    @contextlib.asynccontextmanager
    async def connection(self, lane: str | None = None) -> AsyncIterator[AsyncConnection]:
        """A connection (only ever used on the store's loop): pooled, or with ``lane`` the
        lane's own. A query interrupted on it (a deadline, a cancelled load) or failing with
        a connection error takes the connection out of use."""
        if lane is not None:
            async with self._own_connection(lane) as conn:
                yield conn
            return
        if self.down is not None:
            await self._probe()
        await self.open()
        try:
            async with self.pool.connection() as conn:
                yield conn
        except (OperationalError, PoolTimeout) as exc:
            self._went_down(exc)
            raise

    async def _probe(self) -> None:
        """Connect once directly: the real reason at once (refused, wrong password…) instead
        of the pool's "couldn't get a connection after N sec"."""
        if self._probe_lock is None:
            self._probe_lock = asyncio.Lock()
        async with self._probe_lock:
            if self.down is None:
                return
            try:
                conn = await AsyncConnection.connect(self._conninfo)
            except OperationalError as exc:
                raise CannotConnect(self._went_down(exc)) from exc
            await conn.close()
            self.down = None

    def _went_down(self, exc: BaseException) -> Diagnosis:
        """Remember that the database is down, and why (explained)."""
        diagnosis = explain(exc, self.settings)
        self.down = diagnosis.summary
        return diagnosis

    @contextlib.asynccontextmanager
    async def _own_connection(self, lane: str) -> AsyncIterator[AsyncConnection]:
        conn = self._own.get(lane)
        if conn is None or conn.closed or conn.broken:
            try:
                conn = await AsyncConnection.connect(self._conninfo, autocommit=True)
            except OperationalError as exc:
                raise CannotConnect(self._went_down(exc)) from exc
            self._own[lane] = conn
            self.down = None
        try:
            yield conn
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError | OperationalError) or conn.broken:
                # Interrupted mid-query (psycopg has tried to cancel it, for at most a few
                # seconds, before this runs) or broken: never reuse it.
                if self._own.get(lane) is conn:
                    del self._own[lane]
                if isinstance(exc, OperationalError):
                    self._went_down(exc)
                with contextlib.suppress(Exception):
                    await conn.close()
            raise

    async def close(self) -> None:
        """Close the pool and stop the store's loop."""
        if self._loop is None:
            return
        await self._call(self._close_all())
        with self._loop_lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            await asyncio.to_thread(thread.join, 5)
            loop.close()

    async def _close_all(self) -> None:
        for conn in self._own.values():
            await conn.close()
        self._own.clear()
        await self.pool.close()

    async def __aenter__(self) -> Store:
        await self.open(wait=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- reading -------------------------------------------------------------------------

    @_on_db_loop
    async def problems(
        self, variables: Iterable[Variable] | None = None, *, lane: str | None = None
    ) -> dict[Variable, str]:
        """What makes a variable's table unusable, in words; usable tables are absent.

        Not found, no ``SELECT`` right, or columns that are not ``time timestamp without time
        zone`` and a numeric ``value``: each is reported as what it is, not as an outage.
        """
        variables = list(variables if variables is not None else self.settings.variables)
        async with self.connection(lane) as conn:
            cur = await conn.execute(
                "SELECT c.relname, has_table_privilege(c.oid, 'SELECT'),"
                " (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a"
                "   WHERE a.attrelid = c.oid AND a.attname = 'time' AND NOT a.attisdropped),"
                " (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a"
                "   WHERE a.attrelid = c.oid AND a.attname = 'value' AND NOT a.attisdropped)"
                " FROM pg_catalog.pg_class c"
                " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND c.relname = ANY(%s)"
                " AND pg_catalog.pg_table_is_visible(c.oid)",
                ([v.table for v in variables],),
            )
            found = {r[0]: r[1:] for r in await cur.fetchall()}
        out: dict[Variable, str] = {}
        for var in variables:
            if var.table not in found:
                out[var] = "not found"
                continue
            readable, time_type, value_type = found[var.table]
            if not readable:
                out[var] = "no SELECT permission"
            elif why := column_problem(time_type, value_type):
                out[var] = why
        return out

    @_on_db_loop
    async def unindexed(
        self, variables: Iterable[Variable], *, lane: str | None = None
    ) -> list[Variable]:
        """The variables whose table has no btree index on ``time``: every poll and window
        then reads the whole table (the dashboard works, slowly; the header says so)."""
        variables = list(variables)
        async with self.connection(lane) as conn:
            cur = await conn.execute(UNINDEXED, ([v.table for v in variables],))
            names = {r[0] for r in await cur.fetchall()}
        return [v for v in variables if v.table in names]

    @_on_db_loop
    async def newest_time(self, variables: Sequence[Variable]) -> datetime | None:
        """Newest believable sample time over ``variables``: rows beyond the settings'
        horizon (a clock set wrong) do not count. Uses the ``time`` index when there is one."""
        rows = await self._each_table(
            variables, "SELECT max(time) FROM {t} WHERE time <= %(h)s", None
        )
        times = [r[0] for r in rows if r[0] is not None]
        return max(times, default=None)

    @_on_db_loop
    async def window(
        self,
        variables: Sequence[Variable],
        start: datetime | None,
        end: datetime | None,
        *,
        carry_in: bool = False,
    ) -> dict[str, Series]:
        """All rows of the inclusive window ``[start, end]`` per variable, in time order.

        With ``carry_in``, each series also gets the last row before ``start`` (``before``).
        The variables are read concurrently, each on a pooled connection of its own. More
        than the settings' ``max_rows`` in one variable raise :class:`TooManyRows`.
        """
        series = await asyncio.gather(
            *(self._window_one(var, start, end, carry_in) for var in variables)
        )
        return {var.key: s for var, s in zip(variables, series, strict=True)}

    @_on_db_loop
    async def series(
        self,
        var: Variable,
        start: datetime | None,
        end: datetime | None,
        *,
        limit: int,
        carry_in: bool = False,
        lane: str | None = None,
    ) -> Series:
        """The rows of ``var`` in ``[start, end]``, at most ``limit`` of them (more raise
        :class:`TooManyRows`); with ``carry_in``, also the last row before ``start``.
        ``lane``: on that lane's own connection instead of the pool's (long passes that
        must not hold pooled connections from the pages)."""
        return await self._window_one(var, start, end, carry_in, limit, lane)

    async def _window_one(
        self,
        var: Variable,
        start: datetime | None,
        end: datetime | None,
        carry_in: bool,
        limit: int | None = None,
        lane: str | None = None,
    ) -> Series:
        async with self.connection(lane) as conn:
            limit = limit if limit is not None else self.settings.max_rows
            series = await read_series(conn, var, start, end, limit)
            if carry_in and start is not None:
                cur = await conn.execute(
                    sql.SQL(
                        "SELECT time, value FROM {} WHERE time < %s"
                        " ORDER BY time DESC, value DESC LIMIT 1"
                    ).format(_table(var)),
                    (start,),
                )
                series.before = await cur.fetchone()
        return series

    @_on_db_loop
    async def span(
        self, var: Variable, *, believable: bool = True
    ) -> tuple[datetime, datetime] | None:
        """Oldest and newest sample time of ``var`` (two index probes), or None when empty;
        ``believable``: rows beyond the horizon (a clock set wrong) do not count."""
        horizon = self.settings.horizon() if believable else None
        where, params = _time_filter(None, horizon)
        async with self.connection() as conn:
            cur = await conn.execute(
                sql.SQL("SELECT min(time), max(time) FROM {} WHERE {}").format(_table(var), where),
                params,
            )
            row = await cur.fetchone()
        if row is None or row[0] is None:
            return None
        return row[0], row[1]

    async def extent(
        self, variables: Sequence[Variable], *, believable: bool = True
    ) -> tuple[datetime, datetime] | None:
        """Oldest and newest sample time over ``variables``, or None when all are empty."""
        spans = [
            s for v in variables if (s := await self.span(v, believable=believable)) is not None
        ]
        if not spans:
            return None
        return min(s[0] for s in spans), max(s[1] for s in spans)

    async def window_ends(
        self, window: TimeWindow, variables: Sequence[Variable]
    ) -> tuple[datetime, datetime] | None:
        """``window``'s ends now: a relative window against the newest believable sample, the
        whole history ("all data") as its extent; None when there is no row."""
        start, end = window.resolve(await self.newest_time(variables))
        if start is None or end is None:
            extent = await self.extent(variables)
            if extent is None:
                return None
            start, end = start or extent[0], end or extent[1]
        return start, end

    @_on_db_loop
    async def latest(
        self, variables: Sequence[Variable], *, lane: str | None = None
    ) -> dict[str, Row]:
        """The newest believable row of each variable (at or before the horizon; its value
        may be NULL: that is reported as is)."""
        rows = await self._each_table(
            variables,
            "(SELECT {k}::int, time, value FROM {t} WHERE time <= %(h)s"
            " ORDER BY time DESC LIMIT 1)",
            lane,
        )
        return {variables[k].key: (t, value) for k, t, value in rows}

    async def _allow_long(self, conn: AsyncConnection) -> None:
        """Within the current transaction, statements may run up to the export's limit
        (``TRENDING_EXPORT_TIMEOUT``) instead of the session's query timeout."""
        ms = int(self.settings.export_timeout.total_seconds() * 1000)
        await conn.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(ms))

    async def _each_table(
        self, variables: Sequence[Variable], template: str, lane: str | None
    ) -> list[tuple]:
        """One statement: ``template`` for each variable (``{k}`` its position, ``{t}`` its
        table, ``%(h)s`` the horizon) joined by ``UNION ALL``; all rows it returns."""
        if not variables:
            return []
        query = sql.SQL(" UNION ALL ").join(
            sql.SQL(template).format(k=sql.Literal(i), t=_table(v))  # type: ignore[arg-type]
            for i, v in enumerate(variables)
        )
        async with self.connection(lane) as conn:
            cur = await conn.execute(query, {"h": self.settings.horizon()})
            return await cur.fetchall()

    @_on_db_loop
    async def since(
        self,
        variables: Sequence[Variable],
        starts: dict[str, datetime | None],
        *,
        lane: str | None = None,
    ) -> dict[str, list[Row]]:
        """Rows with ``starts[key] <= time <= horizon`` for each variable, in one round trip
        (UNION ALL). Rows beyond the horizon wait until the clock reaches them.

        The live feed calls this once per tick for the whole process, so the database load does
        not grow with the number of viewers.
        """
        if not variables:
            return {}
        horizon = self.settings.horizon()
        parts, params = [], []
        for i, var in enumerate(variables):
            where, p = _time_filter(starts.get(var.key), horizon)
            parts.append(
                sql.SQL("SELECT {k}::int AS k, time, value FROM {t} WHERE {w}").format(
                    k=sql.Literal(i), t=_table(var), w=where
                )
            )
            params.extend(p)
        query = sql.SQL("{} ORDER BY k, time").format(sql.SQL(" UNION ALL ").join(parts))
        out: dict[str, list[Row]] = {v.key: [] for v in variables}
        async with self.connection(lane) as conn:
            cur = await conn.execute(query, params)
            for k, t, value in await cur.fetchall():
                out[variables[k].key].append((t, value))
        return out

    @_on_db_loop
    async def future_rows(
        self, variables: Sequence[Variable], *, lane: str | None = None
    ) -> dict[str, tuple[int, datetime, datetime]]:
        """Rows dated beyond the horizon per variable: their number, first and last time
        (an index range scan that is empty when every clock is right)."""
        rows = await self._each_table(
            variables,
            "SELECT {k}::int, count(*), min(time), max(time) FROM {t} WHERE time > %(h)s",
            lane,
        )
        return {variables[k].key: (n, first, last) for k, n, first, last in rows if n}

    # -- change detection (see convergence.py) ----------------------------------------------

    @_on_db_loop
    async def write_counters(self, variables: Sequence[Variable]) -> dict[str, tuple[int, ...]]:
        """Rows inserted, updated and deleted per table since the statistics were reset
        (``pg_stat_user_tables``: readable by any role, costs nothing to ask)."""
        async with self.connection() as conn:
            cur = await conn.execute(
                "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables"
                " WHERE relid = ANY(SELECT c.oid FROM pg_catalog.pg_class c"
                "  WHERE c.relname = ANY(%s) AND pg_catalog.pg_table_is_visible(c.oid))",
                ([v.table for v in variables],),
            )
            by_table = {r[0]: tuple(int(x) for x in r[1:]) for r in await cur.fetchall()}
        return {v.key: by_table[v.table] for v in variables if v.table in by_table}

    @_on_db_loop
    async def xid_horizon(self) -> int:
        """The oldest transaction still running now (64-bit): every row written from here on,
        or by a transaction in progress, has a transaction id at or after it."""
        async with self.connection() as conn:
            cur = await conn.execute("SELECT txid_snapshot_xmin(txid_current_snapshot())")
            row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    @_on_db_loop
    async def bucket_census(
        self, var: Variable, bucket: timedelta, since_xid: int | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per bucket of ``bucket`` on the grid at 1970: its number, its row count, and whether
        a row in it was written (inserted or updated) by a transaction at or after
        ``since_xid``. One pass over the table."""
        touched = (
            sql.SQL("bool_or(age(xmin) <= %(age)s)") if since_xid is not None else sql.SQL("false")
        )
        # date_bin (PostgreSQL 14+): a third of the cost of arithmetic on extract(epoch).
        query = sql.SQL(
            "SELECT date_bin(%(width)s, time, timestamp '1970-01-01') AS b, count(*), {touched}"
            " FROM {t} WHERE time <= %(h)s GROUP BY b ORDER BY b"
        ).format(touched=touched, t=_table(var))
        async with self.connection() as conn, conn.transaction():
            # One sequential pass: on a table of years it outlasts a window load's limit.
            await self._allow_long(conn)
            age = 0
            if since_xid is not None:
                # age(xmin) counts back from the next transaction id: a row written at or
                # after since_xid is at most (next - since_xid) old.
                cur = await conn.execute("SELECT txid_snapshot_xmax(txid_current_snapshot())")
                row = await cur.fetchone()
                assert row is not None
                age = max(0, int(row[0]) - since_xid)
            # Rows beyond the horizon are not summarised (see newest_time): not counted either.
            params = {"width": bucket, "age": age, "h": self.settings.horizon()}
            cur = await conn.execute(query, params)
            rows = await cur.fetchall()
        if not rows:
            empty = np.empty(0, dtype="int64")
            return empty, empty, np.empty(0, dtype=bool)
        starts, counts, flags = zip(*rows, strict=True)
        bucket_us = bucket // timedelta(microseconds=1)
        return (
            np.array(starts, dtype="datetime64[us]").view("int64") // bucket_us,
            np.asarray(counts, dtype="int64"),
            np.asarray(flags, dtype=bool),
        )

    async def export_lines(
        self,
        variables: Sequence[Variable],
        start: datetime | None,
        end: datetime | None,
        *,
        slices: int = 2000,
        lanes: int = 2,
    ) -> AsyncIterator[bytes]:
        """The window's rows as CSV lines made by PostgreSQL, in time order, block by block.

        Each row becomes one line: the ISO 8601 time, then its value in its variable's column
        (see :data:`CSV_VALUE`) and empty cells elsewhere, ``\\n``-terminated; rows that share
        a time are merged into the file's layout by :mod:`trending_panel.export`.

        The window is cut into ``slices`` equal time slices, and ``COPY … TO STDOUT`` sends
        each slice's lines as one value (``string_agg`` over a merge of the four time indexes):
        a few thousand copy rows instead of one per database row, whose per-row cost in Python
        was most of the time. ``lanes`` connections copy alternate slices at once, so the
        formatting runs on that many database cores; the blocks are read back in slice order,
        and a lane runs ahead by no more than its socket buffer, so memory stays bounded.
        """
        if not variables:
            return
        if start is None or end is None:
            # The CSV holds every row as stored, a wrong clock's too.
            extent = await self.extent(variables, believable=False)
            if extent is None:
                return
            start = start if start is not None else extent[0]
            end = end if end is not None else extent[1]
        step = max((end - start) / slices, timedelta(seconds=1))
        lanes = max(1, min(lanes, math.ceil((end - start) / step + 1e-9)))
        streams = [
            self._copy_slices(variables, start + k * step, end, step, lanes * step)
            for k in range(lanes)
        ]

        async def next_block(k: int) -> bytes | None:
            return await anext(streams[k], None)

        try:
            k = 0
            while (block := await self._call(next_block(k))) is not None:
                if block:
                    yield block
                k = (k + 1) % lanes
        finally:
            for stream in streams:
                await self._call(stream.aclose())

    async def _copy_slices(
        self,
        variables: Sequence[Variable],
        first: datetime,
        end: datetime,
        step: timedelta,
        stride: timedelta,
    ) -> AsyncIterator[bytes]:
        """One lane: the slices ``[first + i·stride, … + step)`` up to ``end`` (inclusive),
        one copy row each (empty bytes for a slice without rows)."""
        n = len(variables)
        parts = [
            sql.SQL(
                "SELECT time, to_char(time, 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
                " || {pre} || " + CSV_VALUE + " || {post} || E'\\n' AS line FROM {t}"
                " WHERE time >= s.a AND time < s.a + %(step)s AND time <= %(end)s"
            ).format(
                pre=sql.Literal("," * (i + 1)), post=sql.Literal("," * (n - 1 - i)), t=_table(var)
            )
            for i, var in enumerate(variables)
        ]
        query = sql.SQL(
            "COPY (SELECT (SELECT string_agg(line, '') FROM ({u} ORDER BY time) AS u)"
            " FROM generate_series(%(first)s::timestamp, %(end)s::timestamp,"
            " %(stride)s::interval) AS s(a)) TO STDOUT (FORMAT binary)"
        ).format(u=sql.SQL(" UNION ALL ").join(parts))
        params = {"first": first, "end": end, "step": step, "stride": stride}
        async with self.connection() as conn, conn.transaction():
            # A merge of the time indexes, not a sort; a parallel plan or JIT only cost here.
            for setting in ("enable_sort", "jit"):
                await conn.execute(sql.SQL("SET LOCAL {} = off").format(sql.Identifier(setting)))
            await conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            # A long export is legitimate: its own limit, not the one of a window load.
            await self._allow_long(conn)
            async with conn.cursor().copy(query, params) as copy:
                header = True
                async for data in copy:
                    row = memoryview(data)
                    if header:  # COPY's binary signature, flags and extension area
                        row, header = row[19:], False
                    if len(row) == 2:  # the trailer
                        continue
                    # a field count (2 bytes) and length (4 bytes), -1 for an empty slice
                    yield bytes(row[6:])

    # -- writing (simulator, demo, tests: never the dashboard) -------------------------------

    @_on_db_loop
    async def ensure_schema(self, variables: Sequence[Variable] | None = None) -> None:
        """Create missing tables and a btree index on ``time`` for each (idempotent); by
        default the settings' variables."""
        async with self.connection() as conn:
            await create_schema(conn, variables or self.settings.variables)

    @_on_db_loop
    async def insert(self, var: Variable, rows: Iterable[Row]) -> int:
        """Append rows with COPY (fast for back-fill, fine for a live trickle)."""
        n = 0
        async with self.connection() as conn, conn.transaction():
            cur = conn.cursor()
            copy_sql = sql.SQL("COPY {} (time, value) FROM STDIN").format(_table(var))
            async with cur.copy(copy_sql) as copy:
                for row in rows:
                    await copy.write_row(row)
                    n += 1
        return n


async def create_schema(conn: AsyncConnection, variables: Sequence[Variable] = VARIABLES) -> None:
    """Create missing tables, and a btree index on ``time`` where a table has none.

    Existing tables are left alone, so a role that may only insert (the simulator's writer)
    passes; a missing index it may not create is reported, not fatal.
    """
    for var in variables:
        cur = await conn.execute(
            "SELECT c.oid, EXISTS (SELECT 1 FROM pg_catalog.pg_index i"
            "  JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid"
            "   AND a.attnum = i.indkey[0]"
            "  WHERE i.indrelid = c.oid AND a.attname = 'time')"
            " FROM pg_catalog.pg_class c WHERE c.relname = %s"
            " AND pg_catalog.pg_table_is_visible(c.oid)",
            (var.table,),
        )
        found = await cur.fetchone()
        if found is None:
            await conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (time timestamp without time zone,"
                    " value double precision)"
                ).format(_table(var))
            )
        elif found[1]:
            continue
        try:
            await conn.execute(
                sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (time)").format(
                    sql.Identifier(f"{var.key}_time_idx"), _table(var)
                )
            )
        except errors.InsufficientPrivilege:
            log.warning(
                "no index on time of %s and no right to create one: polls will be slow", var.table
            )

"""The store's reads: rows of a window, the newest rows, what is new since a cursor, and
what makes a table unusable.

Wide reads come packed (:func:`read_series`: PostgreSQL's own binary encodings in two
``bytea``, read by numpy without a loop); every statement goes through the pool or a lane of
:class:`~.pool.Pool`, on the store's loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime

import numpy as np
from psycopg import AsyncConnection, sql

from trending_panel.core.errors import TooManyRows
from trending_panel.core.rows import Row, Series
from trending_panel.core.timewindow import TimeWindow
from trending_panel.core.variables import Variable
from trending_panel.db.catalog import UNINDEXED, column_problem
from trending_panel.db.pool import Pool, on_db_loop, table

_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01, PostgreSQL's binary timestamp origin


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
    ).format(table(var), where, capped)
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


class Reads(Pool):
    """What the dashboard reads."""

    @on_db_loop
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

    @on_db_loop
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

    @on_db_loop
    async def newest_time(self, variables: Sequence[Variable]) -> datetime | None:
        """Newest believable sample time over ``variables``: rows beyond the settings'
        horizon (a clock set wrong) do not count. Uses the ``time`` index when there is one."""
        rows = await self._each_table(
            variables, "SELECT max(time) FROM {t} WHERE time <= %(h)s", None
        )
        times = [r[0] for r in rows if r[0] is not None]
        return max(times, default=None)

    @on_db_loop
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

    @on_db_loop
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
                    ).format(table(var)),
                    (start,),
                )
                series.before = await cur.fetchone()
        return series

    @on_db_loop
    async def span(
        self, var: Variable, *, believable: bool = True
    ) -> tuple[datetime, datetime] | None:
        """Oldest and newest sample time of ``var`` (two index probes), or None when empty;
        ``believable``: rows beyond the horizon (a clock set wrong) do not count."""
        horizon = self.settings.horizon() if believable else None
        where, params = _time_filter(None, horizon)
        async with self.connection() as conn:
            cur = await conn.execute(
                sql.SQL("SELECT min(time), max(time) FROM {} WHERE {}").format(table(var), where),
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

    @on_db_loop
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

    @on_db_loop
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
                    k=sql.Literal(i), t=table(var), w=where
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

    @on_db_loop
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

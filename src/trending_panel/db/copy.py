"""The store's CSV lines, written by PostgreSQL's ``COPY`` a slice of time at a time."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta

from psycopg import sql

from trending_panel.core.variables import Variable
from trending_panel.db.pool import Pool, on_db_loop, table

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


class Copy(Pool):
    """A window's rows as CSV lines, block by block, in time order."""

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
        merged = await self._shares_instants(variables, start)
        streams = [
            self._copy_slices(variables, start + k * step, end, step, lanes * step, merged)
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

    @on_db_loop
    async def _shares_instants(self, variables: Sequence[Variable], start: datetime) -> bool:
        """Whether the tables log at the same instants, judged on the window's first rows:
        it picks the faster query; both give the same file whatever the answer."""
        if len(variables) < 2:
            return False
        firsts = sql.SQL(" UNION ALL ").join(
            sql.SQL("(SELECT time FROM {} WHERE time >= %(start)s ORDER BY time LIMIT 500)").format(
                table(var)
            )
            for var in variables
        )
        query = sql.SQL("SELECT count(*) > count(DISTINCT time) FROM ({}) AS f").format(firsts)
        async with self.connection() as conn:
            row = await (await conn.execute(query, {"start": start})).fetchone()
        return bool(row and row[0])

    async def _copy_slices(
        self,
        variables: Sequence[Variable],
        first: datetime,
        end: datetime,
        step: timedelta,
        stride: timedelta,
        merged: bool,
    ) -> AsyncIterator[bytes]:
        """One lane: the slices ``[first + i·stride, … + step)`` up to ``end`` (inclusive),
        one copy row each (empty bytes for a slice without rows)."""
        query = (_merged_query if merged else _rows_query)(variables)
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


def _rows_query(variables: Sequence[Variable]) -> sql.Composed:
    """One line per row, in time order (rows that share a time are laid out by the
    Rewriter): the fastest when the tables log at instants of their own."""
    n = len(variables)
    parts = [
        sql.SQL(
            "SELECT time, to_char(time, 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
            " || {pre} || " + CSV_VALUE + " || {post} || E'\\n' AS line FROM {t}"
            " WHERE time >= s.a AND time < s.a + %(step)s AND time <= %(end)s"
        ).format(pre=sql.Literal("," * (i + 1)), post=sql.Literal("," * (n - 1 - i)), t=table(var))
        for i, var in enumerate(variables)
    ]
    return sql.SQL(
        "COPY (SELECT (SELECT string_agg(line, '') FROM ({u} ORDER BY time) AS u)"
        " FROM generate_series(%(first)s::timestamp, %(end)s::timestamp,"
        " %(stride)s::interval) AS s(a)) TO STDOUT (FORMAT binary)"
    ).format(u=sql.SQL(" UNION ALL ").join(parts))


def _merged_query(variables: Sequence[Variable]) -> sql.Composed:
    """One line per instant where each table has at most one row (the whole file when the
    tables log at the same instants: three times faster than laying them out in Python); the
    rows of an instant where a table has several stay one line each, for the Rewriter."""
    n = len(variables)
    parts = [
        sql.SQL(
            "SELECT time, {k} AS k, " + CSV_VALUE + " AS v FROM {t}"
            " WHERE time >= s.a AND time < s.a + %(step)s AND time <= %(end)s"
        ).format(k=sql.Literal(i), t=table(var))
        for i, var in enumerate(variables)
    ]
    cells = sql.SQL(" || ',' || ").join(
        sql.SQL("coalesce(max(v) FILTER (WHERE k = {}), '')").format(sql.Literal(i))
        for i in range(n)
    )
    return sql.SQL(
        "COPY (SELECT (SELECT string_agg(line, '') FROM ("
        " SELECT time, CASE WHEN sum(1 << k) = bit_or(1 << k)"
        " THEN to_char(time, {fmt}) || ',' || {cells} || E'\\n'"
        " ELSE string_agg(to_char(time, {fmt}) || repeat(',', k + 1) || v"
        " || repeat(',', {last} - k) || E'\\n', '') END AS line"
        " FROM ({u}) AS u GROUP BY time ORDER BY time) AS g)"
        " FROM generate_series(%(first)s::timestamp, %(end)s::timestamp,"
        " %(stride)s::interval) AS s(a)) TO STDOUT (FORMAT binary)"
    ).format(
        u=sql.SQL(" UNION ALL ").join(parts),
        cells=cells,
        fmt=sql.Literal('YYYY-MM-DD"T"HH24:MI:SS.US'),
        last=sql.Literal(n - 1),
    )

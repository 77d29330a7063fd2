"""Writing (the simulator, the demo and the tests; never the dashboard): the tables, their
``time`` index, and rows by ``COPY``."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from psycopg import AsyncConnection, errors, sql

from trending_panel.core.rows import Row
from trending_panel.core.variables import VARIABLES, Variable
from trending_panel.db.pool import Pool, on_db_loop, table

log = logging.getLogger(__name__)


class Schema(Pool):
    """The writing half: only a store opened with a writing role uses it."""

    @on_db_loop
    async def ensure_schema(self, variables: Sequence[Variable] | None = None) -> None:
        """Create missing tables and a btree index on ``time`` for each (idempotent); by
        default the settings' variables."""
        async with self.connection() as conn:
            await create_schema(conn, variables or self.settings.variables)

    @on_db_loop
    async def insert(self, var: Variable, rows: Iterable[Row]) -> int:
        """Append rows with COPY (fast for back-fill, fine for a live trickle)."""
        n = 0
        async with self.connection() as conn, conn.transaction():
            cur = conn.cursor()
            copy_sql = sql.SQL("COPY {} (time, value) FROM STDIN").format(table(var))
            async with cur.copy(copy_sql) as copy:
                for row in rows:
                    await copy.write_row(row)
                    n += 1
        return n

    @on_db_loop
    async def insert_generated(
        self,
        var: Variable,
        start: datetime,
        end: datetime,
        step: timedelta,
        signal: tuple[float, float, float, float, float],
    ) -> int:
        """History of ``var`` from ``start`` to ``end``, a row every ``step``, computed by
        PostgreSQL (no row crosses the wire): ``base + amplitude · sin(2π t / period + phase)
        + noise · uniform(-1, 1)`` for ``signal = (base, amplitude, period_s, phase, noise)``."""
        query = sql.SQL(
            "INSERT INTO {} (time, value) SELECT t, %s + %s * sin(2 * pi() * extract(epoch FROM"
            " t) / %s + %s) + %s * (2 * random() - 1)"
            " FROM generate_series(%s::timestamp, %s::timestamp, %s::interval) t"
        ).format(table(var))
        async with self.connection() as conn:
            cur = await conn.execute(query, (*signal, start, end, step))
            return cur.rowcount

    async def write_metadata(self, name: str, rows: Sequence[tuple]) -> None:
        """The tag metadata table ``name`` (``tag, label, unit, low, high, description``)
        holding exactly ``rows``."""
        columns = ("tag text, label text, unit text, low double precision,"
                   " high double precision, description text")  # fmt: skip
        await self._replace_table(name, columns, rows)

    async def write_events(self, name: str, rows: Sequence[tuple]) -> None:
        """The events table ``name`` (``start_time, end_time, batch_id, phase, unit,
        description``: one row per phase of a batch) holding exactly ``rows``."""
        columns = ("start_time timestamp without time zone, end_time timestamp without time"
                   " zone, batch_id text, phase text, unit text, description text")  # fmt: skip
        await self._replace_table(name, columns, rows)

    @on_db_loop
    async def _replace_table(self, name: str, columns: str, rows: Sequence[tuple]) -> None:
        """The table ``name`` (created with ``columns``, a constant) holding exactly ``rows``."""
        ident = sql.Identifier(name)
        async with self.connection() as conn, conn.transaction():
            cur = await conn.execute("SELECT to_regclass(quote_ident(%s))", [name])
            row = await cur.fetchone()
            if row is None or row[0] is None:  # (IF NOT EXISTS alone asks for CREATE rights)
                await conn.execute(sql.SQL("CREATE TABLE {} ({})").format(ident, sql.SQL(columns)))
            await conn.execute(sql.SQL("DELETE FROM {}").format(ident))
            marks = sql.SQL(", ").join(sql.Placeholder() * len(columns.split(",")))
            await conn.cursor().executemany(
                sql.SQL("INSERT INTO {} VALUES ({})").format(ident, marks), rows
            )


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
                ).format(table(var))
            )
        elif found[1]:
            continue
        try:
            await conn.execute(
                sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (time)").format(
                    sql.Identifier(f"{var.key}_time_idx"), table(var)
                )
            )
        except errors.InsufficientPrivilege:
            log.warning(
                "no index on time of %s and no right to create one: polls will be slow", var.table
            )

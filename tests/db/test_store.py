"""Store against a real PostgreSQL: exact rows, quoting, NULL/NaN, latest, missing tables."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import datetime, timedelta

import numpy as np
import psycopg
import pytest
from psycopg import sql

from tests.harness.browser import free_port
from tests.harness.database import insert
from trending_panel.core.settings import Settings
from trending_panel.core.variables import BY_KEY, VARIABLES
from trending_panel.db.store import Store

T0 = datetime(2023, 5, 4, 10, 0, 0)
TEMP, PH = BY_KEY["temperature"], BY_KEY["ph"]


def run(coro):
    return asyncio.run(coro)


async def _with_store(settings: Settings, fn, *, read_only: bool = True):
    async with Store(settings, read_only=read_only) as store:
        return await fn(store)


def test_window_returns_exactly_the_rows_inside_inclusive_bounds(db, tables):
    rows = [(T0 + timedelta(seconds=s), 37.0 + s / 100) for s in range(0, 100, 7)]
    insert(tables, TEMP.table, rows)
    start, end = T0 + timedelta(seconds=14), T0 + timedelta(seconds=56)
    out = run(_with_store(db, lambda s: s.window([TEMP], start, end)))
    series = out["temperature"]
    expected = [r for r in rows if start <= r[0] <= end]
    assert [t.item() for t in series.times] == [r[0] for r in expected]
    assert series.values.tolist() == [r[1] for r in expected]
    assert series.times[0].item() == start and series.times[-1].item() == end


def test_slash_names_are_quoted_and_other_tables_untouched(db, tables):
    # A decoy table whose name is the unquoted reading of a slash name must never be hit.
    tables.execute('CREATE TABLE "CM_HAM_DO_AI1" (time timestamp, value double precision)')
    tables.execute("""INSERT INTO "CM_HAM_DO_AI1" VALUES ('2023-05-04 10:00', -1)""")
    insert(tables, TEMP.table, [(T0, 37.2)])
    out = run(_with_store(db, lambda s: s.window(VARIABLES, None, None)))
    assert out["temperature"].values.tolist() == [37.2]
    assert all(len(out[v.key]) == 0 for v in VARIABLES[1:])


def test_null_and_nan_are_gaps_not_zeros_or_errors(db, tables):
    insert(
        tables,
        PH.table,
        [
            (T0, 7.2),
            (T0 + timedelta(seconds=1), None),
            (T0 + timedelta(seconds=2), math.nan),
            (T0 + timedelta(seconds=3), 7.1),
        ],
    )
    series = run(_with_store(db, lambda s: s.window([PH], None, None)))["ph"]
    assert len(series) == 4
    assert series.values[0] == 7.2 and series.values[3] == 7.1
    assert np.isnan(series.values[1]) and np.isnan(series.values[2])


def test_rows_without_time_are_skipped(db, tables):
    insert(tables, PH.table, [(None, 7.0), (T0, 7.2)])
    series = run(_with_store(db, lambda s: s.window([PH], None, None)))["ph"]
    assert series.values.tolist() == [7.2]


def test_latest_and_newest_time(db, tables):
    insert(tables, TEMP.table, [(T0, 37.1), (T0 + timedelta(seconds=5), 37.3)])
    insert(tables, PH.table, [(T0 + timedelta(seconds=9), None)])

    async def check(store: Store):
        return await store.latest(VARIABLES), await store.newest_time(VARIABLES)

    latest, newest = run(_with_store(db, check))
    assert latest["temperature"] == (T0 + timedelta(seconds=5), 37.3)
    assert latest["ph"] == (T0 + timedelta(seconds=9), None)  # NULL reported as it is
    assert "pressure" not in latest  # empty table: no invented value
    assert newest == T0 + timedelta(seconds=9)


def test_missing_tables_are_reported_not_fatal(db, conn):
    conn.execute(
        sql.SQL("CREATE TABLE {} (time timestamp, value double precision)").format(
            sql.Identifier(PH.table)
        )
    )
    problems = run(_with_store(db, lambda s: s.problems(VARIABLES)))
    assert problems == {v: "not found" for v in VARIABLES if v is not PH}


def test_unusable_tables_are_reported_for_what_they_are(db, conn):
    """Each kind of problem in words; a usable table (integer values are numbers) is not listed."""
    do, pressure = BY_KEY["dissolved_oxygen"], BY_KEY["pressure"]
    ddl = {
        TEMP: "time timestamptz, value double precision",
        PH: "time timestamp, value text",
        do: "stamp timestamp, value double precision",
        pressure: "time timestamp, value integer",
    }
    for var, columns in ddl.items():
        conn.execute(
            sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(var.table), sql.SQL(columns))
        )
    conn.execute("CREATE ROLE tp_no_select LOGIN")
    try:
        conn.execute(
            sql.SQL("GRANT SELECT ON {}, {}, {} TO tp_no_select").format(
                *(sql.Identifier(v.table) for v in (TEMP, PH, do))
            )
        )
        problems = run(_with_store(db, lambda s: s.problems(VARIABLES)))
        assert problems == {
            TEMP: "column time is timestamp with time zone, expected timestamp without time zone",
            PH: "column value is text, expected a number",
            do: "column time is missing, expected timestamp without time zone",
        }
        from dataclasses import replace

        limited = replace(db, user="tp_no_select")
        problems = run(_with_store(limited, lambda s: s.problems([pressure])))
        assert problems == {pressure: "no SELECT permission"}
    finally:
        conn.execute("DROP OWNED BY tp_no_select")
        conn.execute("DROP ROLE tp_no_select")


def test_since_reads_all_four_tables_in_one_query(db, tables):
    for i, var in enumerate(VARIABLES):
        insert(tables, var.table, [(T0 + timedelta(milliseconds=i), float(i))])
    starts = {v.key: T0 for v in VARIABLES}
    out = run(_with_store(db, lambda s: s.since(VARIABLES, starts)))
    for i, var in enumerate(VARIABLES):
        assert out[var.key] == [(T0 + timedelta(milliseconds=i), float(i))]


def test_ensure_schema_creates_tables_and_time_index(db, conn):
    run(_with_store(db, lambda s: s.ensure_schema(), read_only=False))
    run(_with_store(db, lambda s: s.ensure_schema(), read_only=False))  # idempotent
    names = {
        r[0]
        for r in conn.execute(
            "SELECT tablename FROM pg_indexes WHERE indexdef LIKE '%(\"time\")%'"
        ).fetchall()
    }
    assert names == {v.table for v in VARIABLES}


def test_insert_uses_copy_and_keeps_exact_values(db, conn):
    run(_with_store(db, lambda s: s.ensure_schema(), read_only=False))
    rows = [(T0 + timedelta(microseconds=i), 0.1 * i) for i in range(1000)]
    n = run(_with_store(db, lambda s: s.insert(TEMP, rows), read_only=False))
    assert n == 1000
    got = conn.execute(
        sql.SQL("SELECT time, value FROM {} ORDER BY time").format(sql.Identifier(TEMP.table))
    ).fetchall()
    assert got == rows


def test_a_refused_connection_is_reported_at_once_with_its_reason(db):
    """Not after the pool's timeout (5 s), and not as "couldn't get a connection"."""
    bad = Settings(host="127.0.0.1", port=free_port(), user="x", password="y", dbname="z")

    async def attempt():
        store = Store(bad)
        try:
            await store.latest(VARIABLES)
        finally:
            await store.close()

    began = time.monotonic()
    with pytest.raises(psycopg.OperationalError, match="refused"):
        run(attempt())
    assert time.monotonic() - began < 1.0


def test_the_dashboards_sessions_are_read_only_and_time_limited(db, tables):
    """Defence in depth beside a read-only role: even a role that may write cannot through
    the dashboard's connections, and no statement of theirs runs past the query timeout."""

    async def attempt():
        async with Store(db) as store:

            async def write():
                async with store.connection() as conn:
                    cur = await conn.execute("SHOW statement_timeout")
                    timeout = (await cur.fetchone())[0]
                    try:
                        await conn.execute(
                            sql.SQL("INSERT INTO {} VALUES (now(), 1)").format(
                                sql.Identifier(TEMP.table)
                            )
                        )
                    except psycopg.errors.ReadOnlySqlTransaction as exc:
                        return timeout, exc
                    return timeout, None

            return await store._call(write())

    timeout, refused = run(attempt())
    assert timeout == "30s"
    assert refused is not None and "read-only transaction" in str(refused)
    count = tables.execute(
        sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(TEMP.table))
    ).fetchone()
    assert count == (0,)

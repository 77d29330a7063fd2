"""The shared rollup (issue 19) against a real PostgreSQL: every level equal to the same
reduction of the rows the database holds, after a first build, a restart half-way, live rows,
and rows inserted late, corrected and deleted behind the live edge."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
import psycopg
import pytest
from psycopg import sql

from tests.db.test_summary import history
from tests.harness.database import insert, wait_counted
from tests.harness.m4_reference import as_dict, reference, same
from trending_panel.core import m4 as reduce
from trending_panel.core.chunks import LEVELS
from trending_panel.core.rows import to_us
from trending_panel.core.variables import BY_KEY
from trending_panel.db import rollup as rollup_db
from trending_panel.db.store import Store
from trending_panel.ops import rollup, rollup_census, rollup_service

TEMP, PH, DO = BY_KEY["temperature"], BY_KEY["ph"], BY_KEY["dissolved_oxygen"]
SCHEMA = "trending_rollup"


def rows_of(conn: psycopg.Connection, var) -> tuple[np.ndarray, np.ndarray]:
    got = conn.execute(
        sql.SQL("SELECT time, value FROM {} WHERE time IS NOT NULL ORDER BY time, value").format(
            sql.Identifier(var.table)
        )
    ).fetchall()
    times = np.array([to_us(t) for t, _ in got], dtype="int64")
    values = np.array([math.nan if v is None else v for _, v in got], dtype="float64")
    return times, values


def held(settings, var, level) -> reduce.Buckets:
    async def main():
        conn = await psycopg.AsyncConnection.connect(settings.conninfo(), autocommit=True)
        async with conn:
            cur = await conn.execute(
                sql.SQL("SELECT id FROM {}.tags WHERE tag = %s").format(sql.Identifier(SCHEMA)),
                (var.table,),
            )
            (tag_id,) = await cur.fetchone()
            return await rollup_db.load_chunks(conn, SCHEMA, tag_id, level, -(2**62), 2**62)

    return asyncio.run(main())


def assert_level_equals_rows(conn, settings, var, level) -> None:
    """A level of the rollup against the rows: M4 fields equal to a row-by-row reference,
    counts, samples, min and max exact, the other moments to 1e-9 (numpy over the rows in one
    grid, not merged level by level)."""
    times, values = rows_of(conn, var)
    gap_us = settings.gap // timedelta(microseconds=1)
    got = held(settings, var, level)
    want_m4 = reference(
        list(zip(times.tolist(), values.tolist(), strict=True)), 0, level.width_us, gap_us
    )
    assert same(as_dict(got), want_m4), f"{var.table} at {level.name}: M4 differs"
    want = reduce.aggregate(times, values, 0, level.width_us, gap_us, var.limits)
    np.testing.assert_array_equal(got.index, want.index)
    for name in ("count", "n", "covered", "below", "above"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    for name in ("lo", "hi"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    for name in ("total", "m2", "area"):
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-9,
                                   atol=1e-9, err_msg=name)  # fmt: skip


@contextlib.asynccontextmanager
async def following(settings) -> AsyncIterator[tuple[rollup.Rollup, psycopg.AsyncConnection]]:
    """A rollup of the tables as they are, built and following their live edge, with the
    connection it works on."""
    conn = await psycopg.AsyncConnection.connect(settings.conninfo(), autocommit=True)
    async with Store(settings) as store, conn:
        await rollup_db.ensure_schema(conn, SCHEMA)
        r = rollup.Rollup(store, settings, SCHEMA)
        await r.refresh_tags(conn)
        await r.build_all(conn)
        await r.follow(conn)
        yield r, conn


def build_once(settings) -> None:
    asyncio.run(rollup_service.run(settings, SCHEMA, once=True))


def test_every_level_equals_the_rows_and_packs_small(db, tables):
    end = datetime(2023, 3, 1, 16, 0)
    insert(tables, TEMP.table, history(1, 50))  # NULL, NaN, spikes and outages over 2 days
    insert(tables, PH.table, [(end - timedelta(minutes=k), 7.0 + k % 3 / 10) for k in range(90)])
    build_once(db)
    for var in (TEMP, PH):
        for level in LEVELS:
            assert_level_equals_rows(tables, db, var, level)
    # The empty table of the four is registered and followed, with nothing held.
    health = tables.execute(sql.SQL("SELECT tag, built, last_error FROM {}.health ORDER BY tag")
                            .format(sql.Identifier(SCHEMA))).fetchall()  # fmt: skip
    assert {h[0] for h in health} == {v.table for v in BY_KEY.values()}
    assert all(h[1] and h[2] is None for h in health)
    # Packed: far less than the 168 bytes a minute bucket holds in memory.
    stored, buckets = tables.execute(
        sql.SQL("SELECT sum(octet_length(data)), sum(buckets) FROM {}.chunks WHERE level = 0")
        .format(sql.Identifier(SCHEMA))
    ).fetchone()  # fmt: skip
    assert stored / buckets < 120


def test_a_build_stopped_half_way_resumes_where_it_stopped(db, tables):
    end = datetime(2023, 3, 1)
    rows = [(end - timedelta(minutes=k), 37.0 + (k % 17) / 10) for k in range(60 * 24 * 40)]
    insert(tables, TEMP.table, rows)
    settings = replace(db, variables=(TEMP,))

    async def first_part() -> int:
        conn = await psycopg.AsyncConnection.connect(settings.conninfo(), autocommit=True)
        async with Store(settings) as store, conn:
            await rollup_db.ensure_schema(conn, SCHEMA)
            stop = asyncio.Event()
            # Stopped once the first slice is saved, as a crash between two slices would.
            service = rollup.Rollup(store, settings, SCHEMA, on_slice=lambda tag, done: stop.set())
            await service.refresh_tags(conn)
            await service.build_all(conn, stop)
            return service.rows_built

    read_first = asyncio.run(first_part())
    built_us = tables.execute(
        sql.SQL("SELECT built_us FROM {}.tags").format(sql.Identifier(SCHEMA))
    ).fetchone()[0]
    assert 0 < read_first < len(rows) and built_us < to_us(end)  # stopped half-way

    async def restart() -> int:
        async with Store(settings) as store:
            conn = await psycopg.AsyncConnection.connect(settings.conninfo(), autocommit=True)
            async with conn:
                await rollup_db.ensure_schema(conn, SCHEMA)
                service = rollup.Rollup(store, settings, SCHEMA)
                await service.refresh_tags(conn)
                await service.build_all(conn)
                assert service.tags[TEMP.table].live
                return service.rows_built

    read_then = asyncio.run(restart())
    assert read_first + read_then == len(rows)  # nothing read twice, nothing missed
    for level in LEVELS:
        assert_level_equals_rows(tables, settings, TEMP, level)


def _wait_equal(conn, settings, var, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            for level in LEVELS:
                assert_level_equals_rows(conn, settings, var, level)
            return
        except (AssertionError, psycopg.errors.UndefinedTable, TypeError):  # not there yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def service(db, tables):
    """``trending-panel rollup`` as its own process (its role: the test's superuser)."""
    procs = []

    def start(settings) -> subprocess.Popen:
        env = {
            **os.environ,
            **settings.to_env(),
            "TRENDING_ROLLUP_USER": settings.user,
            "TRENDING_ROLLUP_PASSWORD": settings.password,
            "TRENDING_POLL": "200ms",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "trending_panel.ops.cli", "rollup"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_service_follows_live_late_corrected_and_deleted_rows(db, tables, service):
    now = db.now().replace(microsecond=0)
    insert(
        tables, TEMP.table, [(now - timedelta(seconds=5 * k), 37.0 + k % 7) for k in range(17280)]
    )
    insert(tables, DO.table, [(now - timedelta(minutes=k), 40.0 + k % 5) for k in range(600)])
    proc = service(db)
    _wait_equal(tables, db, TEMP)
    # Live rows at the edge, a minute later (a new minute bucket) and a NULL.
    insert(tables, TEMP.table, [(now + timedelta(seconds=1), 39.5),
                                (now + timedelta(seconds=61), None)])  # fmt: skip
    _wait_equal(tables, db, TEMP, timeout=10)
    # Behind the edge: a row inserted 3 h late, one corrected 5 h back, a day's hour deleted.
    insert(tables, TEMP.table, [(now - timedelta(hours=3, seconds=2), 55.0)])
    tables.execute(
        sql.SQL("UPDATE {} SET value = -5 WHERE time = %s").format(sql.Identifier(TEMP.table)),
        (now - timedelta(hours=5),),
    )
    tables.execute(
        sql.SQL("DELETE FROM {} WHERE time BETWEEN %s AND %s").format(sql.Identifier(TEMP.table)),
        (now - timedelta(hours=20), now - timedelta(hours=19)),
    )
    tables.execute("SELECT pg_stat_force_next_flush()")  # the write counters seen at once
    _wait_equal(tables, db, TEMP)
    _wait_equal(tables, db, DO)
    health = tables.execute(
        sql.SQL("SELECT max(lag_s) FROM {}.health").format(sql.Identifier(SCHEMA))
    ).fetchone()[0]
    assert health < 60
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0, out
    assert time.monotonic() - began < 5
    assert "Traceback" not in out
    assert "changed: read again" in out  # the census found them, not a rebuild


def test_check_says_whether_the_rollup_is_caught_up_stale_or_unreadable(db, tables):
    from trending_panel.ops import check

    def step():
        return [s for s in check.run(db).steps if s.step == "rollup"]

    assert [(s.status, s.detail[:16]) for s in step()] == [("WARN", "no rollup schema")]
    insert(tables, TEMP.table, [(db.now() - timedelta(seconds=k), 37.0) for k in range(100)])
    build_once(db)
    (ok,) = step()
    assert ok.status == "OK" and ok.detail.startswith('"trending_rollup": 4 tags caught up')
    s = sql.Identifier(SCHEMA)
    tables.execute(sql.SQL("UPDATE {}.tags SET caught_up_at = now() - interval '5 min'"
                           " WHERE tag = %s").format(s), (TEMP.table,))  # fmt: skip
    (stale,) = step()
    assert stale.status == "WARN" and f"{TEMP.table} last caught up with its table" in stale.detail
    tables.execute(sql.SQL("UPDATE {}.service SET heartbeat_at = now() - interval '1 h'").format(s))
    assert re.search(r"last heartbeat was 3,6\d\d s ago", step()[0].detail)
    tables.execute("CREATE ROLE tp_nobody LOGIN")
    try:
        tables.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM PUBLIC").format(s))
        (refused,) = [x for x in check.run(replace(db, user="tp_nobody")).steps
                      if x.step == "rollup"]  # fmt: skip
        assert refused.status == "FAIL" and "no USAGE permission" in refused.detail
        assert 'GRANT USAGE ON SCHEMA "trending_rollup" TO "tp_nobody"' in refused.fix
    finally:
        tables.execute("DROP OWNED BY tp_nobody; DROP ROLE tp_nobody")


def test_a_sigterm_mid_build_stops_the_service_cleanly_and_soon(db, tables, service):
    """Twenty days of 1 Hz rows; the service is stopped once its first slice is saved, while
    it reads the next: exit 0 within 5 s, nothing in its log but information."""
    tables.execute(
        sql.SQL("INSERT INTO {} SELECT g, 37 + random() FROM generate_series("
                "now()::timestamp - interval '20 days', now()::timestamp, interval '1 s') g")
        .format(sql.Identifier(TEMP.table))
    )  # fmt: skip
    proc = service(db)
    query = sql.SQL("SELECT built_us FROM {}.tags WHERE tag = %s").format(sql.Identifier(SCHEMA))
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(psycopg.errors.UndefinedTable):
            row = tables.execute(query, (TEMP.table,)).fetchone()
            if row is not None and row[0] is not None:
                break
        assert time.monotonic() < deadline, "no slice saved"
        time.sleep(0.01)
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    assert time.monotonic() - began < 5
    assert proc.returncode == 0, out
    assert not re.search(r"Traceback|ERROR|WARNING|CRITICAL", out), out


def test_a_late_row_and_a_correction_are_found_in_the_newest_pages_without_a_pass(
    db, tables, monkeypatch
):
    monkeypatch.setattr(rollup_census, "CENSUS_EVERY_S", 0.0)  # the pass at start was just now
    now = db.now().replace(microsecond=0)
    insert(tables, TEMP.table, [(now - timedelta(seconds=5 * k), 37.0 + k % 7)
                                for k in range(17280)])  # fmt: skip

    async def main() -> tuple[int, int, int]:
        async with following(db) as (r, conn):
            assert r.tags[TEMP.table].live
            first = await r.quick_census(conn)  # the first look: the table's pages
            await r.census(conn)  # the pass's first look: its counters
            await r.start_passes(conn)  # what was written before the service: none
            started = r.passes  # (one per tag)
            assert started == 4
            insert(tables, TEMP.table, [(now - timedelta(hours=3, seconds=2), 55.0)])
            tables.execute(
                sql.SQL("UPDATE {} SET value = -5 WHERE time = %s")
                .format(sql.Identifier(TEMP.table)), (now - timedelta(hours=5),),
            )  # fmt: skip
            tables.execute("SELECT pg_stat_force_next_flush()")  # the counters seen at once
            wait_counted(db, TEMP.table, updated=1)
            # The pass, asked first, leaves the rows to the quick look: a pass over the table
            # would hold up a delete that comes during it until the next pass.
            assert await r.census(conn) == 0 and r.passes == started
            found = await r.quick_census(conn)
            again = await r.quick_census(conn)  # nothing new since
            # The pass would find the same rows: it waits (its backstop, 30 s later) ...
            assert await r.census(conn) == 0 and r.folds == 2 and r.passes == started
            # ... but a delete, which the quick look cannot see, makes it run at once.
            tables.execute(
                sql.SQL("DELETE FROM {} WHERE time BETWEEN %s AND %s")
                .format(sql.Identifier(TEMP.table)),
                (now - timedelta(hours=10), now - timedelta(hours=9, minutes=30)),
            )  # fmt: skip
            tables.execute("SELECT pg_stat_force_next_flush()")
            wait_counted(db, TEMP.table, updated=1, deleted=1)
            assert await r.quick_census(conn) == 0  # nothing in the newest pages
            assert await r.census(conn) >= 1
            return first, found, again

    first, found, again = asyncio.run(main())
    assert (first, found, again) == (0, 2, 0)  # two hours read again, by the quick look alone
    for level in LEVELS:
        assert_level_equals_rows(tables, db, TEMP, level)


def test_counts_from_the_time_index_find_every_hour_with_rows_added_or_deleted(db, tables):
    """Census.count_census against the hours held: a day at a time, then hour by hour in
    the days that differ; hours at or after ``before`` (the live edge) are not looked at."""
    start = datetime(2024, 5, 1)
    rows = [(start + timedelta(seconds=30 * k), 1.0) for k in range(2 * 24 * 120 + 600)]
    insert(tables, TEMP.table, rows)  # two days and five hours, every 30 s
    t = sql.Identifier(TEMP.table)
    tables.execute(sql.SQL("CREATE INDEX temp_time ON {} (time)").format(t))
    hour_us = 3_600_000_000
    hours = np.array([to_us(t) // hour_us for t, _ in rows])
    index, counts = np.unique(hours, return_counts=True)
    first = int(index[0])

    async def census(before: int | None) -> list[tuple[int, int]]:
        async with Store(db) as store:
            assert await store.time_indexed(TEMP)
            return await store.count_census(TEMP, timedelta(hours=1), index, counts, before)

    assert asyncio.run(census(None)) == []
    # Deleted: two hours of the first day, one in the partial day; a row inserted in the
    # second day; rows deleted in the last hour, at the edge.
    for h in (3, 4, 50):
        a = datetime(1970, 1, 1) + timedelta(hours=first + h)
        tables.execute(sql.SQL("DELETE FROM {} WHERE time >= %s AND time < %s").format(t),
                       (a, a + timedelta(minutes=20)))  # fmt: skip
    insert(tables, TEMP.table, [(start + timedelta(hours=30, seconds=7), 2.0)])
    last = int(index[-1])
    tables.execute(sql.SQL("DELETE FROM {} WHERE time >= %s").format(t),
                   (datetime(1970, 1, 1) + timedelta(hours=last),))  # fmt: skip
    assert asyncio.run(census(last)) == [(first + 3, first + 4), (first + 30, first + 30),
                                         (first + 50, first + 50)]  # fmt: skip
    assert asyncio.run(census(None))[-1] == (last, last)
    # A table without an index on time is not counted this way.
    tables.execute("DROP INDEX temp_time")

    async def indexed() -> bool:
        async with Store(db) as store:
            return await store.time_indexed(TEMP)

    assert not asyncio.run(indexed())


def test_a_delete_is_counted_from_the_index_and_an_update_left_to_the_pass(db, tables, monkeypatch):
    """A delete is found without a pass over the rows; an update that came with it (which
    counts cannot see) still gets its pass, and every level ends equal to the rows."""
    monkeypatch.setattr(rollup_census, "CENSUS_EVERY_S", 0.0)
    now = db.now().replace(microsecond=0)
    insert(tables, TEMP.table, [(now - timedelta(seconds=5 * k), 37.0 + k % 7)
                                for k in range(34560)])  # fmt: skip
    t = sql.Identifier(TEMP.table)
    tables.execute(sql.SQL("CREATE INDEX ON {} (time)").format(t))

    async def main() -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        async with following(db) as (r, conn):
            await r.census(conn)  # the first look: the counters
            await r.start_passes(conn)  # (one per tag)
            started = r.passes
            tables.execute(sql.SQL("UPDATE {} SET value = -5 WHERE time = %s").format(t),
                           (now - timedelta(hours=30),))  # fmt: skip
            tables.execute(sql.SQL("DELETE FROM {} WHERE time BETWEEN %s AND %s").format(t),
                           (now - timedelta(hours=20), now - timedelta(hours=19)))  # fmt: skip
            tables.execute("SELECT pg_stat_force_next_flush()")
            wait_counted(db, TEMP.table, updated=1, deleted=1)
            await r.census(conn)
            after_delete = (r.counts, r.passes - started, r.folds)
            await r.census(conn)  # the update: no quick look here, so the pass
            return after_delete, (r.counts, r.passes - started, r.folds)

    after_delete, after_update = asyncio.run(main())
    assert after_delete[:2] == (1, 0) and after_delete[2] >= 1
    assert after_update[:2] == (1, 1) and after_update[2] > after_delete[2]
    for level in LEVELS:
        assert_level_equals_rows(tables, db, TEMP, level)


def test_rows_deleted_inserted_and_corrected_while_no_service_ran_are_found_at_its_start(
    db, tables
):
    """The census's horizon is kept in the schema: a service started after a stop finds
    what was written behind the edge meanwhile (a first look alone would take it as known)."""
    now = db.now().replace(microsecond=0)
    insert(tables, TEMP.table, [(now - timedelta(seconds=5 * k), 37.0 + k % 7)
                                for k in range(17280)])  # fmt: skip
    build_once(db)
    xid = tables.execute(
        sql.SQL("SELECT census_xid FROM {}.tags WHERE tag = %s").format(sql.Identifier(SCHEMA)),
        (TEMP.table,),
    ).fetchone()[0]
    assert xid is not None
    t = sql.Identifier(TEMP.table)
    tables.execute(sql.SQL("UPDATE {} SET value = -5 WHERE time = %s").format(t),
                   (now - timedelta(hours=10),))  # fmt: skip
    tables.execute(sql.SQL("DELETE FROM {} WHERE time BETWEEN %s AND %s").format(t),
                   (now - timedelta(hours=20), now - timedelta(hours=19)))  # fmt: skip
    insert(tables, TEMP.table, [(now - timedelta(hours=15, seconds=2), 55.0)])

    async def restart() -> int:
        async with following(db) as (r, conn):
            await r.census(conn)  # the first look: takes what it finds as known ...
            assert await r.census(conn) == 0
            return await r.start_passes(conn)  # ... the pass at start does not

    assert asyncio.run(restart()) == 3  # three hours read again, apart
    for level in LEVELS:
        assert_level_equals_rows(tables, db, TEMP, level)
    after = tables.execute(
        sql.SQL("SELECT census_xid FROM {}.tags WHERE tag = %s").format(sql.Identifier(SCHEMA)),
        (TEMP.table,),
    ).fetchone()[0]
    assert after > xid

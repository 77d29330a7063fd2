"""Late, corrected and deleted rows behind the live edge: found with the read-only tools of a
real PostgreSQL (write counters, xmin), read again into the summary, announced to sessions."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta

from psycopg import sql

from tests.harness.database import insert, wait_counted
from tests.harness.m4_reference import as_dict, db_reference, same
from trending_panel.core.variables import BY_KEY
from trending_panel.db.store import Store
from trending_panel.live.convergence import Convergence
from trending_panel.live.feed import LiveFeed
from trending_panel.live.summary import Summary

TEMP = BY_KEY["temperature"]
END = datetime(2023, 3, 1, 16, 0)


@contextlib.asynccontextmanager
async def summarised(settings) -> AsyncIterator[tuple[LiveFeed, Summary]]:
    """A live feed over the tables, past its first look, and its summary, ready; the summary
    is stopped on the way out."""
    async with Store(settings) as store:
        feed = LiveFeed(store, settings)
        await feed.poll()
        summary = Summary(feed, settings)
        summary.start()
        try:
            assert await summary.wait_ready(30)
            yield feed, summary
        finally:
            await summary.stop()


def test_late_updated_and_deleted_rows_reach_the_summary_and_are_announced(db, tables):
    settings = replace(db, lookback=timedelta(seconds=60))
    rows = [(END - timedelta(seconds=5 * k), 37.0 + (k % 9) * 0.01) for k in range(8 * 720)]
    insert(tables, TEMP.table, rows)
    tables.execute("SELECT pg_stat_force_next_flush()")
    wait_counted(db, TEMP.table, inserted=len(rows))  # (else a pass for rows known anyway)
    table = sql.Identifier(TEMP.table)

    async def main():
        async with summarised(settings) as (feed, summary):
            sub = feed.subscribe()
            conv = Convergence(summary, min_interval=0)
            await conv.check()  # the first look: everything so far is known

            # steady state: live rows only. No census pass, nothing announced.
            insert(tables, TEMP.table, [(END + timedelta(seconds=k), 37.5) for k in (1, 2, 3)])
            for _ in range(4):
                await feed.poll()
                await asyncio.sleep(0.4)
                assert await conv.check() == []
            quiet_passes = conv.passes

            late = [
                (END - timedelta(minutes=2, milliseconds=500), 41.0),
                (END - timedelta(minutes=20, milliseconds=500), 42.0),
                (END - timedelta(hours=6, milliseconds=500), 43.0),
            ]
            insert(tables, TEMP.table, late)
            updated_at = END - timedelta(hours=3)
            tables.execute(
                sql.SQL("UPDATE {} SET value = 44.0 WHERE time = %s").format(table), (updated_at,)
            )
            deleted_at = END - timedelta(hours=5)
            tables.execute(sql.SQL("DELETE FROM {} WHERE time = %s").format(table), (deleted_at,))
            changed_at = time.monotonic()
            found = []
            while time.monotonic() - changed_at < 10 and len(found) < 5:
                await feed.poll()
                found += await conv.check()
                await asyncio.sleep(0.2)
            seconds = time.monotonic() - changed_at
            announced = sub.drain_changes()
            held = as_dict(summary.buckets(TEMP.key))
            return quiet_passes, found, announced, held, seconds, late, updated_at, deleted_at

    quiet, found, announced, held, seconds, late, updated_at, deleted_at = asyncio.run(main())
    assert quiet == 0  # nothing scanned while only live rows arrived
    print(f"changes found {seconds:.1f} s after they were written")
    for t in [r[0] for r in late] + [updated_at, deleted_at]:
        assert any(c.start <= t <= c.end for c in found), t
        assert all(c.end - c.start < timedelta(minutes=10) for c in found)  # narrowed down
    assert announced == found
    assert same(held, db_reference(tables, TEMP, db))


def test_a_correction_written_before_the_detectors_first_look_is_found(db, tables):
    """The summary reads a tag's history; a row behind the live edge is corrected before the
    detector first looks at that tag: the change is found, not taken as already known."""
    settings = replace(db, lookback=timedelta(seconds=60))
    insert(tables, TEMP.table, [(END - timedelta(seconds=30 * k), 37.0) for k in range(600)])
    corrected = END - timedelta(hours=2)
    table = sql.Identifier(TEMP.table)

    async def main():
        async with summarised(settings) as (_, summary):
            tables.execute(
                sql.SQL("UPDATE {} SET value = 39.5 WHERE time = %s").format(table), (corrected,)
            )
            tables.execute("SELECT pg_stat_force_next_flush()")
            wait_counted(db, TEMP.table, updated=1)
            conv = Convergence(summary, min_interval=0)
            found = await conv.check()  # its first look
            held = as_dict(summary.buckets(TEMP.key))
            return found, held

    found, held = asyncio.run(main())
    assert any(c.start <= corrected <= c.end for c in found), found
    assert same(held, db_reference(tables, TEMP, db))


def test_rows_updated_or_deleted_within_the_look_back_are_announced_by_the_feed(db, tables):
    """Inside the feed's look-back the feed itself sees a row vanish (updated or deleted)."""
    settings = replace(db, lookback=timedelta(seconds=60))
    insert(tables, TEMP.table, [(END - timedelta(seconds=5 * k), 37.0) for k in range(100)])
    table = sql.Identifier(TEMP.table)

    async def main():
        async with summarised(settings) as (feed, summary):
            sub = feed.subscribe()
            tables.execute(
                sql.SQL("UPDATE {} SET value = 38.5 WHERE time = %s").format(table),
                (END - timedelta(seconds=10),),
            )
            tables.execute(
                sql.SQL("DELETE FROM {} WHERE time = %s").format(table),
                (END - timedelta(seconds=40),),
            )
            await feed.poll()
            changes = sub.drain_changes()
            for _ in range(30):  # the summary reads the span again on its next round
                await asyncio.sleep(0.1)
                if same(as_dict(summary.buckets(TEMP.key)), db_reference(tables, TEMP, db)):
                    break
            held = as_dict(summary.buckets(TEMP.key))
            return changes, sub.drain(), held

    changes, batch, held = asyncio.run(main())
    assert len(changes) == 1
    assert changes[0].start == END - timedelta(seconds=40)
    assert changes[0].end == END - timedelta(seconds=10)
    assert batch["temperature"] == [(END - timedelta(seconds=10), 38.5)]  # the new value
    assert same(held, db_reference(tables, TEMP, db))


def test_a_delete_is_counted_from_the_time_index_and_an_update_gets_a_pass(db, tables):
    """Rows only deleted (and live rows the feed delivered): the detector compares counts
    per bucket from the time index, without a pass over the rows; an update still gets one."""
    settings = replace(db, lookback=timedelta(seconds=60))
    table = sql.Identifier(TEMP.table)
    tables.execute(sql.SQL("CREATE INDEX ON {} (time)").format(table))
    rows = [(END - timedelta(seconds=5 * k), 37.0 + (k % 9) * 0.01) for k in range(8 * 720)]
    insert(tables, TEMP.table, rows)
    tables.execute("SELECT pg_stat_force_next_flush()")
    wait_counted(db, TEMP.table, inserted=len(rows))

    async def main():
        async with summarised(settings) as (_, summary):
            conv = Convergence(summary, min_interval=0)
            await conv.check()  # the first look
            gone = [END - timedelta(hours=5), END - timedelta(hours=2, minutes=30)]
            for t in gone:
                tables.execute(sql.SQL("DELETE FROM {} WHERE time BETWEEN %s AND %s")
                               .format(table), (t - timedelta(minutes=3), t))  # fmt: skip
            tables.execute("SELECT pg_stat_force_next_flush()")
            wait_counted(db, TEMP.table, inserted=len(rows), deleted=74)
            found = await conv.check()
            by_count = (conv.counts, conv.passes)
            tables.execute(sql.SQL("UPDATE {} SET value = 44.0 WHERE time = %s").format(table),
                           (END - timedelta(hours=1),))  # fmt: skip
            tables.execute("SELECT pg_stat_force_next_flush()")
            wait_counted(db, TEMP.table, updated=1)
            found += await conv.check()
            held = as_dict(summary.buckets(TEMP.key))
            return gone, found, by_count, (conv.counts, conv.passes), held

    gone, found, by_count, after, held = asyncio.run(main())
    assert by_count == (1, 0) and after == (1, 1)
    for t in [*gone, END - timedelta(hours=1)]:
        assert any(c.start <= t <= c.end for c in found), t
    assert same(held, db_reference(tables, TEMP, db))

"""The in-memory summary against a real PostgreSQL: equal to the same reduction of the rows the
database holds, after the build and after live, late and duplicate rows."""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import replace
from datetime import datetime, timedelta

from psycopg import sql

from tests.harness.database import insert
from tests.harness.m4_reference import as_dict, db_reference, same
from trending_panel.core.variables import BY_KEY
from trending_panel.db.store import Store
from trending_panel.live.feed import LiveFeed
from trending_panel.live.summary import Summary
from trending_panel.read.resolution import read

TEMP, PH = BY_KEY["temperature"], BY_KEY["ph"]
END = datetime(2023, 3, 1, 16, 0)


def history(seed: int, hours: int) -> list[tuple[datetime, float | None]]:
    rng = random.Random(seed)
    t = END - timedelta(hours=hours)
    rows = []
    k = 0
    while t < END:
        k += 1
        t += timedelta(seconds=rng.choice([1, 1.5, 2, 2]))
        if k % 2000 == 0:
            t += timedelta(minutes=rng.randint(6, 40))  # an outage
        value: float | None = round(rng.gauss(37.2, 0.05), 3)
        if k % 701 == 0:
            value = None
        elif k % 997 == 0:
            value = math.nan
        elif k % 3001 == 0:
            value = 42.0  # a spike
        rows.append((min(t, END), value))
    return rows


def test_summary_equals_the_reduction_of_the_database_rows_also_after_late_rows(db, tables):
    settings = replace(db, lookback=timedelta(seconds=60))
    insert(tables, TEMP.table, history(1, 30))
    insert(tables, PH.table, history(2, 2))

    async def main():
        async with Store(settings) as store:
            feed = LiveFeed(store, settings)
            summary = Summary(feed, settings)
            await feed.poll()
            summary.start()
            assert await summary.wait_ready(30)
            built = {v.key: as_dict(summary.buckets(v.key)) for v in (TEMP, PH)}
            expected = {v.key: db_reference(tables, v, settings) for v in (TEMP, PH)}
            # live, late (within the feed's look-back), NULL and a duplicate of an existing row
            newest = tables.execute(
                sql.SQL("SELECT max(time) FROM {}").format(sql.Identifier(TEMP.table))
            ).fetchone()[0]
            dup = tables.execute(
                sql.SQL(
                    "SELECT time, value FROM {} WHERE time < %s ORDER BY time DESC LIMIT 1"
                ).format(sql.Identifier(TEMP.table)),
                (newest - timedelta(seconds=20),),
            ).fetchone()
            insert(
                tables,
                TEMP.table,
                [
                    (newest + timedelta(seconds=1), 37.5),
                    (newest + timedelta(seconds=90), 37.6),  # a minute later: a new bucket
                    (newest - timedelta(seconds=30, milliseconds=500), 41.0),  # late spike
                    (newest - timedelta(seconds=5, milliseconds=250), None),
                    dup,
                ],
            )
            refreshes = summary.refreshes
            await feed.poll()
            for _ in range(50):
                await asyncio.sleep(0.1)
                if summary.refreshes > refreshes:
                    break
            after = as_dict(summary.buckets(TEMP.key))
            window = await read(
                store, summary, [TEMP], END - timedelta(hours=30), END, 400, settings
            )
            await summary.stop()
            return built, expected, after, summary.refreshes - refreshes, window[0][TEMP.key]

    built, expected, after, refreshed, drawn = asyncio.run(main())
    assert same(built["temperature"], expected["temperature"])
    assert same(built["ph"], expected["ph"])
    assert refreshed >= 1  # the late rows made their buckets be read again
    assert same(after, db_reference(tables, TEMP, settings))
    # a 30 h window at 400 px (270 s per column) is served from the summary, in budget
    assert drawn.source == "summary" and drawn.reduced
    assert drawn.samples <= 4 * 400
    assert 42.0 in drawn.columns["value"] and 41.0 in drawn.columns["value"]

"""Dashboards reading the shared rollup (issue 19, part 2) on a real PostgreSQL: windows drawn
from the coarsest level that fits, statistics equal to the SQL definitions over every row
(also where the rollup does not hold the newest rows yet), no history scan for the tags it
serves, and the summary taking a tag over when the rollup is stale, with the header saying so."""

from __future__ import annotations

import asyncio
import itertools
import math
import random
from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
import psycopg
import pytest
from psycopg import sql

from tests.db.test_rollup import SCHEMA, build_once
from tests.harness.database import insert
from tests.harness.stats_reference import assert_equal_stats, sql_stats
from trending_panel.core.chunks import DAYS, HOURS, MINUTES
from trending_panel.core.rows import to_us
from trending_panel.core.timewindow import TimeWindow
from trending_panel.core.variables import BY_KEY
from trending_panel.db.store import Store
from trending_panel.live.feed import LiveFeed
from trending_panel.live.rollup_view import RollupView
from trending_panel.live.summary import Summary
from trending_panel.ops import rollup
from trending_panel.read import rollup_window
from trending_panel.read.stats import from_totals
from trending_panel.read.window_load import Request, WindowReader

TEMP, PH = BY_KEY["temperature"], BY_KEY["ph"]


def awkward_rows(end: datetime, days: int, seed: int) -> list[tuple[datetime, float | None]]:
    """Irregular rows over ``days`` to ``end``: 1-90 s apart, outages, NULL, NaN, infinities,
    duplicate times, values beyond the alarm limits."""
    rng = random.Random(seed)
    t = end - timedelta(days=days)
    rows: list[tuple[datetime, float | None]] = []
    k = 0
    while t < end:
        k += 1
        t += timedelta(
            seconds=rng.choice([1, 7, 30, 59, 61, 90]), milliseconds=rng.choice([0, 250])
        )
        if k % 400 == 0:
            t += timedelta(minutes=rng.randint(6, 300))  # an outage
        value: float | None = round(rng.gauss(37.2, 0.5), 3)
        if k % 97 == 0:
            value = None
        elif k % 131 == 0:
            value = math.nan
        elif k % 977 == 0:
            value = math.inf
        rows.append((min(t, end), value))
        if k % 211 == 0:
            rows.append((min(t, end), 36.0))  # a second row at the same time
    return rows


@pytest.fixture
def rolled(db, tables):
    """Six days of awkward temperature rows ending now, and the rollup built over them."""
    end = db.now().replace(microsecond=0) - timedelta(minutes=1)
    rows = awkward_rows(end, 6, seed=7)
    insert(tables, TEMP.table, rows)
    insert(tables, PH.table, [(end - timedelta(minutes=k), 7.0 + k % 3 / 10) for k in range(3000)])
    build_once(db)
    return db, tables, rows, end


def windows(rows, end: datetime) -> list[tuple[datetime, datetime]]:
    """Windows over whole days, whole hours and minutes, cut inside buckets, starting in an
    outage, on a NULL and on a duplicate, and past the newest row."""
    m = timedelta(minutes=1)
    first = rows[0][0]
    null_at = next(t for t, v in rows if v is None)
    dup_at = next(a[0] for a, b in itertools.pairwise(rows) if a[0] == b[0])
    rng = random.Random(3)
    spans = [
        (first, end),  # all of it
        (first - 90 * m, end + 30 * m),  # beyond both ends
        (null_at, null_at + 3 * 60 * m + timedelta(seconds=17)),
        (dup_at, dup_at + 26 * 60 * m),
        (end - 3 * m, end + 5 * m),  # the newest minutes only
    ]
    for _ in range(30):
        a = first + timedelta(seconds=rng.uniform(0, (end - first).total_seconds()))
        n = rng.choice([40, 61 * 60, 5 * 3600, 26 * 3600, 3 * 86400 + 17])
        spans.append((a.replace(microsecond=rng.choice([0, 250_000])), a + timedelta(seconds=n)))
    return spans


def test_statistics_from_the_rollup_equal_the_definitions_also_past_its_watermark(rolled):
    db, tables, rows, end = rolled
    spans = windows(rows, end)

    async def main():
        async with Store(db) as store:
            view = RollupView(LiveFeed(store, db))
            await view.refresh()
            pub = view.usable(TEMP)
            assert view.state == "fresh" and pub is not None
            # The same windows with the rollup's watermark 30 h back: the newest hours are
            # composed from the level below, down to the rows.
            behind = replace(pub, built_us=pub.built_us - 30 * 3600 * 1_000_000)
            apart = RollupView(LiveFeed(store, db))  # nothing kept from the other
            out = []
            for start, stop in spans:
                found, read = await rollup_window.totals(view, pub, TEMP, start, stop)
                late, _ = await rollup_window.totals(apart, behind, TEMP, start, stop)
                out.append((start, stop, found, late, read))
            return out

    for start, stop, found, late, read in asyncio.run(main()):
        want = sql_stats(tables, TEMP, start, stop, db.gap)
        span = (stop - start).total_seconds()
        assert_equal_stats(from_totals(TEMP, found, start, stop), want, span)
        assert_equal_stats(from_totals(TEMP, late, start, stop), want, span)
        # The rows read: those of the two minutes its ends cut (at most 2 x 60 at 1 s apart,
        # plus duplicates), never the window's.
        assert read <= 2 * 64, (start, stop, read)


def test_windows_are_drawn_from_the_coarsest_level_equal_to_a_summary_of_its_width(rolled):
    db, _tables, rows, end = rolled
    start = end - timedelta(days=5, hours=3)

    async def main():
        async with Store(db) as store:
            view = RollupView(LiveFeed(store, db))
            await view.refresh()
            out = {}
            for width, level in ((25, HOURS), (1000, MINUTES)):
                column_us = -(-(to_us(end) - to_us(start)) // width)
                pub, chosen = view.level_for(TEMP, column_us)
                assert chosen is level
                got, before = await rollup_window.draw(view, pub, level, TEMP, start, end, width)
                cfg = replace(db, summary_bucket=timedelta(microseconds=level.width_us))
                summary = Summary(LiveFeed(store, cfg), cfg)
                await summary.build()
                want, want_before = summary.window(TEMP.key, start, end, width)
                out[level.name] = (got, before, want, want_before)
            assert view.level_for(TEMP, 3 * 60 * 1_000_000) is None  # narrow: rows
            assert view.level_for(TEMP, 4 * DAYS.width_us)[1] is DAYS
            return out

    for name, (got, before, want, _) in asyncio.run(main()).items():
        np.testing.assert_array_equal(got.times, want.times, err_msg=name)
        np.testing.assert_array_equal(got.values, want.values, err_msg=name)
        np.testing.assert_array_equal(got.breaks, want.breaks, err_msg=name)
        assert before[0] == max(t for t, _ in rows if t < start)  # the row before, exactly


def test_a_page_reads_the_rollup_and_the_summary_takes_over_when_it_goes_stale(rolled):
    db, tables, _rows, _end = rolled
    s = sql.Identifier(SCHEMA)

    async def page(view: RollupView, summary: Summary):
        reader = WindowReader(LiveFeed(summary.store, db), summary, db, (TEMP, PH))
        assert reader.rollup is view
        req = Request(1, TimeWindow(preset="7d"), [TEMP, PH], 800)
        return await reader.read(req)

    async def main():
        async with Store(db) as store:
            view = RollupView(LiveFeed(store, db))
            view.start()
            summary = Summary(LiveFeed(store, db), db, rollup=view)
            await summary.build()
            served = (set(summary.by_rollup), summary.holds(TEMP.key))
            fresh = await page(view, summary)
            # The service stops: its heartbeat grows old, and the summary takes over.
            tables.execute(sql.SQL("UPDATE {}.service SET heartbeat_at = now() - interval '5 min'")
                           .format(s))  # fmt: skip
            await view.refresh()
            summary.by_rollup &= view.serving(summary.variables.values())
            await summary.build()
            stale = await page(view, summary)
            await view.stop()
            return served, fresh, stale, summary.holds(TEMP.key)

    served, fresh, stale, held_after = asyncio.run(main())
    assert served == (set(BY_KEY), False)  # no history scan for the rollup's tags
    assert {k: d.source for k, d in fresh.drawn.items()} == {
        "temperature": "rollup",
        "ph": "rollup",
    }
    found, _ = fresh.stats()
    start, stop = fresh.extent
    assert_equal_stats(found[TEMP.key], sql_stats(tables, TEMP, start, stop, db.gap),
                       (stop - start).total_seconds())  # fmt: skip
    assert not any("rollup" in n for n in fresh.notes((TEMP, PH)))
    assert held_after  # the summary built it once the rollup went stale
    assert {d.source for d in stale.drawn.values()} == {"summary"}
    (note,) = [n for n in stale.notes((TEMP, PH)) if "rollup" in n]
    assert "the rollup service is not running" in note and "Temperature" in note


def test_a_change_behind_the_edge_reaches_the_pages_and_drops_what_was_kept(rolled):
    """The service rewrites an hour a correction touched; the view drops what it kept of the
    tag and announces the span on the feed, as the convergence detector would."""
    db, tables, rows, _ = rolled
    fixed = rows[len(rows) // 2][0]

    async def main():
        async with Store(db) as store:
            feed = LiveFeed(store, db)
            page = feed.subscribe()
            feed.watch(page, (TEMP,))
            view = RollupView(feed)
            await view.refresh()
            pub = view.usable(TEMP)
            window = (fixed - timedelta(hours=2), fixed + timedelta(hours=2))
            before, _ = await rollup_window.totals(view, pub, TEMP, *window)
            conn = await psycopg.AsyncConnection.connect(db.conninfo(), autocommit=True)
            async with conn:
                service = rollup.Rollup(store, db, SCHEMA)
                await service.refresh_tags(conn)
                for tag in service.tags.values():
                    tag.live = True  # built by build_once
                await service.census(conn)  # the first look
                tables.execute(
                    sql.SQL("UPDATE {} SET value = 55.5 WHERE time = %s")
                    .format(sql.Identifier(TEMP.table)), (fixed,),
                )  # fmt: skip
                tables.execute("SELECT pg_stat_force_next_flush()")  # counters seen at once
                deadline = asyncio.get_running_loop().time() + 30
                while not await service.census(conn):
                    assert asyncio.get_running_loop().time() < deadline, "no census"
                    await asyncio.sleep(0.2)
            await view.refresh()
            after, _ = await rollup_window.totals(view, view.usable(TEMP), TEMP, *window)
            return before, after, page.drain_changes(), window

    before, after, changes, window = asyncio.run(main())
    assert before.hi < 55.5 and after.hi == 55.5  # nothing stale was kept
    (change,) = changes
    assert change.key == TEMP.key and change.start <= fixed <= change.end
    assert_equal_stats(from_totals(TEMP, after, *window), sql_stats(tables, TEMP, *window, db.gap),
                       (window[1] - window[0]).total_seconds())  # fmt: skip

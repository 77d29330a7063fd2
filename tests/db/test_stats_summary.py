"""Statistics from the summary's buckets and from one pass over the rows, against the SQL
definitions over every row (tests/harness/stats_reference.py), on a real PostgreSQL: awkward data
(NULL, NaN, infinities, duplicate times, outages) and windows that start or end inside a
bucket, inside a gap, on a NULL, or past the newest row; and what the summary reads for them."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from tests.harness.database import insert
from tests.harness.stats_reference import assert_equal_stats, sql_stats
from trending_panel.core.variables import BY_KEY
from trending_panel.db.store import Store
from trending_panel.live.feed import LiveFeed
from trending_panel.live.summary import Summary
from trending_panel.read.stats import from_totals, scan_totals

TEMP = BY_KEY["temperature"]
T0 = datetime(2024, 6, 1, 8, 0)

values = st.one_of(
    st.floats(35.5, 38.5, allow_nan=False).map(lambda x: round(x, 3)),
    st.sampled_from([None, math.nan, math.inf, -math.inf, 37.0, 36.4, 37.9]),
)
steps = st.tuples(
    st.sampled_from([0, 0, 1, 2, 7, 30, 59, 60, 61, 299, 300, 301, 1000]),
    st.sampled_from([0, 0, 250, 999]),  # ms
)
windows = st.tuples(
    st.integers(-120, 3000),  # start, s from T0
    st.sampled_from([0, 250, 500]),  # ms
    st.integers(0, 4000),  # length, s
)


def rows_of(pairs) -> list[tuple[datetime, float | None]]:
    out, t = [], T0
    for (s, ms), v in pairs:
        t += timedelta(seconds=s, milliseconds=ms)
        out.append((t, v))
    return out


def check(db, conn, rows, spans) -> None:
    conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(TEMP.table)))
    insert(conn, TEMP.table, rows)
    cfg = replace(db, summary_bucket=timedelta(minutes=1))

    async def main():
        async with Store(cfg) as store:
            summary = Summary(LiveFeed(store, cfg), cfg)
            await summary.build()
            out = []
            for start, end in spans:
                by_summary = await summary.totals(TEMP, start, end)
                by_scan = await scan_totals(store, TEMP, start, end, cfg.gap)
                out.append((start, end, by_summary, by_scan))
            return out

    for start, end, by_summary, by_scan in asyncio.run(main()):
        want = sql_stats(conn, TEMP, start, end, cfg.gap)
        span = (end - start).total_seconds()
        assert_equal_stats(from_totals(TEMP, by_summary, start, end), want, span)
        assert_equal_stats(from_totals(TEMP, by_scan, start, end), want, span)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    pairs=st.lists(st.tuples(steps, values), max_size=150),
    spans=st.lists(windows, min_size=1, max_size=4),
)
def test_summary_and_scan_statistics_equal_the_sql_definitions(db, tables, pairs, spans):
    rows = rows_of(pairs)
    check(
        db,
        tables,
        rows,
        [
            (
                T0 + timedelta(seconds=a, milliseconds=ms),
                T0 + timedelta(seconds=a + n, milliseconds=ms),
            )
            for a, ms, n in spans
        ],
    )


def test_windows_on_the_awkward_places(db, tables):
    """Starting and ending on bucket edges, inside a bucket, inside a gap, on a NULL, on a
    duplicate, past the newest row, before the oldest."""
    m = timedelta(minutes=1)
    rows = [(T0 + k * timedelta(seconds=10), 37.0 + (k % 7) / 10) for k in range(60)]
    rows[13] = (rows[13][0], None)
    rows[20] = (rows[20][0], math.nan)
    rows.append((rows[30][0], 36.0))  # a second row at the same time
    rows += [(T0 + 30 * m + k * timedelta(seconds=15), 36.4 - k / 100) for k in range(20)]
    rows.append((T0 + 30 * m + timedelta(seconds=7), math.inf))
    null_at = rows[13][0]
    spans = [
        (T0, T0 + 10 * m),  # bucket edges
        (T0 + timedelta(seconds=25), T0 + 9 * m + timedelta(seconds=5)),  # inside buckets
        (T0 + 15 * m, T0 + 25 * m),  # inside the gap
        (T0 + 12 * m, T0 + 32 * m),  # starting in the gap, ending past it
        (null_at, null_at + 3 * m),  # on the NULL
        (rows[30][0], rows[30][0]),  # a single instant, on the duplicate
        (T0 - 5 * m, T0 + 2 * m),  # before the oldest row
        (T0 + 31 * m, T0 + 2 * 60 * m),  # past the newest row
        (T0 - 60 * m, T0 + 3 * 60 * m),  # all of it
    ]
    check(db, tables, rows, spans)


def test_a_wide_window_reads_the_rows_of_at_most_two_buckets(db, tables):
    """Three days of 10 s rows: the statistics of the whole span, and of a window whose both
    ends cut buckets, read at most the rows of two buckets from the database, plus one."""
    rows = [(T0 + timedelta(seconds=10 * k), 37.0 + (k % 13) / 20) for k in range(3 * 8640)]
    insert(tables, TEMP.table, rows)

    async def main():
        async with Store(db) as store:
            summary = Summary(LiveFeed(store, db), db)
            await summary.build()
            base = summary.rows_read  # the newest bucket's rows, read with the build
            found = []
            for start, end in (
                (T0, rows[-1][0]),
                (T0 + timedelta(hours=5, seconds=25), T0 + timedelta(hours=60, seconds=35)),
            ):
                before = summary.rows_read
                totals = await summary.totals(TEMP, start, end)
                found.append((start, end, totals, summary.rows_read - before))
            return base, found

    base, found = asyncio.run(main())
    assert base <= 6
    per_bucket = 6  # 10 s rows, 1 min buckets
    for start, end, totals, read in found:
        assert read <= 2 * per_bucket + 1, read
        want = sql_stats(tables, TEMP, start, end, db.gap)
        assert_equal_stats(
            from_totals(TEMP, totals, start, end), want, (end - start).total_seconds()
        )


@pytest.mark.parametrize("width", [timedelta(seconds=1), timedelta(minutes=7)])
def test_statistics_follow_live_rows_from_the_feed_without_a_query(db, tables, width):
    """Rows the feed brings merge into the summary at once; a live window's statistics then
    need no read beyond the rows of the bucket its start cuts (read once)."""
    cfg = replace(db, summary_bucket=width)
    rows = [(T0 + timedelta(seconds=5 * k), 37.0 + (k % 5) / 10) for k in range(2000)]
    insert(tables, TEMP.table, rows)

    async def main():
        async with Store(cfg) as store:
            feed = LiveFeed(store, cfg)
            await feed.poll()
            summary = Summary(feed, cfg)
            summary.start()
            assert await summary.wait_ready(30)
            newest = rows[-1][0]
            checks = []
            for k in range(1, 6):
                t = newest + timedelta(seconds=3 * k)
                insert(tables, TEMP.table, [(t, 36.0 + k / 10)])
                await feed.poll()  # the summary merges the batch as the feed hands it out
                assert summary.newest(TEMP.key) is not None
                start, end = t - timedelta(hours=1), t
                before = summary.rows_read
                totals = await summary.totals(TEMP, start, end)
                checks.append((start, end, totals, summary.rows_read - before))
            await summary.stop()
            return checks

    for start, end, totals, read in asyncio.run(main()):
        want = sql_stats(tables, TEMP, start, end, cfg.gap)
        assert_equal_stats(from_totals(TEMP, totals, start, end), want, 3600.0)
        assert read <= 2 * max(1, width // timedelta(seconds=5)) + 1

"""The live feed against a real PostgreSQL: exactly once, late rows, outages, missing tables."""

from __future__ import annotations

import asyncio
import math
import random
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from tests.harness.database import create_tag_table, insert
from trending_panel.core.ledger import row_key
from trending_panel.core.variables import BY_KEY, VARIABLES, Variable
from trending_panel.db.store import Store
from trending_panel.live.feed import LiveFeed

T0 = datetime(2023, 5, 4, 10, 0)
TEMP, PH = BY_KEY["temperature"], BY_KEY["ph"]


def db_rows(conn: psycopg.Connection, table: str, after: datetime | None = None) -> Counter:
    rows = conn.execute(
        sql.SQL("SELECT time, value FROM {} WHERE time IS NOT NULL").format(sql.Identifier(table))
    ).fetchall()
    return Counter(row_key(r) for r in rows if after is None or r[0] > after)


def test_nothing_lost_or_duplicated_across_polls(db, tables):
    """Random batches with late rows, exact duplicates, NULL and NaN: every row once."""
    rng = random.Random(3)
    insert(tables, TEMP.table, [(T0, 37.0)])
    history = db_rows(tables, TEMP.table)

    async def scenario() -> Counter:
        delivered: Counter = Counter()
        async with Store(db) as store:
            feed = LiveFeed(store, db)
            sub = feed.subscribe()
            await feed.poll()  # primes: history is not re-sent
            assert sub.drain() == {}
            t = T0
            for _ in range(25):
                batch = []
                for _ in range(rng.randrange(0, 6)):
                    t += timedelta(milliseconds=rng.randrange(1, 2500))
                    batch.append((t, rng.choice([37.1, 37.2, None, math.nan, 37.25])))
                if batch and rng.random() < 0.4:
                    batch.append(batch[-1])  # exact duplicate row
                if rng.random() < 0.4:  # late row, older than the newest, within look-back
                    batch.append((t - timedelta(seconds=rng.randrange(1, 30)), 36.9))
                insert(tables, TEMP.table, batch)
                await feed.poll()
                for row in sub.drain().get("temperature", []):
                    delivered[row_key(row)] += 1
        return delivered

    delivered = asyncio.run(scenario())
    expected = db_rows(tables, TEMP.table) - history
    assert sum(expected.values()) > 40
    assert delivered == expected


def test_every_subscriber_gets_every_batch_from_one_query_per_tick(db, tables):
    async def scenario():
        async with Store(db) as store:
            feed = LiveFeed(store, db)
            subs = [feed.subscribe() for _ in range(5)]
            await feed.poll()
            insert(tables, PH.table, [(T0, 7.2), (T0 + timedelta(seconds=1), 7.19)])
            insert(tables, TEMP.table, [(T0 + timedelta(milliseconds=1), 37.2)])
            await feed.poll()
            return [s.drain() for s in subs], feed

    drained, feed = asyncio.run(scenario())
    assert all(d == drained[0] for d in drained)
    assert drained[0]["ph"] == [(T0, 7.2), (T0 + timedelta(seconds=1), 7.19)]
    assert feed.latest["ph"] == (T0 + timedelta(seconds=1), 7.19)
    assert feed.polls == 2


def test_missing_table_is_reported_then_picked_up_when_created(db, conn):
    async def scenario():
        async with Store(db, read_only=False) as store:
            feed = LiveFeed(store, db)
            sub = feed.subscribe()
            await feed.poll()
            missing_before = dict(feed.problems)
            await store.ensure_schema([PH])
            insert(conn, PH.table, [(T0, 7.1)])
            feed._variables = None  # what a failed poll or restart does: look again
            await feed.poll()
            insert(conn, PH.table, [(T0 + timedelta(seconds=2), 7.0)])
            await feed.poll()
            return missing_before, dict(feed.problems), sub.drain()

    before, after, drained = asyncio.run(scenario())
    assert before == {v.table: "not found" for v in VARIABLES}
    assert after == {v.table: "not found" for v in VARIABLES if v is not PH}
    assert drained == {"ph": [(T0 + timedelta(seconds=2), 7.0)]}


def test_outage_is_reported_survived_and_back_filled(pg_server, db, tables):
    import pytest

    if pg_server is None:
        pytest.skip("needs the private server to stop and start it")

    async def scenario():
        async with Store(db) as store:
            feed = LiveFeed(store, db)
            sub = feed.subscribe()
            feed.start()
            await _until(lambda: feed.status == "live")
            insert(tables, TEMP.table, [(T0, 37.0)])
            await _until(lambda: feed.latest.get("temperature") == (T0, 37.0))
            pg_server.stop()
            await _until(lambda: feed.status == "retrying", timeout=15)
            assert feed.down_since is not None and feed.error
            pg_server.restart()
            # rows the plant wrote for the outage period arrive after the restart
            with psycopg.connect(db.conninfo(), autocommit=True) as c:
                insert(
                    c,
                    TEMP.table,
                    [(T0 + timedelta(minutes=m), 37.0 + m / 100) for m in range(1, 31)],
                )
            await _until(lambda: feed.status == "live", timeout=30)
            await _until(
                lambda: feed.latest.get("temperature", (T0,))[0] == T0 + timedelta(minutes=30),
                timeout=10,
            )
            await feed.stop()
            rows = []
            for batch in list(sub.batches):
                rows += batch.get("temperature", [])
            return rows

    rows = asyncio.run(scenario())
    assert rows == [(T0, 37.0)] + [
        (T0 + timedelta(minutes=m), 37.0 + m / 100) for m in range(1, 31)
    ]


async def _until(predicate, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.05)


def test_revoked_permission_is_an_error_not_an_outage_and_the_rest_goes_on(db, tables):
    """A table that becomes unreadable mid-run is named; the other tables keep streaming."""
    from dataclasses import replace

    tables.execute("CREATE ROLE tp_feed_reader LOGIN")
    for var in VARIABLES:
        tables.execute(
            sql.SQL("GRANT SELECT ON {} TO tp_feed_reader").format(sql.Identifier(var.table))
        )
    reader = replace(db, user="tp_feed_reader")

    async def scenario():
        async with Store(reader) as store:
            feed = LiveFeed(store, reader)
            sub = feed.subscribe()
            await feed.poll()
            tables.execute(
                sql.SQL("REVOKE SELECT ON {} FROM tp_feed_reader").format(sql.Identifier(PH.table))
            )
            try:
                await feed.poll()
            except psycopg.errors.InsufficientPrivilege as exc:
                feed._failed(exc)  # what the polling loop does with it
            during = (feed.status, feed.reachable)
            insert(tables, TEMP.table, [(T0, 37.3)])
            await feed.poll()  # rediscovers the tables: pH is left out, the rest goes on
            return during, feed.status, dict(feed.problems), sub.drain()

    try:
        during, after, problems, drained = asyncio.run(scenario())
    finally:
        tables.execute("DROP OWNED BY tp_feed_reader")
        tables.execute("DROP ROLE tp_feed_reader")
    assert during == ("retrying", True)  # reachable: an error, not "unavailable"
    assert after == "live"
    assert problems == {PH.table: "no SELECT permission"}
    assert drained == {"temperature": [(T0, 37.3)]}


def test_a_page_waits_for_the_feed_to_follow_a_new_tag_and_the_feed_polls_at_once(db, tables):
    """A page that shows a tag the feed does not follow yet asks it to look now (its rows are
    then read after the feed's first look: none falls between). The pause between two polls
    is a minute here: only the nudge can prime the tag within the 20 s the page waits."""
    create_tag_table(tables, "AREA1/FIC-101.PV")
    new = Variable("fic_101", "AREA1/FIC-101.PV", "FIC-101", "L/h", "#000000")
    gone = Variable("gone", "AREA1/NOT-THERE", "Gone", "", "#000000")
    settings = replace(db, poll_interval=timedelta(minutes=1))

    async def scenario():
        async with Store(settings) as store:
            feed = LiveFeed(store, settings)
            feed.start()
            try:
                while feed.polls == 0:
                    await feed.wait_polled(30)
                feed.watch("page", [new, gone])
                before = feed.unprimed(["fic_101", "temperature"])
                left = await feed.until_primed(["fic_101"], 20)
                missing = feed.unprimed(["gone"])  # known missing: followed when it appears
                return before, left, missing, dict(feed.problems)
            finally:
                await feed.stop()

    before, left, missing, problems = asyncio.run(scenario())
    assert before == {"fic_101"}  # the configured four are followed from the first poll
    assert left == frozenset()
    assert missing == frozenset() and problems["AREA1/NOT-THERE"] == "not found"

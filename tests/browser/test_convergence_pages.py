"""Late, corrected and deleted rows behind the live edge: found with the read-only tools of a
real PostgreSQL (write counters, xmin), read again into the summary, announced to sessions."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from psycopg import sql

from tests.harness.browser import browser_pages, free_port, read_sources, served, wait_until
from tests.harness.database import create_tables, insert, scratch_database
from trending_panel.core.rows import to_ms
from trending_panel.core.variables import BY_KEY, VARIABLES

TEMP = BY_KEY["temperature"]
END = datetime(2023, 3, 1, 16, 0)

pytestmark = pytest.mark.browser


@pytest.mark.browser
def test_open_pages_converge_to_late_updated_and_deleted_rows(history_db):
    settings, conn = history_db
    port = free_port()
    table = sql.Identifier(TEMP.table)
    with (
        served(["trending-panel", "serve", "--port", str(port)], settings.to_env(), port) as proc,
        browser_pages(2) as (relative, absolute),
    ):
        base = f"http://localhost:{port}/"
        abs_start, abs_end = END - timedelta(hours=7), END + timedelta(hours=1)
        relative.goto(base + "?window=24h")
        absolute.goto(base + f"?start={abs_start:%Y-%m-%dT%H:%M}&end={abs_end:%Y-%m-%dT%H:%M}")
        relative.evaluate("() => { window.__same_page = true; }")
        for page, start in ((relative, END - timedelta(hours=24)), (absolute, abs_start)):
            wait_until(
                lambda page=page, start=start: (
                    page_rows(page, "temperature") == db_rows_ms(conn, TEMP, start)
                ),
                timeout=30,
                what="the window drawn row for row",
            )
        # The summary holds the history: what is written from here on is found (the detector
        # counts from before the summary read it, whenever it takes its first look).
        log = Path(proc.stdout.name)
        wait_until(lambda: "summary ready" in log.read_text(), what="the summary")
        newest = END + timedelta(seconds=5)
        insert(conn, TEMP.table, [(newest, 50.0)])  # live
        insert(conn, TEMP.table, [(newest - timedelta(seconds=20), 51.0)])  # late, in look-back
        insert(
            conn,
            TEMP.table,
            [
                (newest - timedelta(minutes=2, seconds=3), 52.0),
                (newest - timedelta(minutes=20, seconds=3), 53.0),
                (newest - timedelta(hours=6, seconds=3), 54.0),
            ],
        )
        conn.execute(
            sql.SQL("UPDATE {} SET value = 55.0 WHERE time = %s").format(table),
            (END - timedelta(hours=3),),
        )
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE time = %s").format(table), (END - timedelta(hours=5),)
        )
        written = time.monotonic()
        for page, start in ((relative, newest - timedelta(hours=24)), (absolute, abs_start)):
            end = abs_end if page is absolute else None
            try:
                wait_until(
                    lambda page=page, start=start, end=end: (
                        page_rows(page, "temperature") == db_rows_ms(conn, TEMP, start, end)
                    ),
                    timeout=30,
                    what="every page equal to the database, row for row",
                )
            except TimeoutError:  # which rows differ, and what the server found, for the reader
                shown, held = page_rows(page, "temperature"), db_rows_ms(conn, TEMP, start, end)
                print("page:", "absolute" if page is absolute else "relative")
                print("only in the page:", sorted(shown - held))
                print("only in the database:", sorted(held - shown))
                print("server log:", log.read_text()[-4000:])
                raise
        print(f"pages converged {time.monotonic() - written:.1f} s after the writes")
        for page in (relative, absolute):
            note = page.locator(".tp-changed").first.inner_text()
            assert "Temperature: rows between" in note and "changed in the database" in note
        assert relative.evaluate("() => window.__same_page === true")  # never reloaded


# -- end to end: open pages converge ----------------------------------------------------------


@pytest.fixture(scope="module")
def history_db(admin_settings) -> Iterator[tuple]:
    """8 hours of rows every 30 s in every table (few enough to be drawn raw), indexed."""
    with scratch_database(admin_settings, "tp_conv") as (settings, conn):
        create_tables(conn)
        for i, var in enumerate(VARIABLES):
            rows = [(END - timedelta(seconds=30 * k, milliseconds=7 * i), 10.0 * (i + 1) + k % 7)
                    for k in range(8 * 120)]  # fmt: skip
            insert(conn, var.table, rows)
            conn.execute(sql.SQL("CREATE INDEX ON {} (time)").format(sql.Identifier(var.table)))
        yield settings, conn


def page_rows(page, key: str) -> Counter:
    src = read_sources(page)[key]
    return Counter(
        (t, v) for t, v, f in zip(src["time"], src["value"], src["sample"], strict=True) if f == 1
    )


def db_rows_ms(conn, var, start: datetime, end: datetime | None = None) -> Counter:
    rows = conn.execute(
        sql.SQL("SELECT time, value FROM {} WHERE time >= %s AND time <= %s").format(
            sql.Identifier(var.table)
        ),
        (start, end or datetime(9999, 1, 1)),
    ).fetchall()
    return Counter((to_ms(t), v) for t, v in rows)

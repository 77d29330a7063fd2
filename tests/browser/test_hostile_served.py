"""Hostile URLs over HTTP and in Chromium, against a real ``trending-panel serve``: every page
URL serves a page, every export URL answers CSV or a 4xx/503 with a reason, no traceback or
500 in the server's log, and no row written or dropped (the parsers alone:
tests/db/test_hostile.py)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from psycopg import sql

from tests.harness.browser import browser_page, free_port, served, wait_until
from tests.harness.database import create_tables, insert, scratch_database
from tests.harness.hostile import NEWEST, as_url, queries
from trending_panel.core.variables import VARIABLES

# -- over HTTP, against the real server: never a 500 or a traceback -------------------------


@pytest.fixture(scope="module")
def fuzz_server(admin_settings, tmp_path_factory) -> Iterator[tuple[str, object, list]]:
    with scratch_database(admin_settings, "tp_fuzz") as (db, conn):
        create_tables(conn)
        for i, var in enumerate(VARIABLES):
            insert(
                conn, var.table, [(NEWEST - timedelta(minutes=k), 10.0 * i + k) for k in range(60)]
            )
        counts = _counts(conn)
        log = tmp_path_factory.mktemp("fuzz") / "server.log"
        port = free_port()
        with served(["trending-panel", "serve", "--port", str(port)], db.to_env(), port, log=log):
            yield f"http://localhost:{port}", conn, counts
            text = log.read_text()
        assert "Traceback" not in text, text[-3000:]
        assert " 500 " not in text and "Uncaught exception" not in text, text[-3000:]
        assert _counts(conn) == counts  # nothing was written or dropped by any input


def _counts(conn) -> list[int]:
    return [
        conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(v.table))).fetchone()[
            0
        ]
        for v in VARIABLES
    ]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@given(queries)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_fuzzed_page_urls_serve_a_page(fuzz_server, pairs):
    base, _, _ = fuzz_server
    status, body = _get(f"{base}/?{as_url(pairs)}")
    assert status == 200, body[:500]


@given(queries)
@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_fuzzed_export_urls_answer_csv_or_a_reason(fuzz_server, pairs):
    base, _, _ = fuzz_server
    status, body = _get(f"{base}/export.csv?{as_url(pairs)}")
    assert status in (200, 400, 409, 429, 503), (status, body[:300])
    if status == 200:
        assert body.startswith(b"time,")
    else:
        assert body.strip() and b"Traceback" not in body


def test_the_reported_malformed_url_is_a_message_in_the_page(fuzz_server):
    """``/?window=%00%ff`` raised UnicodeDecodeError in the session: now the page says why."""
    base, _, _ = fuzz_server
    with browser_page() as page:
        page.goto(f"{base}/?window=%00%ff")
        wait_until(
            lambda: (
                "Ignored the URL's window: window is not valid UTF-8"
                in page.locator(".tp-status").inner_text()
            ),
            what="the URL's problem in the header",
        )
        wait_until(lambda: "Live" in page.locator(".tp-status").inner_text(), what="live")

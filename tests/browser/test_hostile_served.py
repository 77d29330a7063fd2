"""Hostile URLs over HTTP and in Chromium, against a real ``trending-panel serve``: every page
URL serves a page, every export URL answers CSV or a 4xx/503 with a reason, no traceback or
500 in the server's log, and no row written or dropped (the parsers alone:
tests/db/test_hostile.py)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from psycopg import sql

from tests.harness.browser import browser_page, free_port, served, wait_until
from tests.harness.database import create_tables, insert, scratch_database
from tests.harness.hostile import NEWEST, as_url, queries
from trending_panel.core.variables import VARIABLES

# -- over HTTP, against the real server: never a 500 or a traceback -------------------------


@pytest.fixture(scope="module")
def fuzz_server(admin_settings, tmp_path_factory) -> Iterator[tuple[str, object, Path]]:
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
            yield f"http://localhost:{port}", conn, log
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


#: Queries Panel's own parser raised on while building the session (no session, and a
#: traceback for every later message of the page): each now a 400 and one line.
UNREADABLE = {
    "20,000 digits": "window=" + "9" * 20_000,
    "4,400 digits": "window=" + "9" * 4_400,
    "a superscript digit": "window=%C2%B2",
    "another key": "x=" + "7" * 5_000,
}


@pytest.mark.parametrize("query", list(UNREADABLE.values()), ids=list(UNREADABLE))
def test_queries_panel_cannot_read_are_refused_in_one_line(fuzz_server, query):
    base, _, _ = fuzz_server
    status, body = _get(f"{base}/?{query}")
    assert status == 400
    text = body.decode()
    assert text.startswith("Bad request: ") and text.count("\n") == 1, text


def _websocket(url: str, subprotocols: list[str] | None) -> str:
    """Open a websocket as a stranger would: 'open' or the HTTP refusal."""
    import asyncio
    import concurrent.futures

    import tornado.httpclient
    import tornado.websocket

    async def attempt() -> str:
        origin = url.replace("ws://", "http://").split("/ws")[0]
        request = tornado.httpclient.HTTPRequest(url, headers={"Origin": origin})
        try:
            conn = await tornado.websocket.websocket_connect(request, subprotocols=subprotocols)
        except tornado.httpclient.HTTPClientError as exc:
            return f"HTTP {exc.code}"
        conn.close()
        return "open"

    # (in a thread: the end-to-end tests' shared Chromium holds an event loop in this one)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, attempt()).result()


@pytest.mark.parametrize(
    "query", ["window=%00%ff", "", "window=" + "9" * 4_400], ids=["bad-utf8", "none", "digits"]
)
@pytest.mark.parametrize(
    "subprotocols", [None, ["bokeh"], ["bokeh", "not-a-token"]], ids=["none", "bare", "forged"]
)
def test_websockets_no_page_opened_are_refused_before_bokeh(fuzz_server, query, subprotocols):
    """Bokeh raised on these in its handler and again when they closed (a traceback each);
    the fixture's log check holds this test to none."""
    base, _, _ = fuzz_server
    url = base.replace("http://", "ws://") + "/ws" + (f"?{query}" if query else "")
    assert _websocket(url, subprotocols) == "HTTP 400"


def test_pages_that_close_leave_no_traceback(fuzz_server):
    """Three pages opened, drawn and closed; the browser's last messages for a session that is
    gone are no error (the fixture reads the log for tracebacks after every test here)."""
    base, _, log = fuzz_server
    closed = log.read_text().count("WebSocket connection closed")
    with browser_page() as page:
        for window in ("1h", "15m", "6h"):
            tab = page.context.new_page()
            tab.goto(f"{base}/?window={window}")
            wait_until(lambda tab=tab: "Live" in tab.locator(".tp-status").inner_text(),
                       what="the page live")  # fmt: skip
            tab.close()
    wait_until(
        lambda: log.read_text().count("WebSocket connection closed") >= closed + 3,
        what="the three pages' websockets closed on the server",
    )
    base_page_still_serves = _get(f"{base}/?window=1h")[0]
    assert base_page_still_serves == 200

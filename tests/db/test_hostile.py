"""Hostile input, fuzzed with Hypothesis: URL parameters of the page and of the CSV route,
and the dashboard's window parameters as widgets and notebooks set them.

Whatever arrives, the answer is a page (or a 4xx) with a clear message and the previous or
default view: never a server traceback, never a 500, never SQL built from the input.
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from tests.harness.browser import free_port, served
from tests.harness.database import create_tables, insert, scratch_database
from trending_panel.core.errors import BadRequest
from trending_panel.core.timewindow import PRESET_KEYS, TimeWindow, query_text
from trending_panel.core.variables import VARIABLES
from trending_panel.db.store import Store
from trending_panel.live.feed import LiveFeed
from trending_panel.serve.export_route import parse_query
from trending_panel.web import header
from trending_panel.web.dashboard import Dashboard

NEWEST = datetime(2024, 5, 1, 12, 0)
KEYS = ("window", "start", "end", "variables", "ref")
SQL_TEXT = [
    '\'; DROP TABLE "CM_PRESSURE/Output"; --',
    '") OR 1=1 --',
    '1h; DELETE FROM "CM_HAM_PH_AI1/pH_value"',
    "temperature,ph'||pg_sleep(10)||'",
    "$$; SELECT pg_terminate_backend(pg_backend_pid()); $$",
]


def _iso(t: datetime) -> bytes:
    return t.isoformat().encode()


#: Values: arbitrary bytes (invalid UTF-8, NUL), what the app understands, near misses,
#: extreme and inverted times, huge values and SQL text.
values = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([k.encode() for k in PRESET_KEYS]),
    st.sampled_from([b"temperature,ph", b"pressure", b"ph,ph", b"", b",", b"oxygen,nope"]),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(_iso),
    st.sampled_from(
        [
            b"0001-01-01T00:00+14:00",
            b"9999-12-31T23:59:59-12:00",
            b"2024-02-30T00:00",
            b"2024-05-01T12:00:00.000000001",
            b"\x00",
            b"%00%ff",
            b"\xff\xfe",
            b"1e308h",
            b"99999999999999999999d",
            b"-5m",
            b"x" * 5000,
        ]
    ),
    st.sampled_from([s.encode() for s in SQL_TEXT]),
)
keys = st.one_of(st.sampled_from(KEYS), st.binary(min_size=1, max_size=12))
queries = st.lists(st.tuples(keys, values), max_size=5)


def as_args(pairs: list[tuple]) -> dict[str, list[bytes]]:
    """What Tornado makes of a query string: text keys, byte values, repeats kept."""
    out: dict[str, list[bytes]] = {}
    for key, value in pairs:
        name = key if isinstance(key, str) else key.decode("latin-1")
        out.setdefault(name, []).append(value)
    return out


def as_url(pairs: list[tuple]) -> str:
    return "&".join(
        f"{quote_from_bytes(k.encode() if isinstance(k, str) else k)}={quote_from_bytes(v)}"
        for k, v in pairs
    )


# -- parsing: only the refusals the page and the route turn into messages -------------------


@given(queries)
@settings(max_examples=400, deadline=None)
def test_url_window_parsing_raises_only_value_errors(admin_settings, pairs):
    args = as_args(pairs)
    try:
        window = TimeWindow.from_query(
            query_text(args, ("window", "start", "end")), admin_settings.tzinfo
        )
    except ValueError as exc:
        assert str(exc) and len(str(exc)) < 300  # a message, not a dump of the input
        return
    assert window.label()  # what parsed is a usable window
    start, end = window.resolve(NEWEST)
    assert start is None or start < end


@given(queries)
@settings(max_examples=400, deadline=None)
def test_export_query_parsing_raises_only_bad_request(admin_settings, pairs):
    try:
        window, variables, _ = parse_query(as_args(pairs), admin_settings)
    except BadRequest as exc:
        assert str(exc) and len(str(exc)) < 400
        return
    assert window.label() and all(v in VARIABLES for v in variables)


# -- widget and notebook values: a bad window reverts to the last good one ------------------


times = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
)


@pytest.fixture(scope="module")
def dash(admin_settings) -> Iterator[Dashboard]:
    """One dashboard for all examples (the states they leave behind are inputs too); no
    event loop runs, so no load reaches the database."""
    store = Store(admin_settings)
    yield Dashboard(admin_settings, feed=LiveFeed(store, admin_settings), autostart=False)
    asyncio.run(store.close())


def status_of(dash: Dashboard) -> str:
    """The page's status line as it would show now."""
    return header.status_html(
        dash.feed, dash.settings.by_key, dash.settings.now(), dash.status_notes()
    )


@given(
    st.lists(
        st.tuples(st.sampled_from([*PRESET_KEYS, "custom"]), times, times, times),
        min_size=1,
        max_size=6,
    )
)
@settings(max_examples=150, deadline=None)
def test_window_parameters_never_leave_the_dashboard_without_a_window(dash, steps):
    for window, start, end, ref in steps:
        dash.param.update(window=window, start=start, end=end, ref=ref)
        assert dash.ref is None or 1900 <= dash.ref.year <= 2200  # an absurd one is refused…
        if ref is not None and not 1900 <= ref.year < 2200:
            assert "Ignored that reference" in status_of(dash)  # …saying so
        assert dash.time_window.label()  # always a valid window…
        if window == "custom" and start and end and end <= start:
            assert "Ignored that window" in status_of(dash)  # …and why not this one
        if start and end:
            dash.pick_range(start, end)  # what the range inputs do
            assert dash.time_window.label()
        dash.tick()  # the periodic callback copes with whatever is set


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
    from tests.harness.browser import browser_page, wait_until

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

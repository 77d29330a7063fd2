"""Fault test end to end: the database goes away under a served dashboard and comes back."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg
import pytest

from trending_panel.browser import browser_page, free_port, read_sources, served, wait_until
from trending_panel.dashboard import to_ms
from trending_panel.variables import BY_KEY

from .conftest import insert

pytestmark = pytest.mark.browser
NEWEST = datetime(2023, 3, 1, 16, 0)
TEMP = BY_KEY["temperature"]


def status(page) -> str:
    return " ".join(page.locator(".tp-status").all_inner_texts())


def test_dashboard_survives_an_outage_and_back_fills_it(pg_server, db, tables):
    if pg_server is None:
        pytest.skip("needs the private server to stop and start it")
    insert(tables, TEMP.table, [(NEWEST - timedelta(seconds=10 * k), 37.2) for k in range(300)])
    env = db.to_env()
    port = free_port()
    url = f"http://localhost:{port}/?window=15m"
    outage_rows = [(NEWEST + timedelta(seconds=20 * k), 37.0 + k / 100) for k in range(1, 31)]
    with (
        served(["trending-panel", "serve", "--port", str(port)], env, port),
        browser_page() as page,
    ):
        late_page = page.context.new_page()
        page.goto(url)
        wait_until(
            lambda: len(read_sources(page).get("temperature", {}).get("time", [])) > 50,
            what="history in the page",
        )
        pg_server.stop()
        wait_until(
            lambda: "Database unavailable since" in status(page),
            timeout=30,
            what="the outage reported in the header",
        )
        late_page.goto(url)  # a viewer who arrives during the outage
        wait_until(
            lambda: "Could not load data" in status(late_page),
            timeout=30,
            what="the failed load reported",
        )
        pg_server.restart()
        with psycopg.connect(db.conninfo(), autocommit=True) as conn:
            insert(conn, TEMP.table, outage_rows)  # what the plant logged meanwhile
        wanted = {to_ms(t) for t, _ in outage_rows}
        for p in (page, late_page):
            wait_until(
                lambda p=p: wanted <= set(read_sources(p)["temperature"]["time"]),
                timeout=40,
                what="the outage's rows back-filled",
            )
            wait_until(
                lambda p=p: "Live" in status(p) and "unavailable" not in status(p),
                timeout=20,
                what="the header back to Live",
            )

"""Weeks of data in Chromium: points bounded by each plot's pixel width, spikes and gaps kept,
zoom bringing the raw rows of the range it shows."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from psycopg import sql

from tests.harness.browser import browser_page, free_port, read_sources, served, wait_until
from tests.harness.database import create_tables, scratch_database
from trending_panel.core.rows import from_ms, to_ms
from trending_panel.core.variables import BY_KEY, VARIABLES

pytestmark = pytest.mark.browser

END = datetime(2023, 3, 1, 16, 0)
STEP_S = 10  # 30 days of rows every 10 s: 259,200 rows per table
SPIKE = (END - timedelta(hours=7, seconds=3 * STEP_S), 45.0)  # one sample, temperature
GAP = (END - timedelta(hours=5), END - timedelta(hours=3))  # no pH rows: an outage


@pytest.fixture(scope="module")
def month_db(admin_settings) -> Iterator[tuple]:
    with scratch_database(admin_settings, "tp_month") as (settings, conn):
        create_tables(conn)
        for i, var in enumerate(VARIABLES):
            table = sql.Identifier(var.table)
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} SELECT %s - make_interval(secs => s * %s + %s),"
                    " round((%s + sin(s / 500.0) + (s %% 7) * 0.01)::numeric, 3)::float8"
                    " FROM generate_series(0, %s) AS s"
                ).format(table),
                (END, STEP_S, 0.137 * i, 10.0 * (i + 1), 30 * 86400 // STEP_S - 1),
            )
            conn.execute(sql.SQL("CREATE INDEX ON {} (time)").format(table))
        conn.execute(
            sql.SQL("UPDATE {} SET value = %s WHERE time = %s").format(
                sql.Identifier(BY_KEY["temperature"].table)
            ),
            (SPIKE[1], SPIKE[0]),
        )
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE time > %s AND time < %s").format(
                sql.Identifier(BY_KEY["ph"].table)
            ),
            GAP,
        )
        conn.execute("VACUUM ANALYZE")
        yield settings, conn


@pytest.fixture(scope="module")
def month_server(month_db) -> Iterator[str]:
    settings, _ = month_db
    port = free_port()
    with served(["trending-panel", "serve", "--port", str(port)], settings.to_env(), port):
        yield f"http://localhost:{port}"


WIDTHS_JS = """
() => { const out = {};
  for (const m of Bokeh.documents[0].all_models)
    if (m.type === "Figure" && m.name && m.name.startsWith("trend-"))
      out[m.name.slice(6)] = m.inner_width;
  return out; }
"""
SET_RANGE_JS = """
([start, end]) => { for (const m of Bokeh.documents[0].all_models)
  if (m.name === "time-range") m.setv({start, end}); }
"""
#: Zoom like a user would (the shared x-range), timing in the page when each source's new data
#: arrived and the frame after it was painted.
ZOOM_TIMED_JS = """
([start, end]) => {
  window.__zoom = {t0: performance.now(), drawn: {}};
  for (const m of Bokeh.documents[0].all_models)
    if (m.name && m.name.startsWith("source-"))
      m.properties.data.change.connect(() => requestAnimationFrame(() => {
        window.__zoom.drawn[m.name.slice(7)] = performance.now(); }));
  for (const m of Bokeh.documents[0].all_models)
    if (m.name === "time-range") m.setv({start, end});
}
"""


def settled_budget(page) -> tuple[dict, dict]:
    """Sources and plot widths once every plot holds data within its budget."""

    def ok():
        sources, widths = read_sources(page), page.evaluate(WIDTHS_JS)
        if len(sources) != 4 or not all(widths.get(k) for k in sources):
            return None
        if not all(0 < sum(s["sample"]) <= 4 * widths[k] for k, s in sources.items()):
            return None
        return sources, widths

    return wait_until(ok, timeout=60, what="every plot drawn within 4 points per pixel column")


@pytest.mark.parametrize("window", ["24h", "30d"])
def test_points_per_plot_bounded_by_its_width_with_the_spike_and_the_gap(
    month_server, month_db, window
):
    _, conn = month_db
    with browser_page(width=1000, height=1100) as page:
        page.goto(f"{month_server}/?window={window}")
        sources, widths = settled_budget(page)
        for key, s in sources.items():
            samples = sum(s["sample"])
            corners = len(s["time"]) - samples  # hold corners and breaks
            assert samples <= 4 * widths[key] and corners <= 2 * widths[key], key
            rows = conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE time >= %s").format(
                    sql.Identifier(BY_KEY[key].table)
                ),
                (END - (timedelta(hours=24) if window == "24h" else timedelta(days=30)),),
            ).fetchone()[0]
            assert rows > 2 * samples  # really reduced, not sent whole
        temp = sources["temperature"]
        assert SPIKE[1] in temp["value"]
        assert to_ms(SPIKE[0]) in temp["time"]  # at its own time
        # the outage in pH is a break: a NaN vertex at the last row before it, nothing inside
        ph = sources["ph"]
        inside = [
            v
            for t, v in zip(ph["time"], ph["value"], strict=True)
            if to_ms(GAP[0]) < t < to_ms(GAP[1])
        ]
        assert inside == []
        last_before = max(t for t in ph["time"] if t <= to_ms(GAP[0]))
        assert any(
            t == last_before and (v is None or math.isnan(v))
            for t, v in zip(ph["time"], ph["value"], strict=True)
        )
        status = page.locator(".tp-status")
        assert "reduced to the screen: 4 plots, zoom in for every row" in status.inner_text()
        details = status.locator(".tp-more").get_attribute("title")
        assert "first/last/min/max per pixel column" in details  # the particulars, on hover


def test_zoom_from_thirty_days_into_one_hour_draws_its_raw_rows(month_server, month_db):
    _, conn = month_db
    with browser_page(width=1000, height=1100) as page:
        page.goto(f"{month_server}/?window=30d")
        settled_budget(page)
        start, end = END - timedelta(hours=8), END - timedelta(hours=7)
        expected = {}
        for var in VARIABLES:
            rows = conn.execute(
                sql.SQL(
                    "SELECT time, value FROM {} WHERE time BETWEEN %s AND %s ORDER BY time"
                ).format(sql.Identifier(var.table)),
                (start, end),
            ).fetchall()
            expected[var.key] = [(to_ms(t), v) for t, v in rows]
        page.evaluate(ZOOM_TIMED_JS, [to_ms(start), to_ms(end)])

        def raw():
            sources = read_sources(page)
            got = {
                k: [
                    (t, v)
                    for t, v, f in zip(s["time"], s["value"], s["sample"], strict=True)
                    if f == 1 and to_ms(start) <= t <= to_ms(end)
                ]
                for k, s in sources.items()
            }
            return got == expected

        wait_until(raw, timeout=30, interval=0.02, what="the hour's raw rows in every plot")
        timing = page.evaluate("() => window.__zoom")
        drawn = max(timing["drawn"].values()) - timing["t0"]
        print(f"zoom 30 d → 1 h: raw rows of 4 plots drawn {drawn:.0f} ms after the zoom")
        assert sum(len(v) for v in expected.values()) > 4 * 300
        # the spike is in this hour: drawn at full resolution, with its neighbours
        assert (to_ms(SPIKE[0]), SPIKE[1]) in expected["temperature"]
        # a pan back to the live edge and "reset" returns to the 30 d window
        page.evaluate(SET_RANGE_JS, [to_ms(END - timedelta(days=30)), to_ms(END)])
        settled_budget(page)
        assert (
            from_ms(
                page.evaluate(
                    "() => { for (const m of Bokeh.documents[0].all_models)"
                    " if (m.name === 'time-range') return m.end }"
                )
            )
            == END
        )

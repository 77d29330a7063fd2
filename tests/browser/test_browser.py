"""End to end: Chromium against ``trending-panel serve``, reading the Bokeh models of the page."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from psycopg import sql

from tests.harness.browser import browser_page, free_port, read_sources, served, wait_until
from tests.harness.csvcheck import csv_rows, db_rows
from tests.harness.database import create_tables, insert, scratch_database
from trending_panel.core.rows import from_ms, to_ms
from trending_panel.core.variables import BY_KEY, VARIABLES

pytestmark = pytest.mark.browser

NEWEST = datetime(2023, 3, 1, 16, 0, 0, 250000)  # a finished batch, years old


@pytest.fixture(scope="module")
def plant_db(admin_settings) -> Iterator[tuple]:
    """A database with 30 hours of by-exception history in all four tables, misaligned."""
    with scratch_database(admin_settings, "tp_e2e") as (settings, conn):
        create_tables(conn)
        for i, var in enumerate(VARIABLES):
            step = timedelta(seconds=20 + 7 * i)
            n = int(timedelta(hours=30) / step)
            insert(
                conn,
                var.table,
                [
                    (
                        NEWEST - timedelta(milliseconds=31 * i) - k * step,
                        10.0 * (i + 1) + (k % 13) * 0.01,
                    )
                    for k in range(n)
                ],
            )
        yield settings, conn, settings.to_env()


@pytest.fixture(scope="module")
def server(plant_db) -> Iterator[str]:
    _, _, env = plant_db
    port = free_port()
    with served(["trending-panel", "serve", "--port", str(port)], env, port):
        yield f"http://localhost:{port}"


@pytest.fixture
def page():
    with browser_page() as p:
        yield p


FIGURES_JS = """
() => {
  const out = [];
  for (const m of Bokeh.documents[0].all_models) {
    if (m.type === "Figure" && m.name.startsWith("trend-")) out.push({title: m.title.text,
                                       y: m.left[0].axis_label, x: m.below.length});
    if (m.type === "Figure" && m.name === "time-axis")
      out.push({time_axis: m.below[0].axis_label});
  }
  return out;
}
"""
RANGE_JS = """
() => { for (const m of Bokeh.documents[0].all_models) if (m.name === "time-range")
          return [m.start, m.end]; }
"""


def loaded(page, n: int = 4) -> dict:
    return wait_until(
        lambda: (
            (s := read_sources(page))
            and len(s) == n
            and all(len(v["time"]) for v in s.values())
            and s
        ),
        timeout=30,
        what="data in every plot",
    )


def test_four_labelled_plots_and_current_values(server, page):
    page.goto(server + "/")
    loaded(page)
    found = page.evaluate(FIGURES_JS)
    figures = [f for f in found if "title" in f]
    assert sorted(f["title"] for f in figures) == sorted(v.title for v in VARIABLES)
    assert {f["y"] for f in figures} == {v.unit or v.label for v in VARIABLES}  # short
    # the trends share one time axis below them all (no axis of their own to build or draw)
    assert {f["x"] for f in figures} == {0}
    assert [f["time_axis"] for f in found if "time_axis" in f] == ["Time (UTC)"]
    cards = page.locator(".tp-card")
    wait_until(lambda: cards.count() == 4, what="four value cards")
    # The card's text as drawn: present in the DOM is not yet laid out (this read '' once).
    unit = page.locator(".tp-card[data-key=temperature] .tp-unit")
    wait_until(lambda: unit.inner_text() == "°C", what="the temperature card's unit drawn")
    wait_until(lambda: "Live" in page.locator(".tp-status").inner_text(), what="live")
    # BokehJS answers its per-property CSS-variable lookups without asking (web/bokehjs_speed)
    wait_until(lambda: page.evaluate(CSS_FREE_JS) is True, what="BokehJS's CSS lookups off")


CSS_FREE_JS = """
() => Bokeh.require("core/visuals/visual").VisualProperties.prototype.__tp_css_free ?? null
"""


def test_inserted_row_appears_without_reload(server, plant_db, page):
    _, conn, _ = plant_db
    page.goto(server + "/?window=15m")
    loaded(page)
    page.evaluate("() => { window.__same_page = true; }")
    var = BY_KEY["ph"]
    row_time = NEWEST + timedelta(seconds=3, milliseconds=7)
    target = to_ms(row_time)
    insert(conn, var.table, [(row_time, 6.54321)])
    inserted = time.monotonic()

    def arrived() -> bool:
        src = read_sources(page)["ph"]
        return any(
            t == target and v == 6.54321 for t, v in zip(src["time"], src["value"], strict=True)
        )

    # Waits for the row, never for a time: how fast it comes is measured by `make bench`
    # (latency_*), not here, where a loaded CI machine would make it flaky.
    wait_until(arrived, timeout=30, interval=0.02, what="the inserted row in the page")
    print(f"insert-to-browser latency: {(time.monotonic() - inserted) * 1000:.0f} ms")
    assert page.evaluate("() => window.__same_page === true")  # no reload happened
    # The relative window followed the new sample (the range's change is a message of its
    # own, right behind the data's).
    wait_until(lambda: page.evaluate(RANGE_JS)[1] == target, timeout=15, what="the range")


def test_window_in_url_shows_that_window(server, plant_db, page):
    _, conn, _ = plant_db
    page.goto(server + "/?window=6h")
    sources = loaded(page)
    newest = max(
        r[0]
        for var in VARIABLES
        for r in conn.execute(sql.SQL("SELECT max(time) FROM {}").format(sql.Identifier(var.table)))
    )
    start = newest - timedelta(hours=6)
    assert page.evaluate(RANGE_JS) == [to_ms(start), to_ms(newest)]
    temp = BY_KEY["temperature"]
    expected = conn.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE time >= %s").format(sql.Identifier(temp.table)),
        (start,),
    ).fetchone()[0]
    # 6 h of 20 s rows fit the plot's raw budget: every row is drawn
    assert sum(sources["temperature"]["sample"]) == expected
    pressed = page.locator("button[aria-pressed=true]", has_text="Last 6 h")
    wait_until(lambda: pressed.count() == 1, what="the 6 h preset pressed")
    # absolute windows in ISO 8601, also shareable
    page.goto(server + "/?start=2023-03-01T10:00:00&end=2023-03-01T11:00:00")
    wait_until(
        lambda: (
            page.evaluate(RANGE_JS)
            == [to_ms(datetime(2023, 3, 1, 10)), to_ms(datetime(2023, 3, 1, 11))]
        ),
        what="the absolute window",
    )


def test_csv_download_equals_database_rows_of_the_window(server, plant_db, page, tmp_path):
    _, conn, _ = plant_db
    page.goto(server + "/?window=6h")
    loaded(page)
    with page.expect_download(timeout=30_000) as info:
        page.get_by_role("button", name="Download CSV").click()
    download = info.value
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    text = path.read_bytes().decode("utf-8")
    newest = max(
        r[0]
        for var in VARIABLES
        for r in conn.execute(sql.SQL("SELECT max(time) FROM {}").format(sql.Identifier(var.table)))
    )
    start = newest - timedelta(hours=6)
    head, rows = csv_rows(text)
    assert head[0] == "time" and len(head) == 5
    expected = db_rows(conn, VARIABLES, start, newest)
    assert sum(expected.values()) > 2000
    assert rows == expected
    assert download.suggested_filename == (
        f"trending_{start:%Y%m%dT%H%M%S}_{newest:%Y%m%dT%H%M%S}.csv"
    )
    # the page said so, and the file is byte for byte the command line's
    assert page.locator(".tp-csv-status").inner_text() == f"Downloading {path.name}"
    cli = subprocess.run(
        [sys.executable, "-m", "trending_panel.ops.cli", "export", "--window", "6h"],
        env={**os.environ, **plant_db[2]},
        capture_output=True,
        check=True,
    )
    assert path.read_bytes() == cli.stdout


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ("bogus=1", 400, "unknown parameter"),
        ("window=1h&window=6h", 400, "give window once"),
        ("window=%ff%fe", 400, "not valid UTF-8"),
        ("window=%00", 400, "not a valid value"),
        ("window=2h", 400, "unknown window"),
        ("start=2023-03-01T12:00&end=2023-03-01T10:00", 400, "is not after its start"),
        ("start=2023-03-01T10:00", 400, "give both start and end"),
        ("variables=ph,temperature%27;DROP%20TABLE%20x", 400, "unknown variable"),
    ],
)
def test_export_route_refuses_anything_but_a_window_and_variables(server, query, status, says):
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{server}/export.csv?{query}", timeout=10)
    assert info.value.code == status
    assert says in info.value.read().decode()


def test_export_route_answers_head_with_the_same_checks_and_no_rows(server):
    """What the page's button asks before the browser downloads: the file's headers, or the
    refusal's sentence in a header (HEAD has no body), percent-encoded UTF-8."""
    ok = urllib.request.Request(f"{server}/export.csv?window=1h&variables=ph", method="HEAD")
    with urllib.request.urlopen(ok, timeout=10) as resp:
        assert resp.status == 200 and resp.read() == b""
        assert resp.headers["Content-Type"].startswith("text/csv")
        assert resp.headers["Content-Disposition"].startswith('attachment; filename="trending_')
    bad = urllib.request.Request(f"{server}/export.csv?variables=pH%C2%B0", method="HEAD")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(bad, timeout=10)
    assert info.value.code == 400 and "Content-Disposition" not in info.value.headers
    said = urllib.parse.unquote(info.value.headers["X-Export-Problem"])
    assert "unknown variable" in said and "pH°" in said


def test_export_route_streams_the_csv(server, plant_db):
    _, conn, _ = plant_db
    url = f"{server}/export.csv?start=2023-03-01T10:00:00&end=2023-03-01T11:00:00&variables=ph"
    with urllib.request.urlopen(url, timeout=30) as resp:
        assert resp.headers["Content-Type"].startswith("text/csv")
        assert (
            'filename="trending_20230301T100000_20230301T110000.csv"'
            in resp.headers["Content-Disposition"]
        )
        text = resp.read().decode()
    head, rows = csv_rows(text)
    start, end = datetime(2023, 3, 1, 10), datetime(2023, 3, 1, 11)
    assert head == ["time", "ph"]
    assert rows == db_rows(conn, (BY_KEY["ph"],), start, end) and rows


def test_panel_serve_of_the_app_module(plant_db, page):
    """``panel serve src/trending_panel/serve/app.py`` shows the same dashboard."""
    _, _, env = plant_db
    port = free_port()
    app = str(Path(__file__).resolve().parents[2] / "src" / "trending_panel" / "serve" / "app.py")
    with served(["panel", "serve", app, "--port", str(port), "--liveness"], env, port):
        page.goto(f"http://localhost:{port}/app?window=6h")
        sources = loaded(page)
        assert set(sources) == {v.key for v in VARIABLES}
        assert page.evaluate(RANGE_JS)[1] == to_ms(
            max(
                datetime.fromtimestamp(0) + timedelta(milliseconds=max(s["time"]))
                for s in sources.values()
            )
        )


def test_presets_and_the_range_inputs_drive_the_window_and_the_url(server, plant_db, page):
    _, conn, _ = plant_db
    page.goto(server + "/")
    loaded(page)
    page.get_by_role("button", name="Last 6 h").click()
    wait_until(lambda: page.evaluate("() => location.search") == "?window=6h", what="URL 6h")
    newest = to_ms(
        max(
            r[0]
            for var in VARIABLES
            for r in conn.execute(
                sql.SQL("SELECT max(time) FROM {}").format(sql.Identifier(var.table))
            )
        )
    )
    wait_until(
        lambda: (
            page.evaluate(RANGE_JS)[1] - page.evaluate(RANGE_JS)[0] == 6 * 3600e3
            and page.evaluate(RANGE_JS)[1] == newest
        ),
        what="the 6 h window drawn",
    )
    # the range inputs show the loaded window's ends; type an absolute range over them
    newest_text = from_ms(newest).isoformat(sep=" ", timespec="seconds")
    wait_until(
        lambda: page.get_by_role("textbox", name="To (UTC)").input_value() == newest_text,
        what="the window's end in the range input",
    )
    for name, text in (("From (UTC)", "2023-03-01 10:00:00"), ("To (UTC)", "2023-03-01 11:30:00")):
        box = page.get_by_role("textbox", name=name)
        box.fill(text)
        box.press("Enter")
    start, end = datetime(2023, 3, 1, 10), datetime(2023, 3, 1, 11, 30)
    wait_until(
        lambda: page.evaluate(RANGE_JS) == [to_ms(start), to_ms(end)], what="the picked window"
    )
    assert page.evaluate("() => location.search") == (
        "?start=2023-03-01T10%3A00%3A00&end=2023-03-01T11%3A30%3A00"
    )
    assert page.locator("button[aria-pressed=true]", has_text="Custom range").count() == 1
    ph = BY_KEY["ph"]
    expected = conn.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE time BETWEEN %s AND %s").format(
            sql.Identifier(ph.table)
        ),
        (start, end),
    ).fetchone()[0]
    wait_until(lambda: sum(read_sources(page)["ph"]["sample"]) == expected, what="pH rows")

"""Statistics of a window against values computed here, independently, from the raw rows:
with a gap, NULL, NaN, a duplicate timestamp, the row before the window and one after it."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from psycopg import sql

from tests.harness.database import insert
from tests.harness.stats_reference import END, GAP, PH, START, T0, TEMP, plant_rows, reference
from trending_panel.core.variables import VARIABLES


@pytest.mark.browser
def test_the_page_shows_the_same_statistics_beside_each_trend(db, tables):
    from tests.harness.browser import browser_page, free_port, served, wait_until

    rows = plant_rows()
    insert(tables, TEMP.table, rows)
    want = reference(rows, TEMP, START, END, GAP)
    port = free_port()
    url = f"http://localhost:{port}/?start={START.isoformat()}&end={END.isoformat()}"
    with (
        served(["trending-panel", "serve", "--port", str(port)], db.to_env(), port),
        browser_page() as page,
    ):
        page.goto(url)
        block = page.locator(".tp-stats[data-key=temperature]")
        wait_until(lambda: block.locator("tr[data-stat=samples]").count() == 1, what="stats")

        def shown(name: str) -> str:
            return block.locator(f"tr[data-stat={name}] td").text_content()

        assert shown("samples") == str(want["samples"])
        for name in ("time_weighted_mean", "mean", "min", "max", "std"):
            assert float(shown(name)) == pytest.approx(want[name], abs=0.0005), name
        assert shown("coverage") == f"{want['coverage']:.1%}"
        assert shown("time_outside_limits_s").split()[0] in (
            f"{want['time_outside_limits_s'] / 60:.1f}",
            f"{want['time_outside_limits_s']:.0f}",
        )


@pytest.mark.browser
def test_the_cursor_reads_every_variable_as_the_historian_holds_it(db, tables):
    import re

    from tests.harness.browser import browser_page, free_port, served, wait_until
    from trending_panel.core.rows import from_ms

    insert(tables, TEMP.table, plant_rows())
    insert(tables, PH.table, [(T0 + timedelta(seconds=70 * k), 7.0 + k / 100) for k in range(18)])
    port = free_port()
    url = f"http://localhost:{port}/?start={START.isoformat()}&end={END.isoformat()}"
    checked = {"value": 0, "no data": 0}
    readout = None
    with (
        served(["trending-panel", "serve", "--port", str(port)], db.to_env(), port),
        browser_page() as page,
    ):
        page.goto(url)
        wait_until(lambda: page.evaluate("() => !!(window.Bokeh && Bokeh.index)"), what="page")
        wait_until(
            lambda: page.locator(".tp-stats[data-key=temperature] tr[data-stat=samples]").count(),
            what="the window loaded",
        )
        frame = settled_frame(page, "trend-temperature")
        # (the plot's toolbar sits over the frame's right edge: pointing there leaves the plot)
        for fraction in [0.03 + 0.085 * k for k in range(11)]:
            page.mouse.move(frame["left"] + fraction * frame["width"], frame["top"] + 20)
            readout = wait_until(  # one line, everywhere, and its readout for this position
                lambda before=readout: (
                    (r := page.evaluate(READOUT_JS))
                    and all(r["shown"])
                    and len(set(r["at"])) == 1
                    and (before is None or r["at"] != before["at"])
                    and f'data-t="{r["at"][0]}"' in r["text"]  # the readout of that line
                    and r
                ),
                what="the cursor's line and readout",
            )
            t = from_ms(readout["at"][0])
            assert f'data-t="{readout["at"][0]}"' in readout["text"]
            for var in (TEMP, PH):
                shown = re.search(f'data-key="{var.key}" data-value="([^"]*)"', readout["text"])
                assert shown is not None, readout["text"]
                want = held_in_database(tables, var.table, t)
                if want is None:
                    assert shown.group(1) == "", (var.key, t, readout["text"])
                    checked["no data"] += 1
                else:
                    assert float(shown.group(1)) == pytest.approx(want, rel=1e-12), (var.key, t)
                    checked["value"] += 1
        page.mouse.move(5, 5)  # off the plots: the line goes
        wait_until(lambda: not any(page.evaluate(READOUT_JS)["shown"]), what="line hidden")
    assert checked["value"] >= 10 and checked["no data"] >= 2  # the gap was crossed


@pytest.mark.browser
def test_the_golden_batch_is_overlaid_at_the_window_start_with_its_numbers(db, tables):
    from urllib.parse import quote

    from tests.harness.browser import browser_page, free_port, served, wait_until
    from trending_panel.core.rows import to_ms

    ref_start = START - timedelta(days=1)
    reference_rows = [
        (ref_start + timedelta(seconds=30 * k), 36.8 + (k % 4) / 10) for k in range(40)
    ]
    insert(tables, TEMP.table, reference_rows + plant_rows())
    port = free_port()
    url = (f"http://localhost:{port}/?start={START.isoformat()}&end={END.isoformat()}"
           f"&ref={quote(ref_start.isoformat())}")  # fmt: skip
    with (
        served(["trending-panel", "serve", "--port", str(port)], db.to_env(), port),
        browser_page() as page,
    ):
        page.goto(url)
        wait_until(lambda: len(page.evaluate(REF_JS).get("time", [])) > 0, what="the overlay")
        overlay = page.evaluate(REF_JS)
        block = page.locator(".tp-stats[data-key=temperature]")
        wait_until(lambda: block.locator("td.tp-ref").count() > 0, what="the reference's stats")
        ref_samples = block.locator("tr[data-stat=samples] td.tp-ref").text_content()
        page.get_by_role("button", name="Last 24 h").click()
        wait_until(
            lambda: page.evaluate("() => location.search").startswith("?window=24h"),
            what="the URL to follow the window",
        )
        # The reference stays in the URL.
        assert page.evaluate("() => location.search") == "?window=24h&ref=2024-02-29T08%3A00%3A00"
    shift = timedelta(days=1)  # the window's start minus the reference's
    drawn = [
        (t, v) for t, v, s in zip(overlay["time"], overlay["value"], overlay["sample"], strict=True)
        if s == 1
    ]  # fmt: skip
    assert drawn == [(to_ms(t + shift), v) for t, v in reference_rows]
    assert overlay["label"].startswith("- - reference 2024-02-29T08:00:00 – 2024-02-29T08:20:00")
    assert ref_samples == str(len(reference_rows))


@pytest.mark.browser
def test_a_30_day_page_shows_its_statistics_without_a_full_window_query(db, tables, tmp_path):
    """A month of 30 s rows in four tables (86,400 each): once the summary is built, opening
    the 30-day page reads a few dozen rows for its statistics (the two partial buckets at the
    ends, the row before, the feed's polls), never the window's 345,600."""
    from tests.harness.browser import browser_page, free_port, served, wait_until

    per_table = 30 * 2880
    for var in VARIABLES:
        tables.execute(
            sql.SQL(
                "INSERT INTO {} SELECT %s - make_interval(secs => 30 * s),"
                " 36.9 + (s %% 17) * 0.01 FROM generate_series(0, %s) s"
            ).format(sql.Identifier(var.table)),
            (MONTH_END, per_table - 1),
        )
        tables.execute(sql.SQL("CREATE INDEX ON {} (time)").format(sql.Identifier(var.table)))
    start = MONTH_END - timedelta(days=30)
    want = reference_sql(tables, TEMP, start, MONTH_END)
    tables.execute("SELECT pg_stat_force_next_flush()")  # this backend's reads: counted now
    tables.execute("SELECT 1")
    base = rows_read(tables)
    port = free_port()
    log = tmp_path / "server.log"
    with (
        served(["trending-panel", "serve", "--port", str(port)], db.to_env(), port, log=log),
        browser_page(1366, 768) as page,
    ):
        wait_until(lambda: "summary ready" in log.read_text(), timeout=60, what="summary")
        # The build read every row once; wait until the database has counted those reads.
        wait_until(
            lambda: all(sum(n) >= sum(base[t]) + per_table for t, n in rows_read(tables).items()),
            timeout=30,
            what="the build's reads counted",
        )
        before = rows_read(tables)
        page.goto(f"http://localhost:{port}/?window=30d")
        block = page.locator(".tp-stats[data-key=temperature]")
        wait_until(
            lambda: block.locator("tr[data-stat=samples] td").count() == 1,
            timeout=30,
            what="statistics",
        )
        shown = block.locator("tr[data-stat=samples] td").text_content()
        mean = block.locator("tr[data-stat=mean] td").text_content()
    # The server has stopped: every backend it had has counted its reads.
    after = rows_read(tables)
    assert shown == f"{want['samples']:,}"
    assert float(mean) == pytest.approx(want["mean"], abs=0.0005)
    read = {t: (after[t][0] - before[t][0], after[t][1] - before[t][1]) for t in before}
    assert all(sum(n) < per_table // 50 for n in read.values()), read


@pytest.mark.browser
def test_a_live_pages_statistics_follow_new_rows(db, tables):
    """Rows inserted into a live 1-hour window are counted in its statistics as they are
    streamed (merged from the feed, not read again)."""
    from tests.harness.browser import browser_page, free_port, served, wait_until

    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [(now - timedelta(seconds=20 * k), 37.0) for k in range(1, 150)]
    insert(tables, TEMP.table, rows)
    port = free_port()
    with (
        served(["trending-panel", "serve", "--port", str(port)], db.to_env(), port),
        browser_page() as page,
    ):
        page.goto(f"http://localhost:{port}/?window=1h")
        cell = page.locator(".tp-stats[data-key=temperature] tr[data-stat=samples] td")
        wait_until(lambda: cell.count() == 1, timeout=30, what="statistics")
        first = int(cell.text_content().replace(",", ""))
        for k in range(1, 4):
            insert(tables, TEMP.table, [(datetime.now(UTC).replace(tzinfo=None), 40.0 + k)])
            wait_until(
                lambda k=k: int(cell.text_content().replace(",", "")) >= first + k,
                timeout=30,
                what=f"row {k} counted",
            )
        top = page.locator(".tp-stats[data-key=temperature] tr[data-stat=max] td")
        wait_until(lambda: float(top.text_content()) == 43.0, timeout=30, what="the new max")


FRAME_JS = """
([name]) => { const doc = Bokeh.documents[0];
  const model = doc.get_model_by_name(name); const view = Bokeh.index.find_one(model);
  const r = view.canvas_view.el.getBoundingClientRect(); const f = view.frame.bbox;
  return {left: r.left + f.x0, top: r.top + f.y0, width: f.width, height: f.height}; }
"""
READOUT_JS = """
() => { const doc = Bokeh.documents[0];
  const div = doc.get_model_by_name("cursor-readout");
  const lines = [...doc.all_models].filter(m => m.name === "cursor-line");
  return {text: div.text, at: lines.map(s => s.location), shown: lines.map(s => s.visible)}; }
"""


def held_in_database(conn, table: str, t: datetime) -> float | None:
    """What the historian holds at ``t``: the last row at or before it, unless its value is
    NULL/NaN or the interval it starts is longer than the gap limit."""
    from psycopg import sql as q

    ident = q.Identifier(table)
    row = conn.execute(
        q.SQL("SELECT time, value FROM {} WHERE time <= %s ORDER BY time DESC, value DESC"
              " LIMIT 1").format(ident), (t,),
    ).fetchone()  # fmt: skip
    if row is None or row[1] is None or math.isnan(row[1]):
        return None
    nxt = conn.execute(
        q.SQL("SELECT min(time) FROM {} WHERE time > %s").format(ident), (row[0],)
    ).fetchone()[0]
    if (nxt if nxt is not None else t) - row[0] > GAP:
        return None
    return row[1]


def settled_frame(page, name: str) -> dict:
    """The plot frame's box on the page once the page is drawn and its layout stopped moving
    (the loading veil over a page still being drawn takes the mouse's events)."""
    from tests.harness.browser import wait_rendered, wait_until

    wait_rendered(page)
    seen: list[dict] = []

    def still() -> bool:
        seen.append(page.evaluate(FRAME_JS, [name]))
        page.wait_for_timeout(250)
        return len(seen) > 1 and seen[-1] == seen[-2]

    wait_until(still, what=f"{name} laid out")
    return seen[-1]


REF_JS = """
() => { const doc = Bokeh.documents[0]; const out = {};
  for (const m of doc.all_models) {
    if (m.name === "ref-temperature") {
      const d = m.data, get = (k) => Array.from(d instanceof Map ? d.get(k) : d[k]);
      out.time = get("time"); out.value = get("value"); out.sample = get("sample"); }
    if (m.name === "ref-label-temperature") out.label = m.text;
  }
  return out; }
"""


MONTH_END = datetime(2023, 3, 1, 16, 0)
READS = (
    "SELECT relname, coalesce(seq_tup_read, 0), coalesce(idx_tup_fetch, 0)"
    " FROM pg_stat_user_tables WHERE relname = ANY(%s)"
)


def rows_read(conn) -> dict[str, tuple[int, int]]:
    """Rows read from each table so far: (by sequential scans, through indexes)."""
    conn.execute("SELECT pg_stat_clear_snapshot()")
    rows = conn.execute(READS, ([v.table for v in VARIABLES],)).fetchall()
    return {name: (seq, idx) for name, seq, idx in rows}


def reference_sql(conn, var, start, end) -> dict:
    from tests.harness.stats_reference import sql_stats

    return sql_stats(conn, var, start, end, GAP)

"""Batches in the page (issue 20), in Chromium: ``?batch=ID`` opens that batch's span, its
phases are bands across every trend (a running one growing to now), a phase written meanwhile
appears without a reload, an unknown batch is a sentence in the header, and the page passes
the visual check in both themes."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from psycopg import sql

from tests.harness import visual
from tests.harness.browser import browser_page, browser_pages, free_port, served, wait_until
from tests.harness.database import insert, scratch_database
from tests.harness.stats_reference import sql_stats
from trending_panel.core.rows import to_ms
from trending_panel.core.settings import Settings
from trending_panel.core.variables import VARIABLES

pytestmark = pytest.mark.browser
H = timedelta(hours=1)
BANDS_JS = """() => { for (const m of Bokeh.documents[0].all_models)
  if (m.name === "phase-bands") {
    const get = (k) => Array.from(m.data instanceof Map ? m.data.get(k) : m.data[k]);
    return {x0: get("x0"), x1: get("x1"), label: get("label")}; }
  return null; }"""
RANGE_JS = """() => { for (const m of Bokeh.documents[0].all_models)
  if (m.type === "Range1d" && m.name === "time-range") return [m.start, m.end];
  return null; }"""


@pytest.fixture(scope="module")
def site(admin_settings, tmp_path_factory) -> Iterator[tuple[str, object, datetime]]:
    config = tmp_path_factory.mktemp("config") / "trending.toml"
    config.write_text('[events]\ntable = "batch_events"\n', encoding="utf-8")
    with scratch_database(admin_settings, "tp_batches") as (db, conn):
        now = db.now().replace(microsecond=0)
        t0 = now - 60 * H
        for i, var in enumerate(VARIABLES):
            conn.execute(sql.SQL("CREATE TABLE {} (time timestamp, value double precision)")
                         .format(sql.Identifier(var.table)))  # fmt: skip
            insert(conn, var.table, [(t0 + timedelta(seconds=60 * k + i), 10.0 * (i + 1)
                                      + (k % 9) / 10) for k in range(3600)])  # fmt: skip
        conn.execute(
            "CREATE TABLE batch_events (start_time timestamp, end_time timestamp,"
            " batch_id text, phase text, unit text, description text)"
        )
        events = [
            (t0 + 2 * H, t0 + 4 * H, "B-001", "inoculation", None, None),
            (t0 + 4 * H, t0 + 14 * H, "B-001", "batch", None, None),
            (t0 + 14 * H, t0 + 26 * H, "B-001", "fed-batch", None, None),
            (t0 + 26 * H, t0 + 28 * H, "B-001", "harvest", None, None),
            (t0 + 40 * H, t0 + 42 * H, "B-002", "inoculation", None, None),
            (t0 + 42 * H, None, "B-002", "batch", None, None),
        ]
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO batch_events VALUES (%s, %s, %s, %s, %s, %s)", events)
        port = free_port()
        env = {**db.to_env(), "TRENDING_CONFIG": str(config)}
        with served(["trending-panel", "serve", "--port", str(port)], env, port):
            yield f"http://localhost:{port}", conn, t0


def _bands(page):
    return page.evaluate(BANDS_JS)


def test_a_batch_link_opens_its_span_with_its_phases_as_bands(site):
    base, _, t0 = site
    with browser_page(1366, 768) as page:
        page.goto(base + "/?batch=B-001")
        want = [to_ms(t0 + h * H) for h in (2, 4, 14, 26)]
        found = wait_until(
            lambda: (b := _bands(page)) and b["x0"][:4] == want and b, timeout=30,
            what="the batch's phases as bands",
        )  # fmt: skip
        assert found["x1"][:4] == [to_ms(t0 + h * H) for h in (4, 14, 26, 28)]
        assert found["label"][:4] == [f"{p} · B-001" for p in
                                      ("inoculation", "batch", "fed-batch", "harvest")]  # fmt: skip
        start, end = wait_until(lambda: page.evaluate(RANGE_JS), what="the time range")
        assert start <= to_ms(t0 + 2 * H) and end >= to_ms(t0 + 28 * H)  # the batch's span
        assert end - start < to_ms(t0 + 30 * H) - to_ms(t0)  # not the 60 h of data


def test_a_running_batch_grows_and_a_new_phase_appears_without_a_reload(site):
    base, conn, t0 = site
    with browser_page(1366, 768) as page:
        page.goto(base + "/?window=24h")
        running = wait_until(
            lambda: (b := _bands(page)) and "batch · B-002" in b["label"] and b,
            timeout=30, what="the running batch's band",
        )  # fmt: skip
        i = running["label"].index("batch · B-002")
        assert running["x1"][i] > to_ms(t0 + 59 * H)  # until now
        conn.execute("UPDATE batch_events SET end_time = %s WHERE batch_id = 'B-002'"
                     " AND phase = 'batch'", (t0 + 50 * H,))  # fmt: skip
        conn.execute("INSERT INTO batch_events VALUES (%s, NULL, 'B-002', 'fed-batch', NULL,"
                     " NULL)", (t0 + 50 * H,))  # fmt: skip
        wait_until(
            lambda: "fed-batch · B-002" in (_bands(page) or {"label": []})["label"],
            timeout=30, what="the new phase, read by the process within 5 s",
        )  # fmt: skip


def test_an_unknown_batch_is_named_and_the_default_window_shown(site):
    base, _, _ = site
    with browser_page(1366, 768) as page:
        page.goto(base + "/?batch=B-999")
        wait_until(
            lambda: "Ignored the URL's batch: no batch 'B-999'"
            in page.locator(".tp-status").inner_text(),
            timeout=30, what="the batch's problem in the header",
        )  # fmt: skip


def test_a_batch_page_passes_the_visual_check(site):
    base, _, _ = site
    failed = {}
    with browser_pages(2, 1366, 768, color_schemes=["light", "dark"]) as pages:
        for scheme, page in zip(("light", "dark"), pages, strict=True):
            page.goto(base + "/?batch=B-001")
            wait_until(lambda page=page: _bands(page), timeout=30, what="the bands")
            failed |= visual.problems_at(page, [(1366, 768), (1920, 1080)], f"batch {scheme}")
    assert failed == {}, visual.report(failed)


def test_the_csv_route_gives_a_batchs_rows_and_names_a_bad_one(site):
    base, conn, t0 = site
    with urllib.request.urlopen(f"{base}/export.csv?batch=B-001&variables=ph") as resp:
        lines = resp.read().decode().splitlines()
    want = conn.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE time BETWEEN %s AND %s")
        .format(sql.Identifier(VARIABLES[1].table)), (t0 + 2 * H, t0 + 28 * H),
    ).fetchone()[0]  # fmt: skip
    assert lines[0] == "time,ph" and len(lines) - 1 == want
    assert lines[1] >= (t0 + 2 * H).isoformat() and lines[-1] <= (t0 + 28 * H).isoformat()
    for query, says in (
        ("batch=B-999", "unknown batch 'B-999'"),
        ("batch=B-001&window=1h", "give batch or a window"),
    ):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/export.csv?{query}")
        assert refused.value.code == 400 and says in refused.value.read().decode()


def test_the_batch_picker_shows_a_batch_and_steps_to_the_next(site):
    base, _, t0 = site
    with browser_page(1366, 768) as page:
        page.goto(base + "/?window=24h")
        box = page.get_by_role("combobox", name="Batch", exact=True)
        wait_until(lambda: box.count() == 1, timeout=30, what="the batch picker")
        box.scroll_into_view_if_needed()
        box.click()
        box.fill("B-001")
        option = page.get_by_role("option")
        wait_until(lambda: option.count() == 1, what="one batch matching")
        assert option.inner_text().startswith("B-001")
        option.click()
        wait_until(
            lambda: (r := page.evaluate(RANGE_JS)) and r[0] <= to_ms(t0 + 2 * H) < r[1]
            and r[1] - r[0] < to_ms(t0 + 30 * H) - to_ms(t0), timeout=30,
            what="the first batch's span",
        )  # fmt: skip
        previous = page.get_by_role("button", name="Previous")
        assert previous.is_disabled()  # the first batch of its unit
        page.get_by_role("button", name="Next").click()
        wait_until(lambda: "(running)" in box.input_value(), what="the next, running batch")
        wait_until(
            lambda: (r := page.evaluate(RANGE_JS)) and r[0] <= to_ms(t0 + 40 * H) < r[1],
            timeout=30, what="the running batch's span",
        )  # fmt: skip
        assert page.get_by_role("button", name="Next").is_disabled()


def test_a_running_batchs_window_follows_its_live_rows(site):
    base, conn, t0 = site
    with browser_page(1366, 768) as page:
        page.goto(base + "/?batch=B-002")
        start, _ = wait_until(  # set by the first load (before it: 0 to 1)
            lambda: (r := page.evaluate(RANGE_JS)) and r[0] != 0 and r, timeout=30,
            what="the range of the first load",
        )  # fmt: skip
        assert start == to_ms(t0 + 40 * H)  # the batch's start, whatever its end
        newer = t0 + 60 * H  # after every row written so far
        for var in VARIABLES:
            insert(conn, var.table, [(newer, 1.0)])
        wait_until(
            lambda: page.evaluate(RANGE_JS)[1] >= to_ms(newer), timeout=30,
            what="the window's end following the new rows",
        )  # fmt: skip
        assert page.evaluate(RANGE_JS)[0] == start  # its start stays the batch's
        box = page.get_by_role("combobox", name="Batch", exact=True)
        assert box.input_value().startswith("B-002") and "(running)" in box.input_value()
        conn.execute("UPDATE batch_events SET end_time = %s WHERE batch_id = 'B-002'"
                     " AND end_time IS NULL", (t0 + 59 * H,))  # fmt: skip
        wait_until(
            lambda: page.evaluate(RANGE_JS) == [start, to_ms(t0 + 59 * H)], timeout=30,
            what="the window stopped at the batch's end",
        )  # fmt: skip
        assert "(running)" not in box.input_value()


def test_statistics_by_phase_give_each_phases_numbers_on_request(site):
    base, conn, t0 = site
    ph = VARIABLES[1]
    spans = [("inoculation", 2, 4), ("batch", 4, 14), ("fed-batch", 14, 26), ("harvest", 26, 28)]
    with browser_page(1366, 768) as page:
        page.goto(base + "/?batch=B-001")
        switch = page.get_by_label("Statistics by phase")
        wait_until(lambda: switch.count() == 1, timeout=30, what="the switch")
        wait_until(lambda: page.locator(f"table.tp-stats[data-key='{ph.key}'] tr").count() > 0,
                   timeout=30, what="the window's statistics")  # fmt: skip
        switch.scroll_into_view_if_needed()
        switch.check()
        rows = page.locator(f"table.tp-rows[data-key='{ph.key}'] tr[data-row]")
        wait_until(lambda: rows.count() == 4, timeout=30, what="a row per phase")
        for i, (name, a, b) in enumerate(spans):
            row = rows.nth(i)
            assert row.get_attribute("data-row") == name
            want = sql_stats(conn, ph, t0 + a * H, t0 + b * H, Settings.gap)
            cells = row.locator("td").all_inner_texts()
            digits = ph.decimals + 1
            assert cells[1:] == [f"{want[k]:.{digits}f}" for k in ("time_weighted_mean", "min",
                                                                    "max")]  # fmt: skip
        switch.uncheck()
        wait_until(lambda: rows.count() == 0, what="the window's statistics again")

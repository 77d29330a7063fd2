"""Batches compared in the page (issue 20), in Chromium: ``?compare=`` overlays batches on
an axis of hours since each one's start, each batch's first vertex at elapsed 0 holding the
value its tag held there; a pen of one unit is read, for a batch of another unit, from that
unit's same tag; ``?align=PHASE`` puts the phase's start at 0; an unknown batch is named and
the others drawn; the page passes the visual check in both themes."""

from __future__ import annotations

import csv
import io
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from psycopg import sql

from tests.harness import visual
from tests.harness.browser import browser_page, browser_pages, free_port, served, wait_until
from tests.harness.database import insert, scratch_database

pytestmark = pytest.mark.browser
H = timedelta(hours=1)
CONFIG = '[catalog]\ninclude = ["BR*/*"]\n\n[events]\ntable = "batch_events"\n'
TAGS = ("BR01/TEMP_PV", "BR02/TEMP_PV", "BR01/PH_PV", "BR02/PH_PV")
PENS = "pens=BR01%2FTEMP_PV;BR01%2FPH_PV"
#: Every overlay's source: slot, pen key, and its columns.
OVERLAYS_JS = """() => { const out = {};
  for (const m of Bokeh.documents[0].all_models)
    if (m.type === "ColumnDataSource" && m.name && m.name.startsWith("compare-")) {
      const d = m.data; const get = (k) => Array.from(d instanceof Map ? d.get(k) : d[k]);
      out[m.name.slice(8)] = {elapsed: get("elapsed"), value: get("value")}; }
  return out; }"""
LABEL_JS = """() => { for (const m of Bokeh.documents[0].all_models)
  if (m.type === "LinearAxis" && (m.axis_label || "").startsWith("Hours"))
    return m.axis_label;
  return null; }"""


def value(tag: str, t: datetime, t0: datetime) -> float:
    """Each tag's rows: its own level (BR02 100 above BR01's), plus minutes since t0."""
    base = {"BR01/TEMP_PV": 30.0, "BR02/TEMP_PV": 130.0, "BR01/PH_PV": 7.0, "BR02/PH_PV": 107.0}
    return base[tag] + (t - t0) / timedelta(minutes=1) / 1000


@pytest.fixture(scope="module")
def site(admin_settings, tmp_path_factory) -> Iterator[tuple[str, datetime]]:
    config = tmp_path_factory.mktemp("config") / "trending.toml"
    config.write_text(CONFIG, encoding="utf-8")
    with scratch_database(admin_settings, "tp_compare") as (db, conn):
        t0 = db.now().replace(microsecond=0, second=0) - 60 * H
        for tag in TAGS:
            conn.execute(sql.SQL("CREATE TABLE {} (time timestamp, value double precision)")
                         .format(sql.Identifier(tag)))  # fmt: skip
            times = [t0 + timedelta(seconds=60 * k + 7) for k in range(3600)]
            insert(conn, tag, [(t, value(tag, t, t0)) for t in times])
        conn.execute(
            "CREATE TABLE batch_events (start_time timestamp, end_time timestamp,"
            " batch_id text, phase text, unit text, description text)"
        )
        events = [
            (t0 + 2 * H, t0 + 4 * H, "B-1", "inoculation", "BR01", None),
            (t0 + 4 * H, t0 + 9 * H, "B-1", "fed-batch", "BR01", None),
            (t0 + 9 * H, t0 + 12 * H, "B-1", "harvest", "BR01", None),
            (t0 + 20 * H, t0 + 23 * H, "B-2", "inoculation", "BR02", None),
            (t0 + 23 * H, t0 + 30 * H, "B-2", "fed-batch", "BR02", None),
            (t0 + 40 * H, None, "B-3", "inoculation", "BR01", None),
        ]
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO batch_events VALUES (%s, %s, %s, %s, %s, %s)", events)
        port = free_port()
        env = {**db.to_env(), "TRENDING_CONFIG": str(config)}
        with served(["trending-panel", "serve", "--port", str(port)], env, port):
            yield f"http://localhost:{port}", t0


def held(tag: str, at: datetime, t0: datetime) -> float:
    """The value ``tag`` holds at ``at``: its last row at or before it (a row a minute, at
    :07)."""
    minutes = (at - t0 - timedelta(seconds=7)) // timedelta(minutes=1)
    last = t0 + timedelta(seconds=60 * minutes + 7)
    return value(tag, last, t0)


def _overlays(page, slots: int) -> dict | None:
    found = page.evaluate(OVERLAYS_JS)
    ready = [found.get(f"{s}-BR01/TEMP_PV", {}).get("elapsed") for s in range(slots)]
    return found if all(ready) else None


def test_batches_of_two_units_overlay_from_elapsed_zero_each_from_its_own_tags(site):
    base, t0 = site
    with browser_page(1366, 768) as page:
        page.goto(f"{base}/?compare=B-1,B-2&{PENS}")
        found = wait_until(lambda: _overlays(page, 2), timeout=45, what="both batches drawn")
        for slot, start in ((0, t0 + 2 * H), (1, t0 + 20 * H)):
            unit = "BR01" if slot == 0 else "BR02"  # B-2 ran on BR02: its own tags
            for pen in ("TEMP_PV", "PH_PV"):
                trace = found[f"{slot}-BR01/{pen}"]
                assert trace["elapsed"][0] == 0.0  # the first vertex at the batch's start
                assert trace["value"][0] == pytest.approx(held(f"{unit}/{pen}", start, t0))
                assert max(trace["elapsed"]) <= (12 * H - 2 * H) / H + 1e-9
        assert wait_until(lambda: page.evaluate(LABEL_JS), what="the axis") == (
            "Hours since batch start"
        )
        legend = page.locator(".tp-legend")
        wait_until(lambda: "B-2 · BR02" in legend.inner_text(), what="the legend")
        assert "B-1 · BR01" in legend.inner_text()
        stats = page.locator("table.tp-rows[data-key='BR01/TEMP_PV'] tr[data-row]")
        wait_until(lambda: stats.count() == 2, what="each batch's statistics")


def test_aligned_on_a_phase_each_batch_starts_at_that_phases_start(site):
    base, t0 = site
    with browser_page(1366, 768) as page:
        page.goto(f"{base}/?compare=B-1,B-2&align=fed-batch&{PENS}")
        found = wait_until(lambda: _overlays(page, 2), timeout=45, what="both batches drawn")
        for slot, start, unit in ((0, t0 + 4 * H, "BR01"), (1, t0 + 23 * H, "BR02")):
            trace = found[f"{slot}-BR01/TEMP_PV"]
            assert trace["elapsed"][0] == 0.0
            assert trace["value"][0] == pytest.approx(held(f"{unit}/TEMP_PV", start, t0))
        assert page.evaluate(LABEL_JS) == "Hours since fed-batch start"


def test_an_unknown_batch_and_a_missing_phase_are_named_and_the_rest_drawn(site):
    base, _ = site
    with browser_page(1366, 768) as page:
        page.goto(f"{base}/?compare=B-1,B-404,B-3&align=harvest&{PENS}")
        status = page.locator(".tp-status")
        wait_until(
            lambda: "no batch 'B-404'" in status.inner_text()
            and "batch B-3 has no phase 'harvest'" in status.inner_text(),
            timeout=45, what="both problems in the header",
        )  # fmt: skip
        found = wait_until(lambda: _overlays(page, 1), what="B-1 drawn")
        assert found["0-BR01/TEMP_PV"]["elapsed"][0] == 0.0
        assert found["1-BR01/TEMP_PV"]["elapsed"] == []


def test_the_picker_links_to_a_comparison(site):
    base, _ = site
    with browser_page(1366, 768) as page:
        page.goto(f"{base}/?window=24h&{PENS}")
        box = page.get_by_role("combobox", name="Compare batches (up to 8)")
        wait_until(lambda: box.count() == 1, timeout=30, what="the compare picker")
        box.scroll_into_view_if_needed()
        box.click()
        search = page.get_by_placeholder("Search...")
        for wanted in ("B-1", "B-2"):  # searched for, then ticked
            search.fill(wanted)
            choice = page.get_by_text(f"{wanted} · ")
            wait_until(lambda choice=choice: choice.count() == 1, what=f"{wanted} found")
            choice.click()
        page.keyboard.press("Escape")
        link = page.locator("a.tp-compare")
        wait_until(lambda: link.count() == 1 and "Compare 2" in link.inner_text(), what="link")
        link.click()
        wait_until(lambda: _overlays(page, 2), timeout=45, what="the comparison opened")
        assert "compare=B-1%2CB-2" in page.url and "pens=" in page.url


def test_a_comparison_passes_the_visual_check(site):
    base, _ = site
    failed = {}
    with browser_pages(2, 1366, 768, color_schemes=["light", "dark"]) as pages:
        for scheme, page in zip(("light", "dark"), pages, strict=True):
            page.goto(f"{base}/?compare=B-1,B-2,B-3&{PENS}")
            wait_until(lambda page=page: _overlays(page, 3), timeout=45, what="the overlays")
            failed |= visual.problems_at(page, [(1366, 768), (1920, 1080)], f"compare {scheme}")
    assert failed == {}, visual.report(failed)


def test_the_golden_batch_may_be_named_by_its_batch_id(site):
    base, t0 = site
    refs = """() => { const out = {};
      for (const m of Bokeh.documents[0].all_models) {
        if (m.type === "ColumnDataSource" && (m.name || "").startsWith("ref-")) {
          const d = m.data; const t = d instanceof Map ? d.get("time") : d.time;
          out[m.name] = t.length; }
        if ((m.name || "").startsWith("ref-label-")) out[m.name] = m.text; }
      return out; }"""
    with browser_page(1366, 768) as page:
        page.goto(f"{base}/?window=6h&ref=B-1&{PENS}")
        found = wait_until(
            lambda: (r := page.evaluate(refs)) and r.get("ref-BR01/TEMP_PV") and r,
            timeout=45, what="the golden batch's trace",
        )  # fmt: skip
        label = found["ref-label-BR01/TEMP_PV"]
        assert label.startswith(f"- - reference {(t0 + 2 * H).isoformat()}")
        assert "reference" not in page.locator(".tp-status").inner_text()


def test_the_comparisons_csv_link_gives_each_batchs_rows_from_its_zero(site):
    base, t0 = site
    with browser_page(1366, 768) as page:
        page.goto(f"{base}/?compare=B-1,B-2&align=fed-batch&{PENS}")
        link = page.locator("a.tp-csv")
        wait_until(lambda: link.count() == 1, timeout=45, what="the CSV link")
        href = link.get_attribute("href")
    with urllib.request.urlopen(f"{base}/{href}") as resp:
        assert 'filename="trending_compare_B-1_B-2.csv"' in resp.headers["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(resp.read().decode())))
    assert rows[0] == ["batch", "elapsed_s", "time", "BR01/TEMP_PV", "BR01/PH_PV"]
    for batch, start, end, unit in (("B-1", t0 + 4 * H, t0 + 12 * H, "BR01"),
                                    ("B-2", t0 + 23 * H, t0 + 30 * H, "BR02")):  # fmt: skip
        mine = [r for r in rows[1:] if r[0] == batch]
        assert len(mine) == (end - start) // timedelta(minutes=1)  # a row a minute, at :07
        for r in mine[:3] + mine[-3:]:
            t = datetime.fromisoformat(r[2])
            assert r[1] == str((t - start) // timedelta(seconds=1))
            assert float(r[3]) == pytest.approx(value(f"{unit}/TEMP_PV", t, t0))
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{base}/export.csv?compare=B-1,B-404")
    assert refused.value.code == 400 and "no batch 'B-404'" in refused.value.read().decode()

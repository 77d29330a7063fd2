"""A plant's tags end to end in Chromium (issue 18): 300 small tables in a catalog, a page of a
few pens, *Search tags* adding one, pens of two units on two axes, a saved display opened by
``?display=``, live rows reaching the pens shown, and the visual check of issue 17."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from urllib.parse import quote

import pytest
from psycopg import sql

from tests.harness import visual
from tests.harness.browser import (
    browser_page,
    browser_pages,
    free_port,
    read_sources,
    served,
    wait_until,
)
from tests.harness.database import create_metadata_table, create_tag_table, scratch_database

pytestmark = pytest.mark.browser
UNITS = {
    "TEMP_PV": "°C", "PH_PV": "", "DO_PV": "%", "PRES_PV": "bar", "AGIT_PV": "rpm",
    "FEED_PV": "L/h", "CO2_PV": "%", "O2_FLOW": "L/min", "LEVEL_PV": "L", "GLUC_PV": "g/L",
}  # fmt: skip
TAGS = [f"BR{r:02d}/{t}" for r in range(1, 31) for t in UNITS]  # 300 tables
CONFIG = '[catalog]\ninclude = ["BR*/*"]\nmetadata = "plant_tags"\n'
NEWEST = datetime.now().replace(microsecond=0) - timedelta(seconds=30)
FIGURES_JS = """
() => Array.from(Bokeh.documents[0].all_models).filter((m) => m.type === "Figure" && m.name &&
  m.name.startsWith("trend-")).map((m) => ({name: m.name, title: m.title.text,
  right: m.extra_y_ranges instanceof Map ? m.extra_y_ranges.size : Object.keys(
  m.extra_y_ranges || {}).length}))
"""


def pens(*trends: list[str]) -> str:
    return ";".join(",".join(quote(k, safe="") for k in t) for t in trends)


@pytest.fixture(scope="module")
def plant(admin_settings, tmp_path_factory) -> Iterator[tuple[str, object, object]]:
    folder = tmp_path_factory.mktemp("plant")
    (folder / "trending.toml").write_text(CONFIG, encoding="utf-8")
    displays = folder / "displays"
    displays.mkdir()
    with scratch_database(admin_settings, "tp_plant") as (db, conn):
        create_metadata_table(conn)
        for i, name in enumerate(TAGS):
            table = create_tag_table(conn, name)
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} SELECT %s - k * interval '1 minute', %s + (k %% 7) / 10.0"
                    " FROM generate_series(0, 59) k"
                ).format(table),
                (NEWEST, i % 10),
            )
            reactor, kind = name.split("/")
            conn.execute(
                "INSERT INTO plant_tags VALUES (%s, %s, %s, NULL, NULL, %s)",
                (name, f"{reactor} {kind.split('_')[0].lower()}", UNITS[kind],
                 f"Bioreactor {reactor[2:]}"),
            )  # fmt: skip
        port = free_port()
        env = {**db.to_env(), "TRENDING_CONFIG": str(folder / "trending.toml"),
               "TRENDING_DISPLAYS": str(displays)}  # fmt: skip
        with served(
            ["trending-panel", "serve", "--port", str(port)], env, port, log=folder / "server.log"
        ):
            yield f"http://localhost:{port}", conn, displays


def drawn(page, count: int) -> dict:
    """The page's sources once ``count`` pens hold data (else what they hold, in the error)."""
    try:
        return wait_until(
            lambda: (s := read_sources(page)) and len(s) == count
            and all(len(v["time"]) > 10 for v in s.values()) and s,
            timeout=30,
        )  # fmt: skip
    except TimeoutError:
        held = {k: len(v["time"]) for k, v in read_sources(page).items()}
        status = page.locator("body").inner_text(timeout=1000)[:600]
        raise AssertionError(f"{count} pens not drawn: {held}; header: {status}") from None


def test_the_default_page_of_300_tags_draws_8_pens_and_follows_live_rows(plant):
    base, conn, _ = plant
    with browser_page(1366, 768) as page:
        page.goto(base + "/?window=1h")
        sources = drawn(page, 8)
        assert sorted(sources) == sorted(TAGS)[:8]
        assert len(page.evaluate(FIGURES_JS)) == 8  # not 300 figures
        shown = sorted(TAGS)[0]
        conn.execute(
            sql.SQL("INSERT INTO {} VALUES (%s, 42.5)").format(sql.Identifier(shown)),
            (NEWEST + timedelta(seconds=5),),
        )
        wait_until(lambda: 42.5 in read_sources(page)[shown]["value"], what="a live row")


def test_search_tags_adds_a_pen_and_two_units_share_a_trend_on_two_axes(plant):
    base, _, _ = plant
    with browser_page(1366, 768) as page:
        page.goto(base + "/?window=1h&pens=" + pens(["BR03/TEMP_PV", "BR03/DO_PV"]))
        drawn(page, 2)
        figures = page.evaluate(FIGURES_JS)
        assert [(f["title"], f["right"]) for f in figures] == [("BR03 temp · BR03 do", 1)]
        page.get_by_label("Search tags").fill("br17/gl")
        link = page.locator("a.tp-key", has_text="BR17/GLUC_PV")
        link.wait_for(timeout=10_000)
        assert "1 match" in page.locator(".tp-count").first.inner_text()
        link.click()
        wait_until(lambda: "BR17%2FGLUC_PV" in page.evaluate("location.search"), what="new URL")
        sources = drawn(page, 3)
        assert "BR17/GLUC_PV" in sources
        assert len(page.evaluate(FIGURES_JS)) == 2  # its own trend


def test_a_saved_display_opens_by_name(plant):
    base, _, displays = plant
    with browser_page(1366, 768) as page:
        page.goto(base + "/?window=1h&pens=" + pens(["BR05/PH_PV"], ["BR06/PH_PV"]))
        drawn(page, 2)
        page.get_by_label("Display name").fill("ph-watch")
        page.get_by_role("button", name="Save display").click()
        page.get_by_text("Saved ph-watch.toml").wait_for(timeout=10_000)
        assert 'pens = ["BR05/PH_PV"]' in (displays / "ph-watch.toml").read_text()
        page.goto(base + "/?display=ph-watch")
        assert sorted(drawn(page, 2)) == ["BR05/PH_PV", "BR06/PH_PV"]
        page.get_by_text("ph-watch (shown)").wait_for(timeout=10_000)


def test_the_plant_page_passes_the_visual_check(plant):
    base, _, _ = plant
    view = "/?window=1h&pens=" + pens(["BR02/TEMP_PV", "BR02/DO_PV"], ["BR02/PH_PV"])
    failed = {}
    with browser_pages(2, *visual.SIZES[0], color_schemes=["light", "dark"]) as pages:
        for scheme, page in zip(("light", "dark"), pages, strict=True):
            page.goto(base + view)
            drawn(page, 3)
            page.get_by_label("Search tags").fill("BR2")
            page.locator("a.tp-key").first.wait_for(timeout=10_000)
            failed |= visual.problems_at(page, visual.SIZES, f"plant {scheme}")
    assert failed == {}, visual.report(failed)


RANGES_JS = """
() => Array.from(Bokeh.documents[0].all_models).filter((m) => m.type === "Figure" && m.name &&
  m.name.startsWith("trend-")).map((m) => [m.name, m.y_range.start, m.y_range.end])
"""
COLOURS_JS = """
() => Object.fromEntries(Array.from(Bokeh.documents[0].all_models).filter((m) =>
  m.type === "GlyphRenderer" && m.name && m.name.startsWith("line-")).map((m) =>
  [m.name.slice(5), m.glyph.line_color.value ?? m.glyph.line_color]))
"""


def test_a_trend_gets_a_typed_y_range_and_a_pen_a_picked_colour(plant):
    base, _, _ = plant
    with browser_page(1366, 768) as page:
        page.goto(base + "/?window=1h&pens=" + pens(["BR08/TEMP_PV"], ["BR08/DO_PV"]))
        drawn(page, 2)
        page.get_by_label("Trend 2 minimum").fill("-5")
        page.get_by_label("Trend 2 maximum").fill("25")
        page.get_by_label("Trend 2 minimum").press("Enter")
        wait_until(lambda: "y2max=25" in page.evaluate("location.search"), what="the range URL")
        drawn(page, 2)
        ranges = dict((n, (lo, hi)) for n, lo, hi in page.evaluate(RANGES_JS))
        assert ranges["trend-BR08/DO_PV"] == (-5, 25)
        assert page.get_by_label("Trend 2 minimum").input_value() == "-5"  # shown as set
        page.get_by_label("Colour of BR08/TEMP_PV").fill("#00aa44")
        page.get_by_role("button", name="Set colours").click()
        wait_until(lambda: "colors=" in page.evaluate("location.search"), what="the colour URL")
        drawn(page, 2)
        assert page.evaluate(COLOURS_JS)["BR08/TEMP_PV"] == "#00aa44"
        ranges = dict((n, (lo, hi)) for n, lo, hi in page.evaluate(RANGES_JS))
        assert ranges["trend-BR08/DO_PV"] == (-5, 25)  # the range kept

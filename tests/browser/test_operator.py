"""What an operator expects, end to end in Chromium: configured variables (a fifth table from
``TRENDING_CONFIG``), alarm limits drawn as bands and a value card in alarm colour."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from psycopg import sql

from tests.harness import visual
from tests.harness.browser import (
    browser_page,
    browser_pages,
    contrast,
    free_port,
    read_sources,
    served,
    wait_until,
)
from tests.harness.database import insert, scratch_database

pytestmark = pytest.mark.browser
NEWEST = datetime(2024, 5, 1, 12, 0)
CONFIG = """
[[variables]]
table = "CM_HAM_DO_AI1/Temp_value"
label = "Temperature"
unit = "°C"
key = "temperature"
low = 36.5
high = 37.5

[[variables]]
table = "CM_HAM_PH_AI1/pH_value"
label = "pH"
key = "ph"
decimals = 3
low = 6.9
high = 7.4

[[variables]]
table = "CM_PID_DO/Process_DO"
label = "Dissolved oxygen"
unit = "%"
key = "dissolved_oxygen"

[[variables]]
table = "CM_PRESSURE/Output"
label = "Pressure"
unit = "psi"
key = "pressure"

[[variables]]
table = "CM_FEED/Glucose"
label = "Glucose"
unit = "g/L"
low = 2
high = 6
"""
TABLES = ["CM_HAM_DO_AI1/Temp_value", "CM_HAM_PH_AI1/pH_value", "CM_PID_DO/Process_DO",
          "CM_PRESSURE/Output", "CM_FEED/Glucose"]  # fmt: skip
MODELS_JS = """
() => { const out = {figures: [], limits: {}};
  for (const m of Bokeh.documents[0].all_models) {
    if (m.type === "Figure" && m.name.startsWith("trend-")) out.figures.push(m.title.text);
    if (m.name && m.name.startsWith("limit-") && m.type === "BoxAnnotation")
      out.limits[m.name] = m.name.includes("-high-") ? m.bottom : m.top;
  }
  return out; }
"""


@pytest.fixture(scope="module")
def configured(admin_settings, tmp_path_factory) -> Iterator[tuple[str, object]]:
    config = tmp_path_factory.mktemp("config") / "trending.toml"
    config.write_text(CONFIG, encoding="utf-8")
    with scratch_database(admin_settings, "tp_ops") as (db, conn):
        for i, table in enumerate(TABLES):
            conn.execute(
                sql.SQL("CREATE TABLE {} (time timestamp, value double precision)").format(
                    sql.Identifier(table)
                )
            )
            base = 3.0 if table == "CM_FEED/Glucose" else 3.0 + i
            rows = [
                (NEWEST - timedelta(seconds=20 * k + i), base + (k % 5) / 10) for k in range(180)
            ]
            insert(conn, table, rows)
        # The newest temperature is above its high limit; glucose (3-3.4 g/L) is within.
        conn.execute(
            sql.SQL("UPDATE {} SET value = 37.2 WHERE time < %s").format(sql.Identifier(TABLES[0])),
            (NEWEST,),
        )
        insert(conn, TABLES[0], [(NEWEST + timedelta(seconds=1), 38.25)])
        port = free_port()
        env = {**db.to_env(), "TRENDING_CONFIG": str(config)}
        with served(["trending-panel", "serve", "--port", str(port)], env, port):
            yield f"http://localhost:{port}", conn


def test_a_fifth_table_from_the_config_file_is_plotted_and_exported(configured):
    base, _ = configured
    with browser_page() as page:
        page.goto(base + "/?window=1h")
        wait_until(
            lambda: (
                len(read_sources(page)) == 5
                and all(len(s["time"]) > 10 for s in read_sources(page).values())
            ),
            timeout=30,
            what="five plots with data",
        )
        models = page.evaluate(MODELS_JS)
        assert "Glucose (g/L)" in models["figures"] and len(models["figures"]) == 5
        glucose = page.locator(".tp-card[data-key=glucose]")
        # (the header is rewritten as ages tick: read it when drawn)
        wait_until(lambda: glucose.locator(".tp-unit").inner_text() == "g/L", what="its unit")
    with urllib.request.urlopen(base + "/export.csv?window=1h&variables=temperature,glucose") as r:
        lines = r.read().decode().splitlines()
    assert lines[0] == "time,temperature [°C],glucose [g/L]"
    glucose_rows = [line for line in lines[1:] if line.split(",")[2]]
    assert len(glucose_rows) == 180


def test_limits_are_bands_and_a_value_beyond_them_is_an_alarm(configured):
    base, _ = configured
    with browser_page() as page:
        page.goto(base + "/?window=1h")
        wait_until(lambda: page.locator(".tp-card").count() == 5, what="five cards")
        models = page.evaluate(MODELS_JS)
        assert models["limits"] == {
            "limit-low-temperature": 36.5, "limit-high-temperature": 37.5,
            "limit-low-ph": 6.9, "limit-high-ph": 7.4,
            "limit-low-glucose": 2.0, "limit-high-glucose": 6.0,
        }  # fmt: skip
        temperature = page.locator(".tp-card[data-key=temperature]")
        wait_until(lambda: "tp-alarm" in temperature.get_attribute("class"), what="alarm")
        assert "above high limit 37.50" in temperature.inner_text()
        assert "38.25" in temperature.inner_text()
        normal = page.locator(".tp-card[data-key=glucose]").evaluate(
            "e => getComputedStyle(e).backgroundColor"
        )
        assert temperature.evaluate("e => getComputedStyle(e).backgroundColor") != normal
        # The alarm's number, in the theme's error colour on its tinted card, still reads
        # (22 px bold: WCAG's 3:1 for large text).
        assert contrast(temperature.locator(".tp-number")) >= 3.0
        glucose = page.locator(".tp-card[data-key=glucose]")
        assert "tp-alarm" not in glucose.get_attribute("class")


def test_five_trends_fit_a_laptop_screen_and_pass_the_visual_check(configured):
    """Five trends (one in alarm) on a laptop, light and dark; and issue 17's visual check
    of that view on a laptop and a full-HD screen."""
    from tests.harness.browser import plot_boxes
    from tests.harness.screenshot import LAPTOP, wait_for_data

    base, _ = configured
    width, height = LAPTOP
    failed = {}
    with browser_pages(2, width, height, color_schemes=["light", "dark"]) as pages:
        for scheme, page in zip(("light", "dark"), pages, strict=True):
            page.goto(base + "/?window=1h")
            wait_for_data(page, count=5)
            card = page.locator(".tp-card[data-key=temperature]")
            wait_until(lambda: "tp-alarm" in card.get_attribute("class"), what="alarm")  # noqa: B023
            boxes = plot_boxes(page)
            trends = {name: b for name, b in boxes.items() if name.startswith("trend-")}
            assert len(trends) == 5
            for name, b in {**trends, "time-axis": boxes["time-axis"]}.items():
                assert b["top"] >= 0 and b["bottom"] <= height + 0.5, name
                assert b["left"] >= 0 and b["right"] <= width + 0.5, name
            failed |= visual.problems_at(page, visual.SIZES, f"five trends, alarm, {scheme}")
    assert failed == {}, visual.report(failed)

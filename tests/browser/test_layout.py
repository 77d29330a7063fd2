"""One screen, light and dark: the served page in Chromium at real screen sizes.

The page runs as a new user would start it (``trending-panel demo``: a private PostgreSQL with
simulated history and a live writer). The light and dark pictures in the README are taken here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.harness import visual
from tests.harness.browser import (
    browser_page,
    browser_pages,
    free_port,
    plot_boxes,
    served,
    theme,
    wait_until,
)
from tests.harness.screenshot import LAPTOP, capture, wait_for_data
from trending_panel.core.variables import VARIABLES
from trending_panel.web.views import MIN_TREND_HEIGHT

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs"
TRENDS = {f"trend-{v.key}" for v in VARIABLES}
FULL_HD = (1920, 1080)


@pytest.fixture(scope="module")
def demo() -> Iterator[str]:
    port = free_port()
    cmd = ["trending-panel", "demo", "--port", str(port), "--backfill", "1d"]
    with served(cmd, {}, port, timeout=120):
        yield f"http://localhost:{port}"


def on_screen(boxes: dict, width: int, height: int) -> list[str]:
    """The plots whose box is not wholly inside the viewport."""
    return [
        name
        for name, b in boxes.items()
        if b["top"] < 0 or b["left"] < 0 or b["bottom"] > height + 0.5 or b["right"] > width + 0.5
    ]


@pytest.mark.parametrize(
    "size", [LAPTOP, (1920, 1080), (3840, 2160)], ids=["laptop", "full-hd", "4k"]
)
def test_every_trend_is_on_one_screen(demo, size):
    width, height = size
    with browser_page(width, height) as page:
        page.goto(demo + "/?window=6h")
        wait_for_data(page)
        boxes = plot_boxes(page)
        scrolls = page.evaluate("() => document.documentElement.scrollHeight > innerHeight")
        status = page.locator(".tp-status")
        wait_until(lambda: "Live" in status.inner_text(), what="the status line")
        # The header is rewritten as the ages tick: measure an element still in the page
        # (one replaced between finding and measuring reads 0 px, NaN).
        box = wait_until(
            lambda: status.evaluate(
                """e => { if (!e.isConnected) return null; const s = getComputedStyle(e);
                          const line = parseFloat(s.lineHeight) || 1.2 * parseFloat(s.fontSize);
                          return {height: e.getBoundingClientRect().height, line,
                                  text: e.innerText}; }"""
            ),
            what="the status line in the page",
        )
        status_text = box["text"]
    # What the header says fits one line (the particulars are in tooltips).
    assert box["height"] < 1.6 * box["line"], f"{status_text!r} takes {box}"
    assert set(boxes) >= TRENDS and "time-axis" in boxes
    assert on_screen(boxes, width, height) == []
    assert not scrolls
    trends = [boxes[name]["height"] for name in TRENDS]
    # they share the height that is left, equally, and use it: more screen, taller trends
    assert max(trends) - min(trends) < 2
    assert min(trends) >= MIN_TREND_HEIGHT
    below = max(boxes[name]["bottom"] for name in TRENDS)
    assert boxes["time-axis"]["top"] >= below - 0.5
    if height >= 2160:
        assert min(trends) > 400


def test_the_page_follows_the_browsers_scheme_and_switches(demo):
    seen = {}
    for scheme in ("light", "dark"):
        with browser_page(*LAPTOP, color_scheme=scheme) as page:
            page.goto(demo + "/?window=6h")
            wait_for_data(page)
            seen[scheme] = theme(page)
            if scheme == "dark":  # the viewer switches back with the page's toggle
                page.get_by_role("button", name="Toggle theme").click()
                light = seen["light"]["plot_background"]
                seen["switched"] = wait_until(  # the page, then its plots
                    lambda page=page, light=light: (
                        (t := theme(page)) and not t["dark"] and t["plot_background"] == light and t
                    ),
                    what="the page and its plots switched to light",
                )
    assert seen["light"]["dark"] is False and seen["dark"]["dark"] is True
    assert seen["switched"] == seen["light"]
    # the plots are themed with the page
    assert seen["light"]["plot_background"] != seen["dark"]["plot_background"]
    # a link can fix the theme (Panel's ?theme=), whatever the browser prefers
    with browser_page(*LAPTOP, color_scheme="light") as page:
        page.goto(demo + "/?window=6h&theme=dark")
        wait_for_data(page)
        assert theme(page) == seen["dark"]


def test_the_readme_pictures_are_the_page_light_and_dark(demo):
    shots = capture(demo + "/?window=6h", DOCS)
    assert set(shots) == {"light", "dark"}
    for path in shots.values():
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    readme = (DOCS.parent / "README.md").read_text()
    assert "docs/screenshot-light.png" in readme and "docs/screenshot-dark.png" in readme


def _views() -> dict[str, str]:
    reference = (datetime.now(UTC) - timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M:%S")
    return {
        "live": "/?window=6h",
        "golden batch": f"/?window=1h&ref={reference}",
        "every row reduced": "/?window=all",
    }


@pytest.mark.parametrize("view", ["live", "golden batch", "every row reduced"])
def test_what_a_person_sees_passes_the_visual_check(demo, view):
    """Issue 17's visual check (tests/harness/visual.py), light and dark, on a laptop and a
    full-HD screen: contrast, nothing clipped or covered, controls inside their panel, no busy
    veil once the data are drawn."""
    failed = {}
    with browser_pages(2, *LAPTOP, color_schemes=["light", "dark"]) as pages:
        for scheme, page in zip(("light", "dark"), pages, strict=True):
            page.goto(demo + _views()[view])
            wait_for_data(page)
            failed |= visual.problems_at(page, [LAPTOP, FULL_HD], f"{view} {scheme}")
    assert failed == {}, visual.report(failed)


BANDS_JS = """() => { for (const m of Bokeh.documents[0].all_models)
  if (m.name === "phase-bands") return (m.data instanceof Map ? m.data.get("label")
                                                               : m.data.label).length;
  return null; }"""


def test_the_demo_shows_its_bioreactors_batches(demo):
    """``make demo`` writes each bioreactor's batches and serves them: bands and a picker."""
    with browser_page(*LAPTOP) as page:
        page.goto(demo + "/?window=24h")
        wait_for_data(page)
        wait_until(lambda: page.evaluate(BANDS_JS), timeout=30, what="the batches' bands")
        wait_until(  # the sidebar's picker is drawn after the trends
            lambda: page.get_by_role("combobox", name="Batch", exact=True).count() == 1,
            what="the batch picker",
        )


AGES_JS = """() => {
  const sent = {};  // data-t → the age the server last wrote there (its models' texts)
  for (const m of Bokeh.documents[0].all_models)
    if ((m.css_classes ?? []).includes("tp-aged"))
      for (const [, t, age] of m.text.matchAll(/data-t=&quot;(\\d+)&quot;&gt;([^&]*)&lt;/g))
        sent[t] = age;
  const shown = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll(".tp-age[data-t]"))
      shown.push({t: Number(el.dataset.t), text: el.textContent, sent: sent[el.dataset.t]});
    for (const el of root.querySelectorAll("*")) if (el.shadowRoot) walk(el.shadowRoot);
  };
  walk(document);
  return {now: Date.now(), shown};
}"""


def _seconds(text: str | None) -> float | None:
    m = re.fullmatch(r"(\d+) s ago", text or "")
    return float(m.group(1)) if m else None


def test_the_cards_ages_count_on_in_the_page_between_the_servers_texts(demo):
    """The server sends the header when a value changes, not each second for its ages: the
    page counts them on (web/ages.js), and counts right (the demo's clock is the page's)."""
    with browser_page(*LAPTOP) as page:
        page.goto(demo + "/?window=6h")
        wait_for_data(page)

        def counted_on() -> list:
            ages = page.evaluate(AGES_JS)
            return [
                (a, ages["now"])
                for a in ages["shown"]
                if (s := _seconds(a["text"])) is not None
                and (sent := _seconds(a["sent"])) is not None
                and s > sent
            ]

        found = wait_until(counted_on, timeout=30, what="an age counted on by the page")
        for age, now in found:
            assert abs(_seconds(age["text"]) - (now - age["t"]) / 1000) <= 2, age

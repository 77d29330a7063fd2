"""``make bench-page-build``: the server's cost of building one page, with Bokeh's and Panel's
own lookups and with ``web/bokeh_speed.py``'s and ``web/panel_speed.py``'s, in one run
(interleaved, 40 pages each); then how long a served page's opening holds the server's event
loop at once.

A page here is what ``trending-panel serve`` makes for a tab: ``Dashboard(...).page()``, its
Bokeh models made in a document and serialised as the first pull sends them (the spec's four
tables, a private PostgreSQL; no window is loaded: the build alone), then, apart, its sidebar,
which the server adds once the browser has drawn the page. Built here in one piece, as a
tab's ``GET /`` built it before the trends came a part per turn of the loop: the baseline.

Served: ``trending-panel demo`` under :mod:`benchmarks.loop_probe`, one live *Last 6 h* page in
Chromium, then pages opened one after the other, each closed 2 s after its data: the spec's
four trends, and eight trends of a bioreactor's pens (``?pens=``), 8 of each after one of each
not counted. Per page, from navigation to 2 s after its data: the longest turn of the loop
(anything's: the page's build, its pull, the live page's ticks, a collection) and its
``GET /``. The baseline: the page built in one piece, as a ``GET /`` built it before.

Prints the medians and the ratios; writes them to ``benchmarks/results.json`` under
``page_build``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from bokeh.core.serialization import Serializer
from bokeh.document import Document
from panel.io.resources import Resources, bundle_resources
from panel.io.state import set_curdoc, state

from benchmarks import loop_probe, users
from benchmarks.common import commit, private_postgres, record, say
from tests.harness.browser import free_port, served
from tests.harness.database import create_tables
from trending_panel.web import bokeh_speed, panel_speed
from trending_panel.web.dashboard import Dashboard

PAGES = 40
ROOT = "http://localhost:8888/"
SERVED_PAGES = 8
AFTER_DATA_S = 2.0
#: Eight trends of one pen each: a bioreactor of the demo's plant.
EIGHT = [quote(f"BR02/{tag}", safe="") for tag in ("TEMP_PV", "PH_PV", "DO_PV", "AGIT_PV",
         "PRES_PV", "AIR_FLOW", "CO2_OUT", "LEVEL_PV")]  # fmt: skip


def build_one(settings) -> tuple[float, float, float]:
    """The page as the tab's ``GET /`` builds it, then its sidebar as Panel's ``onload`` adds
    it once the browser has drawn the page (each: models made and serialised); and the list
    of resources of the page's HTML, as the ``GET /`` answering makes it."""
    doc = Document()
    state._loaded[doc] = False  # as a served session's, until the browser has drawn it
    with set_curdoc(doc):
        began = time.perf_counter()
        root = Dashboard(settings, export_url="export.csv", autostart=False).page().get_root(doc)
        doc.add_root(root)
        doc.to_json()
        page = time.perf_counter() - began
        began = time.perf_counter()
        state._on_load(doc)  # what the browser's DocumentReady runs
        sidebar = next((m for m in doc.models if m.name == "sidebar"), None)
        if sidebar is not None:  # (a page of before the sidebar came once drawn: none)
            Serializer().encode(sidebar)  # the new models, as the patch adding them holds them
        sidebar_s = time.perf_counter() - began
        began = time.perf_counter()
        bundle_resources(doc.roots, Resources(mode="server", absolute=True, root_url=ROOT))
        return page, sidebar_s, time.perf_counter() - began


async def run(settings) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {
        "bokeh": [], "faster": [], "sidebar": [], "panel_resources": [], "resources": [],
    }  # fmt: skip
    for _ in range(3):  # warm: imports, caches
        build_one(settings)
    for _ in range(PAGES):
        for kind in ("bokeh", "faster"):
            for speed in (bokeh_speed, panel_speed):
                speed.restore() if kind == "bokeh" else speed.apply()
            page, sidebar, resources = build_one(settings)
            times[kind].append(page)
            times["panel_resources" if kind == "bokeh" else "resources"].append(resources)
            if kind == "faster":
                times["sidebar"].append(sidebar)
    bokeh_speed.apply()
    panel_speed.apply()
    return times


def served_pages(tmp: Path, src: str | None) -> tuple[dict[str, list[dict]], list[float]]:
    """Per page opened beside a live one, for each kind of page (the spec's four trends, and
    eight trends of a bioreactor's pens): the longest turn of the server's loop from its
    navigation to 2 s after its data, its ``GET /`` and its first data (ms); and how long each
    full collection of the garbage collector took (ms) while they opened."""
    port, probe = free_port(), tmp / "loop.jsonl"
    cmd = [sys.executable, "-m", "benchmarks.loop_probe", str(probe), "demo", "--port",
           str(port), "--backfill", "1d"]  # fmt: skip
    base = f"http://localhost:{port}/?window=6h"
    kinds = {"four": (base, 4), "eight": (base + "&pens=" + ";".join(EIGHT), 8)}
    pages: dict[str, list[dict]] = {kind: [] for kind in kinds}
    env = {"PYTHONPATH": src} if src else {}
    with served(cmd, env, port, timeout=120), users.chromium() as browser:
        users.page_times(users.new_page(browser), base)  # the live page, left open
        since = time.time()  # (the server's start, its first collections, not counted)
        for n in range(SERVED_PAGES + 1):
            for kind, (url, trends) in kinds.items():
                page = users.new_page(browser)
                began = time.time()
                got = users.page_times(page, url, stats=trends)
                after = began + got["data_ms"] / 1000 + AFTER_DATA_S
                # the page's first seconds, its ticks included
                page.wait_for_timeout(max(0.0, after - time.time()) * 1000)
                page.context.close()
                noted = loop_probe.read(str(probe), began, after)
                if n:  # (the first: the browser's and the server's caches)
                    held = max(noted["held"], default=0.0)
                    row = {"longest_ms": held, "get_ms": noted["get"][0], "data_ms": got["data_ms"]}
                    pages[kind].append(row)
                    say(f"  {kind} trends, page {n}: {pages[kind][-1]}")
    collections = loop_probe.read(str(probe), since)["gc"]
    say(f"  full collections while the pages opened: {len(collections)}, the longest "
        f"{max(collections, default=0):.0f} ms")  # fmt: skip
    return pages, collections


def served_summary(src: str | None = None) -> dict:
    """The served part (of the code in ``src``, else this checkout's), printed; what
    ``page_build`` records of it."""
    with tempfile.TemporaryDirectory() as tmp:
        pages, collections = served_pages(Path(tmp), src)
    served = {"full_collections": len(collections),
              "longest_full_collection_ms": max(collections, default=0.0)}  # fmt: skip
    for kind, got in pages.items():
        longest = statistics.median(p["longest_ms"] for p in got)
        worst = max(p["longest_ms"] for p in got)
        get = statistics.median(p["get_ms"] for p in got)
        data = statistics.median(p["data_ms"] for p in got)
        say(f"served, {kind} trends beside a live page: the longest turn of the loop while a "
            f"page opens {longest:.0f} ms (median; worst {worst:.0f} ms); its GET / {get:.0f} "
            f"ms; its first data {data:.0f} ms")  # fmt: skip
        served[kind] = {"pages": got, "median_longest_ms": round(longest, 1),
                        "worst_longest_ms": round(worst, 1), "median_get_ms": round(get, 1),
                        "median_data_ms": round(data, 1)}  # fmt: skip
    return served


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--served-only", action="store_true",
                        help="only the served part, recording nothing")  # fmt: skip
    parser.add_argument("--src", help="the served part: serve another checkout's code "
                        "(its src folder), e.g. the commit before a change")  # fmt: skip
    args = parser.parse_args()
    if args.src and not args.served_only:
        parser.error("--src serves another checkout's code: only with --served-only")
    if args.served_only:
        served_summary(args.src)
        return
    import psycopg

    with tempfile.TemporaryDirectory() as tmp, private_postgres(Path(tmp)) as settings:
        with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
            create_tables(conn)
        times = asyncio.run(run(settings))
    own, fast = statistics.median(times["bokeh"]), statistics.median(times["faster"])
    side = statistics.median(times["sidebar"])
    res_own = statistics.median(times["panel_resources"])
    res = statistics.median(times["resources"])
    say(f"a page's build and first serialisation: Bokeh's lookups {own * 1000:.0f} ms, "
        f"bokeh_speed's {fast * 1000:.0f} ms ({own / fast:.2f}x); its sidebar, added once "
        f"the page is drawn: {side * 1000:.0f} ms; its HTML's resources: Panel's lookups "
        f"{res_own * 1000:.1f} ms, remembered {res * 1000:.1f} ms "
        f"({res_own / res:.2f}x)")  # fmt: skip
    served = served_summary()
    record("page_build", {
        "pages": PAGES, "bokeh_ms": round(own * 1000, 1), "faster_ms": round(fast * 1000, 1),
        "ratio": round(own / fast, 2), "sidebar_ms": round(side * 1000, 1),
        "resources_panel_ms": round(res_own * 1000, 1), "resources_ms": round(res * 1000, 1),
        "served": served,
        "date": time.strftime("%Y-%m-%d"), "python": sys.version.split()[0],
        "commit": commit(),
    })  # fmt: skip


if __name__ == "__main__":
    main()

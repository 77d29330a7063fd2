"""``make bench-page-build``: the server's cost of building one page, with Bokeh's own property
lookups and with ``web/bokeh_speed.py``'s, in one run (interleaved, 40 pages each).

A page here is what ``trending-panel serve`` makes for a tab: ``Dashboard(...).page()``, its
Bokeh models made in a document and serialised as the first pull sends them (the spec's four
tables, a private PostgreSQL; no window is loaded: the build alone), then, apart, its sidebar,
which the server adds once the browser has drawn the page. Prints the medians and the ratio;
writes them to ``benchmarks/results.json`` under ``page_build``.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bokeh.core.serialization import Serializer
from bokeh.document import Document
from panel.io.state import set_curdoc, state

from benchmarks.common import commit, private_postgres, record, say
from tests.harness.database import create_tables
from trending_panel.web import bokeh_speed
from trending_panel.web.dashboard import Dashboard

PAGES = 40


def build_one(settings) -> tuple[float, float]:
    """The page as the tab's ``GET /`` builds it, then its sidebar as Panel's ``onload`` adds
    it once the browser has drawn the page (each: models made and serialised)."""
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
        return page, time.perf_counter() - began


async def run(settings) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"bokeh": [], "faster": [], "sidebar": []}
    for _ in range(3):  # warm: imports, caches
        build_one(settings)
    for _ in range(PAGES):
        for kind in ("bokeh", "faster"):
            bokeh_speed.restore() if kind == "bokeh" else bokeh_speed.apply()
            page, sidebar = build_one(settings)
            times[kind].append(page)
            if kind == "faster":
                times["sidebar"].append(sidebar)
    bokeh_speed.apply()
    return times


def main() -> None:
    import psycopg

    with tempfile.TemporaryDirectory() as tmp, private_postgres(Path(tmp)) as settings:
        with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
            create_tables(conn)
        times = asyncio.run(run(settings))
    own, fast = statistics.median(times["bokeh"]), statistics.median(times["faster"])
    side = statistics.median(times["sidebar"])
    say(f"a page's build and first serialisation: Bokeh's lookups {own * 1000:.0f} ms, "
        f"bokeh_speed's {fast * 1000:.0f} ms ({own / fast:.2f}x); its sidebar, added once "
        f"the page is drawn: {side * 1000:.0f} ms")  # fmt: skip
    record("page_build", {
        "pages": PAGES, "bokeh_ms": round(own * 1000, 1), "faster_ms": round(fast * 1000, 1),
        "ratio": round(own / fast, 2), "sidebar_ms": round(side * 1000, 1),
        "date": time.strftime("%Y-%m-%d"), "python": sys.version.split()[0],
        "commit": commit(),
    })  # fmt: skip


if __name__ == "__main__":
    main()

"""``make bench-first-second``: the first seconds of a page, as issue 17 measures them.

Against ``trending-panel demo`` (a live writer logging a row a second into each table),
Chromium at 1366 x 768 opens *Last 6 h* five times. In the page, a ``PerformanceObserver``
records long tasks (main-thread work over 50 ms) from navigation, and a light poller notes
when every trend first has data and when each new row arrives. Printed and written to
``benchmarks/results.json`` under ``first_second`` (medians over the loads):

- long tasks before the first data, and in the 3 s after it (the goal: at most 300 ms);
- for the rows written from 0.5 s to 3 s after the first data, the slowest one's time from
  its timestamp to the page (the goal: at most 1 s);
- how long after the first data the page's busy bar, and the template's loading veil
  (``#loader``, over the whole page until Bokeh has drawn every view), were still drawn, and
  when the page was drawn (Bokeh's document idle): the data reach the page's models before
  it has drawn itself, and nobody sees them under the veil; and when the sidebar's widgets,
  which come once the page is drawn, were drawn too.
"""

from __future__ import annotations

import statistics
import sys
from datetime import datetime

from benchmarks.common import record
from tests.harness.browser import browser_page, free_port, served, wait_until

LOADS = 5
WATCH = """
window.__long = [];
new PerformanceObserver(l => { for (const e of l.getEntries())
  window.__long.push([e.startTime, e.duration]); }).observe({type: "longtask", buffered: true});
window.__rows = [];  // [row time (epoch ms), arrival (epoch ms)]
window.__data_at = null;
window.__busy_seen = [];  // [performance.now(), the page's busy bar drawn]
window.__veil_seen = [];  // [performance.now(), the loading veil drawn]
window.__idle_at = null;  // the document idle (every view drawn) with data in every trend
window.__sidebar_at = null;  // the sidebar's widgets drawn too (they come once the page is)
const last = {};
setInterval(() => {
  const docs = (window.Bokeh && window.Bokeh.documents) || [];
  if (!docs.length) return;
  let full = 0, n = 0;
  for (const m of docs[0].all_models) {
    if (m.type !== "ColumnDataSource" || !m.name || !m.name.startsWith("source-")) continue;
    n += 1;
    const t = m.data instanceof Map ? m.data.get("time") : m.data.time;
    if (t.length > 10) full += 1;
    const newest = t.length ? t[t.length - 1] : null;
    if (newest !== null && last[m.name] !== undefined && newest > last[m.name])
      window.__rows.push([newest, Date.now()]);
    last[m.name] = newest;
  }
  if (window.__data_at === null && n === 4 && full === 4) window.__data_at = performance.now();
  if (window.__data_at !== null && window.__idle_at === null && docs[0].is_idle)
    window.__idle_at = performance.now();
  if (window.__idle_at !== null && window.__sidebar_at === null && Bokeh.index.roots.every(
      v => v.is_idle) && [...docs[0].all_models].some(m => m.name === "sidebar" &&
      m.children.length > 0))
    window.__sidebar_at = performance.now();
  const veil = document.getElementById("loader");
  if (veil) window.__veil_seen.push([performance.now(), getComputedStyle(veil).display !== "none"]);
  if (!window.__bar)  // found once (a walk of the page), then only its visibility is read
    window.__bar = [...document.querySelectorAll("*")].map(e => e.shadowRoot).filter(Boolean)
      .map(r => r.querySelector(".MuiLinearProgress-root")).find(Boolean) || null;
  if (window.__bar)
    window.__busy_seen.push([performance.now(), window.__bar.checkVisibility(
      {opacityProperty: true, visibilityProperty: true})]);
}, 20);
"""


def one_load(url: str) -> dict:
    with browser_page(1366, 768) as page:
        page.add_init_script(WATCH)
        page.goto(url)
        data_at = wait_until(
            lambda: page.evaluate("window.__data_at"), timeout=60, interval=0.05,
            what="data in every trend",
        )  # fmt: skip
        wait_until(
            lambda: page.evaluate("performance.now()") > data_at + 3200, interval=0.1,
            what="3 s after the data",
        )  # fmt: skip
        longs = page.evaluate("window.__long")
        rows = page.evaluate("window.__rows")
        origin = page.evaluate("performance.timeOrigin")
        busy = page.evaluate("window.__busy_seen")
        veil = page.evaluate("window.__veil_seen")
        idle_at = page.evaluate("window.__idle_at")
        sidebar_at = page.evaluate("window.__sidebar_at")
    before = sum(min(s + d, data_at) - s for s, d in longs if s < data_at)
    after = sum(
        min(s + d, data_at + 3000) - max(s, data_at)
        for s, d in longs
        if s + d > data_at and s < data_at + 3000
    )
    late = [arrived - t for t, arrived in rows if data_at + 500 <= t - origin <= data_at + 3000]

    def shown_until(seen: list) -> float:
        """The last moment after the first data that it was drawn (0: not after it)."""
        return max((at - data_at for at, shown in seen if shown and at >= data_at), default=0)

    # (the busy bar: None when the page has none to watch, and nothing was measured)
    bar_until = shown_until(busy) if busy else None
    veil_until = shown_until(veil)
    return {"data_ms": round(data_at), "drawn_ms": None if idle_at is None else round(idle_at),
            "sidebar_ms": None if sidebar_at is None else round(sidebar_at),
            "veil_after_data_ms": round(veil_until), "long_before_ms": round(before),
            "long_after_ms": round(after), "rows_seen": len(late),
            "slowest_row_ms": round(max(late)) if late else None,
            "busy_bar_after_data_ms": None if bar_until is None else round(bar_until)}  # fmt: skip


def main() -> None:
    port = free_port()
    cmd = ["trending-panel", "demo", "--port", str(port), "--backfill", "1d"]
    loads = []
    with served(cmd, {}, port, timeout=120):
        for _ in range(LOADS):
            loads.append(one_load(f"http://localhost:{port}/?window=6h"))
            print(loads[-1], flush=True)

    def median(key: str) -> float | None:
        values = [r[key] for r in loads if r[key] is not None]
        return round(statistics.median(values)) if values else None

    keys = ("data_ms", "drawn_ms", "sidebar_ms", "long_before_ms", "long_after_ms",
            "slowest_row_ms",
            "busy_bar_after_data_ms", "veil_after_data_ms")  # fmt: skip
    out = {"date": datetime.now().isoformat(timespec="seconds"), "loads": loads,
           **{f"median_{k}": median(k) for k in keys}}  # fmt: skip
    print(f"first data {out['median_data_ms']} ms; long tasks before it "
          f"{out['median_long_before_ms']} ms, in the 3 s after it {out['median_long_after_ms']} "
          f"ms (goal <= 300); slowest row written 0.5-3 s after it: "
          f"{out['median_slowest_row_ms']} ms to the page (goal <= 1000); busy bar drawn until "
          f"{out['median_busy_bar_after_data_ms']} ms after the data (goal <= 2000), the "
          f"loading veil until {out['median_veil_after_data_ms']} ms after it; page drawn at "
          f"{out['median_drawn_ms']} ms, its sidebar at {out['median_sidebar_ms']} ms")  # fmt: skip
    record("first_second", out)


if __name__ == "__main__":
    sys.exit(main())

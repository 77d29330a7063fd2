"""``make bench-plant``: issue 18's figures over a plant of 1,000 tag tables x 6 h of 1 Hz rows
(21.6 M rows), in a private PostgreSQL, the dashboard served with a ``[catalog]`` over them.

Printed and written to ``benchmarks/results.json`` under ``plant``:

- seconds from starting the server to ``/liveness`` answering;
- with no page open: the server's CPU and that of the dashboard's own PostgreSQL backends
  (``application_name`` trending-panel), over 30 s; then the same with a writer adding a row a
  second to every tag;
- with the writer running, Chromium at 1366 x 768: a page of 8 pens (``?pens=``) and the
  default page (the first 8 tags), navigation to every pen holding rows (median of 3; timed
  in the page, as ``make bench-first-second`` does);
- on the 8-pen page, each new row's time from its insert to the page (p95 over 20 s);
- the server's memory after 20 different 8-pen pages were opened and closed;
- typing in *Search tags* to the results shown (median of 5);
- "changed in the database" reports in the server's log for rows written at the live edge.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from benchmarks.common import (
    CpuMeter,
    cpu_s,
    private_postgres,
    record,
    rss_mb,
    say,
    server,
)
from tests.harness.browser import browser_page, free_port, read_sources, wait_until
from tests.harness.database import create_metadata_table, create_tag_table

REACTORS, KINDS = 100, ("TEMP_PV", "PH_PV", "DO_PV", "PRES_PV", "AGIT_PV", "FEED_PV",
                         "CO2_PV", "O2_FLOW", "LEVEL_PV", "GLUC_PV")  # fmt: skip
TAGS = [f"BR{r:03d}/{k}" for r in range(1, REACTORS + 1) for k in KINDS]
HOURS = 6
SAMPLE_S = 30


def build(settings, now: datetime) -> float:
    """The plant's tables, a time index on each, 6 h of 1 Hz rows each, and the metadata."""
    started = time.monotonic()
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        create_metadata_table(conn)
        for i, name in enumerate(TAGS):
            t = create_tag_table(conn, name)
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} SELECT s, %s + sin(extract(epoch FROM s) / 600) + random()"
                    " FROM generate_series(%s::timestamp - %s::interval, %s, '1 s') s"
                ).format(t),
                (i % 10, now, f"{HOURS} hours", now),
            )
            conn.execute(
                "INSERT INTO plant_tags VALUES (%s, %s, '', NULL, NULL, %s)",
                (name, name.replace("/", " ").lower(), f"Bioreactor {name[2:5]}"),
            )
        conn.execute("VACUUM ANALYZE")
    return time.monotonic() - started


class TagWriter:
    """A row a second into every tag, stamped with the wall clock (the data's zone: UTC)."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TagWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        queries = [sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(sql.Identifier(n))
                   for n in TAGS]  # fmt: skip
        with psycopg.connect(self.settings.conninfo(), autocommit=True) as conn:
            while not self._stop.wait(1.0 - time.time() % 1.0):
                now = datetime.utcnow()
                with conn.pipeline(), conn.transaction():
                    for i, query in enumerate(queries):
                        conn.execute(query, (now, i % 10 + 0.5))


def dashboard_backends_cpu(settings, seconds: float) -> float:
    """Share of a core the dashboard's own PostgreSQL backends used over ``seconds``."""
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:

        def pids() -> list[int]:
            query = "SELECT pid FROM pg_stat_activity WHERE application_name = 'trending-panel'"
            return [r[0] for r in conn.execute(query)]

        def used(ps: list[int]) -> dict[int, float]:
            out = {}
            for pid in ps:
                with contextlib.suppress(OSError):  # a backend that just ended
                    out[pid] = cpu_s(pid)
            return out

        before, t0 = used(pids()), time.monotonic()
        time.sleep(seconds)
        after = used(pids())
        spent = sum(c - before.get(pid, 0.0) for pid, c in after.items())
        return round(100 * spent / (time.monotonic() - t0), 1)


def idle_cpu(settings, pid: int) -> tuple[float, float]:
    """The server's CPU and its PostgreSQL backends', over :data:`SAMPLE_S` (in parallel)."""
    meter = CpuMeter(pid)
    meter.start()
    backends = dashboard_backends_cpu(settings, SAMPLE_S)
    return meter.stop(), backends


#: In the page from navigation on: when every pen first holds rows (``performance.now()``, ms
#: since navigation), so the measuring reads no data arrays and adds no round trips.
WATCH = """
window.__data_at = null;
const __watch = setInterval(() => {
  const docs = (window.Bokeh && window.Bokeh.documents) || [];
  if (!docs.length) return;
  let n = 0, full = 0;
  for (const m of docs[0].all_models) {
    if (m.type !== "ColumnDataSource" || !m.name || !m.name.startsWith("source-")) continue;
    n += 1;
    const t = m.data instanceof Map ? m.data.get("time") : m.data.time;
    if (t.length > 10) full += 1;
  }
  if (n === %d && full === n) { window.__data_at = performance.now(); clearInterval(__watch); }
}, 10);
"""


def first_data(url: str, count: int) -> float:
    """Seconds from navigation to every one of ``count`` pens holding rows."""
    with browser_page(1366, 768) as page:
        page.add_init_script(WATCH % count)
        page.goto(url)
        return wait_until(lambda: page.evaluate("window.__data_at"), timeout=60) / 1000


def insert_to_page(url: str) -> float:
    """p95 seconds from a row's insert (its wall-clock time stamp) to the page."""
    with browser_page(1366, 768) as page:
        page.goto(url)
        wait_until(lambda: len(read_sources(page)) == 8, timeout=60, what="the page")
        page.evaluate(
            """() => { window.__lag = []; const last = {};
            setInterval(() => { for (const m of Bokeh.documents[0].all_models) {
              if (m.type !== "ColumnDataSource" || !m.name || !m.name.startsWith("source-"))
                continue;
              const t = m.data instanceof Map ? m.data.get("time") : m.data.time;
              const newest = t.length ? t[t.length - 1] : null;
              if (newest !== null && last[m.name] !== undefined && newest > last[m.name])
                window.__lag.push(Date.now() - newest);
              last[m.name] = newest; } }, 20); }"""
        )
        page.wait_for_timeout(20_000)
        lags = sorted(page.evaluate("window.__lag"))
    return lags[int(0.95 * (len(lags) - 1))] / 1000 if lags else float("nan")


def search_time(base: str) -> float:
    """Median seconds from typing in Search tags to its results shown."""
    times = []
    with browser_page(1366, 768) as page:
        page.goto(base + "/?window=1h")
        field = page.get_by_label("Search tags")
        field.wait_for(timeout=60_000)
        for text in ("br042", "br077/ph", "do_pv", "br013/agit", "feed"):
            field.fill("")
            page.wait_for_timeout(300)
            started = time.monotonic()
            field.fill(text)
            page.locator(".tp-count", has_text="match").first.wait_for(timeout=10_000)
            times.append(time.monotonic() - started)
    return statistics.median(times)


def pens(keys: list[str]) -> str:
    return ",".join(quote(k, safe="") for k in keys)


def main() -> None:
    now = datetime.utcnow().replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp, private_postgres(Path(tmp)) as settings:
        say(f"building {len(TAGS)} tables x {HOURS} h of 1 Hz rows ...")
        say(f"  built in {build(settings, now):.0f} s")
        config = Path(tmp) / "plant.toml"
        config.write_text('[catalog]\ninclude = ["BR*/*"]\nmetadata = "plant_tags"\n')
        port = free_port()
        env = {**settings.to_env(), "TRENDING_CONFIG": str(config)}
        log = Path(tmp) / "server.log"
        started = time.monotonic()
        with server(["trending-panel", "serve", "--port", str(port)], env, port, log) as proc:
            live_s = time.monotonic() - started
            base = f"http://localhost:{port}"
            say(f"/liveness after {live_s:.2f} s")
            time.sleep(5)
            server_idle, backends_idle = idle_cpu(settings, proc.pid)
            say(f"no page: server {server_idle} %, dashboard's backends {backends_idle} %")
            with TagWriter(settings):
                time.sleep(3)
                server_w, backends_w = idle_cpu(settings, proc.pid)
                say(f"writer, no page: server {server_w} %, dashboard's backends {backends_w} %")
                eight = base + "/?window=1h&pens=" + pens(TAGS[500:504]) + ";" + pens(
                    TAGS[600:604])  # fmt: skip
                pens_s = statistics.median(first_data(eight, 8) for _ in range(3))
                say(f"8-pen page: first data {pens_s:.2f} s")
                default_s = statistics.median(first_data(base + "/?window=1h", 8)
                                              for _ in range(3))  # fmt: skip
                say(f"default page: first data {default_s:.2f} s")
                lag = insert_to_page(eight)
                say(f"insert to page, p95: {lag:.2f} s")
                for k in range(20):
                    first_data(base + "/?window=1h&pens=" + pens(TAGS[k * 40 : k * 40 + 8]), 8)
                time.sleep(5)
                memory = rss_mb(proc.pid)
                say(f"server memory after 20 different 8-pen pages: {memory:.0f} MB")
                search_s = search_time(base)
                say(f"Search tags, typing to results: {search_s * 1000:.0f} ms")
            changed = log.read_text().count("changed in the database")
            say(f"'changed in the database' reports at the live edge: {changed}")
    record(
        "plant",
        {
            "tags": len(TAGS), "hours": HOURS, "liveness_s": round(live_s, 2),
            "no_page_server_cpu_pct": server_idle, "no_page_backends_cpu_pct": backends_idle,
            "writer_server_cpu_pct": server_w, "writer_backends_cpu_pct": backends_w,
            "eight_pens_first_data_s": round(pens_s, 2),
            "default_first_data_s": round(default_s, 2),
            "insert_to_page_p95_s": round(lag, 2), "memory_after_20_pages_mb": round(memory),
            "search_results_ms": round(search_s * 1000),
            "false_changed_at_live_edge": changed,
            "date": time.strftime("%Y-%m-%d"), "python": sys.version.split()[0],
        },
    )  # fmt: skip


if __name__ == "__main__":
    main()

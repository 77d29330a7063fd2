"""``make bench-batches``: issue 20's figures. Eight batches of 14 days at 1 Hz, one after the
other with 12 h between them, in the spec's four tables (about 41 M rows), an events table
with their phases, a private PostgreSQL, the dashboard served with ``[events]``.

Printed and written to ``benchmarks/results.json`` under ``batches``:

- the page comparing the eight batches (``?compare=``), Chromium at 1366 x 768, warm (the
  summary built, the page opened once before): navigation to every batch's trace of every pen
  holding points (median of 3, timed in the page), the points sent, and beside it the naive
  baseline in the same run: fetching the raw rows of the eight batches (what an overlay of
  rows draws) with psycopg;
- the same comparison aligned on a phase (``&align=fed-batch``);
- the server's memory per session of a 30-day page with phase bands, and without ``[events]``
  (20 Bokeh client sessions each, on two servers over the same database);
- reads of the events table over 30 s with no page and with 20 pages open (the process reads
  it once every 5 s, whatever the number of pages).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from benchmarks.common import (
    close_sessions,
    open_sessions,
    private_postgres,
    record,
    rss_mb,
    say,
    server,
)
from tests.harness.browser import browser_page, free_port, wait_until
from trending_panel.core.variables import VARIABLES

BATCHES, DAYS, GAP = 8, 14, timedelta(hours=12)
PHASES = (("inoculation", 0.02), ("batch", 0.3), ("fed-batch", 0.95), ("harvest", 1.0))
#: Every compare source holds points: the time at which it did (ms since navigation).
WATCH = """
const __watch = setInterval(() => {
  const docs = (window.Bokeh && window.Bokeh.documents) || [];
  if (!docs.length) return;
  let n = 0, full = 0, points = 0;
  for (const m of docs[0].all_models) {
    if (m.type !== "ColumnDataSource" || !m.name || !m.name.startsWith("compare-")) continue;
    n += 1;
    const e = m.data instanceof Map ? m.data.get("elapsed") : m.data.elapsed;
    points += e.length;
    if (e.length > 10) full += 1;
  }
  if (n === %d && full === n) {
    window.__data_at = performance.now(); window.__points = points; clearInterval(__watch);
  }
}, 10);
"""


def batch_spans(first: datetime) -> list[tuple[str, datetime, datetime]]:
    out, t = [], first
    for i in range(BATCHES):
        out.append((f"B-{i + 1:03d}", t, t + timedelta(days=DAYS)))
        t += timedelta(days=DAYS) + GAP
    return out


def build(settings, first: datetime, last: datetime) -> float:
    """The four tables (1 Hz from ``first`` to ``last``, a time index each) and the events."""
    started = time.monotonic()
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        for i, var in enumerate(VARIABLES):
            t = sql.Identifier(var.table)
            conn.execute(sql.SQL("CREATE TABLE {} (time timestamp, value double precision)")
                         .format(t))  # fmt: skip
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} SELECT ts, %s + sin(extract(epoch FROM ts) / 86400.0)"
                    " + (extract(epoch FROM ts)::bigint %% 97) / 1000.0"
                    " FROM generate_series(%s::timestamp, %s::timestamp, '1 s') ts"
                ).format(t),
                (10.0 * (i + 1), first, last),
            )
            conn.execute(sql.SQL("CREATE INDEX ON {} (time)").format(t))
            say(f"  {var.table}: done ({time.monotonic() - started:.0f} s)")
        conn.execute(
            "CREATE TABLE batch_events (start_time timestamp, end_time timestamp,"
            " batch_id text, phase text, unit text, description text)"
        )
        rows = []
        for batch_id, a, b in batch_spans(first + timedelta(hours=1)):
            at = a
            for name, share in PHASES:
                end = a + (b - a) * share
                rows.append((at, end, batch_id, name, None, None))
                at = end
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO batch_events VALUES (%s, %s, %s, %s, %s, %s)", rows)
        conn.execute("VACUUM ANALYZE")
    return time.monotonic() - started


def first_data(url: str, sources: int) -> tuple[float, int]:
    """Seconds from navigation to every compare source holding points, and the points."""
    with browser_page(1366, 768) as page:
        page.add_init_script(WATCH % sources)
        page.goto(url)
        at = wait_until(lambda: page.evaluate("window.__data_at"), timeout=120)
        return at / 1000, page.evaluate("window.__points")


def naive_rows(settings, spans) -> tuple[float, int]:
    """Seconds to fetch the raw rows of every batch of every table, and how many."""
    started, n = time.monotonic(), 0
    with psycopg.connect(settings.conninfo()) as conn:
        for var in VARIABLES:
            for _, a, b in spans:
                cur = conn.execute(
                    sql.SQL("SELECT time, value FROM {} WHERE time BETWEEN %s AND %s")
                    .format(sql.Identifier(var.table)), (a, b), binary=True,
                )  # fmt: skip
                n += len(cur.fetchall())
    return time.monotonic() - started, n


def wait_summary(log: Path) -> None:
    wait_until(lambda: "summary ready" in log.read_text(), timeout=600, what="the summary")


def per_session_mb(url: str, pid: int, n: int = 20) -> float:
    """The server's memory added per Bokeh client session of a 30-day page."""
    before = rss_mb(pid)
    sessions = open_sessions(url, n, window="30d")
    time.sleep(5)
    after = rss_mb(pid)
    close_sessions(sessions)
    return (after - before) / n


def events_reads(settings, seconds: float = 30.0) -> int:
    """Scans of the events table over ``seconds`` (the process's reads of it)."""

    def scans() -> int:
        with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute(
                "SELECT seq_scan + coalesce(idx_scan, 0) FROM pg_stat_user_tables"
                " WHERE relname = 'batch_events'"
            ).fetchone()
            return int(row[0])

    first = scans()
    time.sleep(seconds)
    return scans() - first


def main() -> None:
    spans = batch_spans(datetime(2026, 1, 1, 1))
    first = spans[0][1] - timedelta(hours=1)
    last = spans[-1][2] + timedelta(hours=1)
    ids = ",".join(b for b, _, _ in spans)
    with tempfile.TemporaryDirectory() as tmp, private_postgres(Path(tmp)) as settings:
        say(f"building 4 tables x {(last - first).days} days of 1 Hz rows and {BATCHES} batches")
        say(f"  built in {build(settings, first, last):.0f} s")
        config = Path(tmp) / "site.toml"
        config.write_text('[events]\ntable = "batch_events"\n')
        port = free_port()
        env = {**settings.to_env(), "TRENDING_CONFIG": str(config)}
        log = Path(tmp) / "server.log"
        base = f"http://localhost:{port}"
        with server(["trending-panel", "serve", "--port", str(port)], env, port, log) as proc:
            wait_summary(log)
            url = f"{base}/?compare={ids}"
            sources = BATCHES * len(VARIABLES)
            first_data(url, sources)  # warm: the browser's cache and the server's
            runs = [first_data(url, sources) for _ in range(3)]
            compare_s = statistics.median(r[0] for r in runs)
            points = runs[0][1]
            say(f"compare {BATCHES} batches: first data {compare_s:.2f} s, {points:,} points")
            aligned = [first_data(url + "&align=fed-batch", sources) for _ in range(3)]
            aligned_s = statistics.median(r[0] for r in aligned)
            say(f"aligned on fed-batch: first data {aligned_s:.2f} s")
            idle_reads = events_reads(settings)
            sessions = open_sessions(base, 20, window="30d")
            busy_reads = events_reads(settings)
            close_sessions(sessions)
            say(f"events table reads in 30 s: {idle_reads} with no page, {busy_reads} with 20")
            with_bands = per_session_mb(base, proc.pid)
        naive_s, naive_n = naive_rows(settings, spans)
        say(f"naive: the raw rows of the {BATCHES} batches, {naive_n:,} rows in {naive_s:.1f} s")
        port2 = free_port()
        plain_env = {k: v for k, v in env.items() if k != "TRENDING_CONFIG"}
        with server(["trending-panel", "serve", "--port", str(port2)], plain_env, port2,
                    Path(tmp) / "plain.log") as proc2:  # fmt: skip
            wait_summary(Path(tmp) / "plain.log")
            without = per_session_mb(f"http://localhost:{port2}", proc2.pid)
        say(f"server memory per 30-day session: {with_bands:.2f} MB with phase bands, "
            f"{without:.2f} MB without [events]")  # fmt: skip
    record(
        "batches",
        {
            "batches": BATCHES, "days_each": DAYS, "rows": naive_n,
            "compare_first_data_s": round(compare_s, 2), "compare_points": points,
            "aligned_first_data_s": round(aligned_s, 2),
            "naive_fetch_rows_s": round(naive_s, 1), "naive_rows": naive_n,
            "ratio_vs_naive": round(naive_s / compare_s, 1),
            "events_reads_30s_no_page": idle_reads, "events_reads_30s_20_pages": busy_reads,
            "session_mb_with_bands": round(with_bands, 2),
            "session_mb_without_events": round(without, 2),
            "date": time.strftime("%Y-%m-%d"), "python": sys.version.split()[0],
        },
    )  # fmt: skip


if __name__ == "__main__":
    main()

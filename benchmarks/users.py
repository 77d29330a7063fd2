"""What a viewer sees, and what viewers cost the server (``make bench`` parts ``build``,
``contention`` and ``viewers``; ``served`` times its windows with :func:`page_times`).

Times are taken in the page (``performance.now()`` from navigation): *data*, every trend's
source holds rows; *statistics*, every trend's statistics block shows its numbers; *rendered*,
Bokeh reports the document idle (every view drawn) after the data arrived. CPU is the share
of one core a process used, from ``/proc`` (PostgreSQL: the postmaster and every backend).
"""

from __future__ import annotations

import contextlib
import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from benchmarks.common import (
    ChromiumCpu,
    CpuMeter,
    Writer,
    close_sessions,
    measure_cpu,
    open_sessions,
    say,
    server,
)
from tests.harness.browser import CHROMIUM_ARGS, chromium_path, free_port
from trending_panel.core.settings import Settings

PAGE_JS = """
() => {
  const r = {t: performance.now(), data: false, idle: false, stats: 0, points: 0};
  const docs = (window.Bokeh && Bokeh.documents) || [];
  if (docs.length) {
    let n = 0, full = 0;
    for (const m of docs[0].all_models)
      if (m.name && m.name.startsWith("source-")) {
        n++;
        const d = m.data, t = d instanceof Map ? d.get("time") : d["time"];
        if (t.length) full++;
        r.points = Math.max(r.points, t.length);
      }
    r.data = n > 0 && full === n;
    r.idle = docs[0].is_idle;
  }
  const walk = (root) => {
    r.stats += root.querySelectorAll("tr[data-stat=samples]").length;
    for (const el of root.querySelectorAll("*")) if (el.shadowRoot) walk(el.shadowRoot);
  };
  walk(document);
  return r;
}
"""
VIEWPORT = {"width": 1366, "height": 768}
STATS_SHOWN = 4  # the four trends' blocks


def page_times(page, url: str, stats: int = STATS_SHOWN, timeout: float = 120) -> dict:
    """Navigate to ``url``; when (ms from navigation) the data, the statistics and the
    rendered page were there."""
    page.goto(url, wait_until="commit", timeout=timeout * 1000)
    out: dict = {"data_ms": None, "stats_ms": None, "rendered_ms": None}
    points = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # the page is still being replaced
            r = page.evaluate(PAGE_JS)
            t = round(r["t"])
            points = r["points"]
            if r["data"] and out["data_ms"] is None:
                out["data_ms"] = t
            if out["data_ms"] is not None and r["idle"] and out["rendered_ms"] is None:
                out["rendered_ms"] = t
            if r["stats"] >= stats and out["stats_ms"] is None:
                out["stats_ms"] = t
            if out["rendered_ms"] is not None and (not stats or out["stats_ms"] is not None):
                break
        time.sleep(0.02)
    if not stats:
        out.pop("stats_ms")
    return {**out, "points_per_plot": points}


@contextlib.contextmanager
def chromium() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser):
    return browser.new_context(viewport=VIEWPORT).new_page()


def wait_log(log: Path, pattern: str, timeout: float = 300) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text())
        if found:
            return found
        time.sleep(0.1)
    raise TimeoutError(f"{pattern!r} not in {log}")


def serve_cmd(port: int) -> list[str]:
    return ["trending-panel", "serve", "--port", str(port)]


# -- parts --------------------------------------------------------------------------------------


def build(settings: Settings, tmp: Path) -> dict:
    """The summary's build (10.4 M rows) on a server whose first viewers arrive with it (a
    writer adds a row a second to each table): five live 1-hour pages opened as soon as it
    answers; and, on another start, a 30-day page opened at once (drawn before the summary is
    ready, from one pass over the database)."""
    out: dict = {}
    for name, windows in (("five_1h_pages", ["1h"] * 5), ("one_30d_page", ["30d"])):
        port = free_port()
        log = tmp / f"build-{name}.log"
        with (
            Writer(settings),
            server(serve_cmd(port), settings.to_env(), port, log),
            chromium() as browser,
        ):
            pages = [new_page(browser) for _ in windows]
            for page, window in zip(pages[:-1], windows[:-1], strict=False):
                page.goto(f"http://localhost:{port}/?window={window}", wait_until="commit")
            last = page_times(pages[-1], f"http://localhost:{port}/?window={windows[-1]}")
            found = wait_log(log, r"summary ready in ([\d.]+) s")
        out[name] = {"build_s": float(found.group(1)), f"{windows[-1]}_page": last}
    # The server's side alone: five live 1-hour sessions that render nothing.
    port = free_port()
    log = tmp / "build-sessions.log"
    with Writer(settings), server(serve_cmd(port), settings.to_env(), port, log):
        sessions = open_sessions(f"http://localhost:{port}/", 5, window="1h")
        found = wait_log(log, r"summary ready in ([\d.]+) s")
        close_sessions(sessions)
    out["five_1h_sessions"] = {"build_s": float(found.group(1))}
    say(f"[build] {out}")
    return out


def contention(settings: Settings, tmp: Path, postmaster: int) -> dict:
    """Five live 30-day pages open (a writer adds a row a second to each table): PostgreSQL's
    and the server's CPU over 30 s; then a 1-hour page opened beside them."""
    port = free_port()
    log = tmp / "contention.log"
    out: dict = {}
    with (
        server(serve_cmd(port), settings.to_env(), port, log) as proc,
        Writer(settings),
        chromium() as browser,
    ):
        wait_log(log, r"summary ready")
        wide = [page_times(new_page(browser), f"http://localhost:{port}/?window=30d")
                for _ in range(5)]  # fmt: skip
        out["30d_pages"] = wide
        pg, me = CpuMeter(postmaster, tree=True), CpuMeter(proc.pid)
        pg.start()
        me.start()
        time.sleep(30)
        out["postgres_cpu_pct"], out["server_cpu_pct"] = pg.stop(), me.stop()
        out["1h_page_beside"] = page_times(new_page(browser), f"http://localhost:{port}/?window=1h")
    say(f"[contention] {out}")
    return out


def viewers(
    settings: Settings, tmp: Path, naive_cmd: Callable[[int], list[str]], naive_path: str
) -> dict:
    """Server CPU per live viewer of a 6-hour window (a writer adds a row a second to each
    table): Chromium pages and Bokeh client sessions, 0, 1, 5 and 20 of them; a new page
    opened beside 20; SIGTERM with 20 open. Bokeh client sessions of the naive app beside."""
    out: dict = {"chromium": {}, "chromium_browser": {}, "client": {}, "naive_client": {}}
    port = free_port()
    log = tmp / "viewers.log"
    url = f"http://localhost:{port}/"
    with Writer(settings), chromium() as browser:
        with server(serve_cmd(port), settings.to_env(), port, log) as proc:
            wait_log(log, r"summary ready")
            tabs: list = []
            for n in (0, 1, 5, 20):
                while len(tabs) < n:
                    tab = new_page(browser)
                    page_times(tab, f"{url}?window=6h", stats=0)
                    tabs.append(tab)
                time.sleep(3)
                browsers = ChromiumCpu()
                browsers.start()
                out["chromium"][n] = measure_cpu(proc.pid, 20)
                out["chromium_browser"][n] = browsers.stop()
                say(f"[viewers] {n} Chromium page(s): server {out['chromium'][n]} % of a core, "
                    f"Chromium {out['chromium_browser'][n]} %")  # fmt: skip
            out["new_page_beside_20"] = page_times(new_page(browser), f"{url}?window=1h")
            for tab in tabs:  # the browser's share of the machine back for the next figure
                tab.context.close()
            sessions = open_sessions(url, 20, window="6h")
            time.sleep(3)
            out["new_page_beside_20_sessions"] = page_times(new_page(browser), f"{url}?window=1h")
            sent = time.monotonic()  # the 20 sessions still live
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            out["sigterm_exit_s"] = round(time.monotonic() - sent, 2)
            with contextlib.suppress(Exception):
                close_sessions(sessions)
            say(f"[viewers] beside 20: {out['new_page_beside_20']}; "
                f"SIGTERM → exit {out['sigterm_exit_s']} s")  # fmt: skip
        for name, cmd, base in (
            ("client", serve_cmd(port), url),
            ("naive_client", naive_cmd(port), naive_path.format(port=port)),
        ):
            with server(cmd, settings.to_env(), port, tmp / f"{name}.log") as proc:
                if name == "client":
                    wait_log(tmp / f"{name}.log", r"summary ready")
                for n in (0, 1, 5, 20):
                    sessions = open_sessions(base, n, window="6h")
                    time.sleep(3)
                    out[name][n] = measure_cpu(proc.pid, 20)
                    close_sessions(sessions)
                    say(f"[viewers] {n} {name} session(s): server {out[name][n]} % of a core")
    return out


# -- the report -----------------------------------------------------------------------------


def _ms(r: dict, key: str) -> str:
    value = r.get(key)
    return "—" if value is None else f"{value} ms"


def report_rows(results: dict) -> list[str]:
    """The table's rows for these parts (those that ran)."""
    rows: list[str] = []
    if "build" in results:
        b = results["build"]
        five, wide = b["five_1h_pages"], b["one_30d_page"]
        p = wide["30d_page"]
        rows.append(
            f"| summary build, 10.4 M rows, five live 1 h viewers arriving with it: Chromium "
            f"pages (rendering on the same 2 cores) / Bokeh client sessions | "
            f"{five['build_s']} s / {b['five_1h_sessions']['build_s']} s | — | — |"
        )
        rows.append(
            f"| 30 d page opened with the server (before the summary): data / statistics; "
            f"the build meanwhile | {_ms(p, 'data_ms')} / {_ms(p, 'stats_ms')}; "
            f"{wide['build_s']} s | — | — |"
        )
    if "contention" in results:
        c = results["contention"]
        h = c["1h_page_beside"]
        rows.append(
            f"| five live 30 d pages, 30 s: PostgreSQL CPU / server CPU | "
            f"{c['postgres_cpu_pct']} % / {c['server_cpu_pct']} % of a core | — | — |"
        )
        rows.append(
            f"| 1 h page opened beside five live 30 d pages: data / statistics / rendered | "
            f"{_ms(h, 'data_ms')} / {_ms(h, 'stats_ms')} / {_ms(h, 'rendered_ms')} | — | — |"
        )
    if "viewers" in results:
        v = results["viewers"]
        for n in ("0", "1", "5", "20"):
            ours = v["chromium"].get(n, v["chromium"].get(int(n)))
            client = v["client"].get(n, v["client"].get(int(n)))
            naive = v["naive_client"].get(n, v["naive_client"].get(int(n)))
            browser = v.get("chromium_browser", {})
            pages = browser.get(n, browser.get(int(n)))
            drawn = f" (the pages' Chromium: {pages} %)" if pages is not None else ""
            rows.append(
                f"| server CPU, {n} live viewer(s) of 6 h: Chromium pages / Bokeh client "
                f"sessions | {ours} % / {client} % of a core{drawn} | client sessions: "
                f"{naive} % | {_times(client, naive)} |"
            )
        for key, what in (
            ("new_page_beside_20", "20 live Chromium pages (on the same 2 cores)"),
            ("new_page_beside_20_sessions", "20 live client sessions"),
        ):
            h = v[key]
            rows.append(
                f"| new page beside {what}: data / statistics / rendered | "
                f"{_ms(h, 'data_ms')} / {_ms(h, 'stats_ms')} / {_ms(h, 'rendered_ms')} | — | — |"
            )
        rows.append(f"| SIGTERM to exit, 20 live sessions | {v['sigterm_exit_s']} s | — | — |")
    return rows


def _times(ours: float | None, base: float | None) -> str:
    if not ours or not base:
        return "—"
    return f"{base / ours:.1f}x"

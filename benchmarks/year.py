"""``make bench-year``: the shared rollup over a year of 1 Hz rows in four tables (issue 19).

A private PostgreSQL gets ``--days`` (default 365) of 1 Hz rows in each of the spec's four
tables (126 M rows for a year; PostgreSQL computes them, with a time index), then:

- **first build**: ``trending-panel rollup --once`` from nothing, rows per second, against a
  baseline in the same run: a single-pass SQL ``GROUP BY`` of the same rows into minute
  buckets (count, min, max, sum), the cheapest aggregation PostgreSQL can do over them;
- **storage**: the rollup's table, per tag-year, all levels;
- **lag**: the service following, a writer adding one row a second to each table; the time
  from each row's commit to the rollup holding it (p50, p95);
- **behind the edge**: a row inserted 10 days late, one corrected, an hour deleted; the time
  until the rollup's hour counts (and bucket contents) say so.

- **the dashboard**: ``trending-panel serve`` started with the rollup there, then the whole
  year (``?window=all``) opened in Chromium at 1366 x 768: from the start to the data drawn,
  then a second page (warm): data and statistics, ms from navigation; the server's memory.
  The baseline in the same run: the same server without the rollup
  (``TRENDING_ROLLUP_SCHEMA`` naming none), which summarises the year in memory first.

Printed, and written to ``benchmarks/results.json`` under ``year`` with the date and commit.
Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import os
import signal
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
from benchmarks.common import commit, private_postgres, record, rss_mb, say, server
from trending_panel.core.chunks import HOUR_US
from trending_panel.core.rows import to_us
from trending_panel.core.settings import Settings
from trending_panel.core.variables import VARIABLES

BIN = Path(sys.executable).parent


def seed(settings: Settings, days: int, end: datetime) -> int:
    """``days`` of 1 Hz rows ending at ``end`` in each table; the rows written."""
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        for i, var in enumerate(VARIABLES):
            t = sql.Identifier(var.table)
            conn.execute(sql.SQL("CREATE TABLE {} (time timestamp, value double precision)")
                         .format(t))  # fmt: skip
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} SELECT g, %s + sin(extract(epoch FROM g) / 3600.0)"
                    " + random() / 10 FROM generate_series(%s::timestamp, %s::timestamp,"
                    " interval '1 s') g"
                ).format(t),
                (10.0 * (i + 1), end - timedelta(days=days), end),
            )
            conn.execute(sql.SQL("CREATE INDEX ON {} (time)").format(t))
        conn.execute("VACUUM ANALYZE")
        return sum(
            conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(v.table)))
            .fetchone()[0]
            for v in VARIABLES
        )  # fmt: skip


def group_by_baseline(settings: Settings) -> float:
    """Seconds for PostgreSQL's single-pass GROUP BY of every row into minute buckets."""
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        conn.execute("SET max_parallel_workers_per_gather = 0")  # one core, as the rollup reads
        began = time.monotonic()
        for var in VARIABLES:
            conn.execute(
                sql.SQL(
                    "SELECT count(*), sum(n), min(lo), max(hi), sum(s) FROM (SELECT"
                    " date_bin('1 min', time, '1970-01-01'), count(*) AS n, min(value) AS lo,"
                    " max(value) AS hi, sum(value) AS s FROM {} GROUP BY 1) b"
                ).format(sql.Identifier(var.table))
            )
        return time.monotonic() - began


def env_of(settings: Settings) -> dict:
    return {
        **os.environ,
        **settings.to_env(),
        "TRENDING_ROLLUP_USER": settings.user,
        "TRENDING_ROLLUP_PASSWORD": settings.password,
    }


def hour_bucket(conn: psycopg.Connection, table: str, hour_us: int) -> tuple[int, float]:
    """The rows the rollup's hour bucket holds, and its highest sample."""
    from trending_panel.core.chunks import HOURS, unpack

    row = conn.execute(
        "SELECT c.data FROM trending_rollup.chunks c JOIN trending_rollup.tags t"
        " ON t.id = c.tag_id WHERE t.tag = %s AND c.level = 1 AND c.chunk = %s",
        (table, HOURS.chunk_of(hour_us // HOUR_US)),
    ).fetchone()
    if row is None:
        return 0, float("nan")
    b = unpack(bytes(row[0]), HOURS, int(HOURS.chunk_of(hour_us // HOUR_US)))
    hit = b.index == hour_us // HOUR_US
    return (int(b.count[hit][0]), float(b.hi[hit][0])) if hit.any() else (0, float("nan"))


def wait_for(predicate, timeout: float = 120.0, interval: float = 0.02, tick=None) -> float:
    """Seconds until ``predicate`` holds; ``tick`` is called every second meanwhile."""
    began = last_tick = time.monotonic()
    while not predicate():
        if time.monotonic() - began > timeout:
            raise TimeoutError("the rollup did not follow")
        if tick is not None and time.monotonic() - last_tick >= 1.0:
            last_tick = time.monotonic()
            tick()
        time.sleep(interval)
    return time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    end = datetime.now().replace(microsecond=0) - timedelta(minutes=2)
    with (
        tempfile.TemporaryDirectory(prefix="bench-year-") as tmp,
        private_postgres(Path(tmp)) as admin,
    ):
        with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE year")
        settings = replace(admin, dbname="year")
        say(f"seeding {args.days} days x 4 tables of 1 Hz rows …")
        began = time.monotonic()
        rows = seed(settings, args.days, end)
        say(f"  {rows:,} rows in {time.monotonic() - began:.0f} s")
        baseline_s = group_by_baseline(settings)
        say(f"baseline: SQL GROUP BY into minutes {baseline_s:.1f} s, "
            f"{rows / baseline_s / 1e6:.2f} M rows/s")  # fmt: skip
        began = time.monotonic()
        proc = subprocess.run([str(BIN / "trending-panel"), "rollup", "--once"],
                              env=env_of(settings), capture_output=True, text=True)  # fmt: skip
        build_s = time.monotonic() - began
        if proc.returncode != 0:
            raise SystemExit(proc.stderr)
        say(f"rollup first build: {build_s:.1f} s, {rows / build_s / 1e6:.2f} M rows/s "
            f"({baseline_s / build_s:.2f}x the GROUP BY)")  # fmt: skip
        with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
            size = conn.execute(
                "SELECT pg_total_relation_size('trending_rollup.chunks')"
            ).fetchone()[0]
            per_tag_year = size / 1e6 / len(VARIABLES) / (args.days / 365)
            say(f"storage: {size / 1e6:.1f} MB, {per_tag_year:.1f} MB per tag-year (all levels)")

            # The bulk load's gigabytes of dirty pages are written out first: the lag measured
            # is the service's, not that of a checkpoint flushing the seed.
            conn.execute("CHECKPOINT")
            service = subprocess.Popen([str(BIN / "trending-panel"), "rollup"],
                                       env=env_of(settings), stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, text=True)  # fmt: skip
            try:
                lags = follow_lags(conn, settings)
                say(f"lag behind live rows: p50 {statistics.median(lags):.2f} s, "
                    f"p95 {statistics.quantiles(lags, n=20)[-1]:.2f} s")  # fmt: skip
                behind = behind_edge(conn, end, args.days)
                say("behind the edge: " + ", ".join(f"{k} {v:.1f} s" for k, v in behind.items()))
            finally:
                service.send_signal(signal.SIGTERM)
                began = time.monotonic()
                service.wait(30)
                stop_s = time.monotonic() - began
                say(f"SIGTERM to exit: {stop_s:.2f} s")
            page = {"rollup": dashboard(settings, {}), "baseline": dashboard(
                settings, {"TRENDING_ROLLUP_SCHEMA": "no_rollup_here"})}  # fmt: skip
            for name, got in page.items():
                say(f"dashboard ({name}): started to a year drawn {got['started_to_drawn_s']} s; "
                    f"warm: data {got['warm']['data_ms']} ms, statistics "
                    f"{got['warm']['stats_ms']} ms; {got['rss_mb']} MB")  # fmt: skip
    record(
        "year",
        {
            "date": datetime.now().date().isoformat(),
            "commit": commit(),
            "days": args.days,
            "rows": rows,
            "group_by_baseline_s": round(baseline_s, 2),
            "rollup_build_s": round(build_s, 2),
            "rollup_rows_per_s": round(rows / build_s),
            "ratio_to_group_by": round(baseline_s / build_s, 2),
            "storage_mb_per_tag_year": round(per_tag_year, 1),
            "lag_p50_s": round(statistics.median(lags), 2),
            "lag_p95_s": round(statistics.quantiles(lags, n=20)[-1], 2),
            **{f"{k}_s": round(v, 1) for k, v in behind.items()},
            "sigterm_s": round(stop_s, 2),
            "dashboard": page,
        },
    )


def dashboard(settings: Settings, env: dict) -> dict:
    """A server started now, a year's page opened as soon as it answers, then a second one.
    The browser is up before the server starts: its own start is not the dashboard's."""
    port = 8931
    log = Path(tempfile.gettempdir()) / "bench-year-serve.log"
    cmd = [str(BIN / "trending-panel"), "serve", "--port", str(port)]
    url = f"http://localhost:{port}/?window=all"
    with users.chromium() as b:
        first, second = users.new_page(b), users.new_page(b)
        began = time.monotonic()
        with server(cmd, {**settings.to_env(), **env}, port, log, poll=0.02) as proc:
            alive_s = time.monotonic() - began
            cold = users.page_times(first, url, timeout=300)
            warm = users.page_times(second, url, timeout=300)
            rss = rss_mb(proc.pid)
    drawn = cold["data_ms"]
    return {
        "alive_s": round(alive_s, 2),
        "started_to_drawn_s": round(alive_s + drawn / 1000, 2) if drawn is not None else None,
        "cold": cold,
        "warm": warm,
        "rss_mb": round(rss, 1),
    }


def follow_lags(conn: psycopg.Connection, settings: Settings, n: int = 30) -> list[float]:
    """One row a second into each table; per row, commit to the rollup's watermark past it."""
    table = VARIABLES[0].table
    wait_for(lambda: conn.execute("SELECT count(*) FROM trending_rollup.health WHERE lag_s < 5")
             .fetchone()[0] == len(VARIABLES))  # fmt: skip
    lags = []
    for _ in range(n):
        t = datetime.now().replace(microsecond=0) - timedelta(seconds=1)
        for var in VARIABLES:
            conn.execute(sql.SQL("INSERT INTO {} VALUES (%s, 1.0)")
                         .format(sql.Identifier(var.table)), (t,))  # fmt: skip
        lags.append(wait_for(lambda t=t: (conn.execute(
            "SELECT newest_us FROM trending_rollup.tags WHERE tag = %s", (table,)
        ).fetchone()[0] or 0) >= to_us(t)))  # fmt: skip
        time.sleep(max(0.0, 1.0 - lags[-1]))
    return lags


def behind_edge(conn: psycopg.Connection, end: datetime, days: int) -> dict[str, float]:
    """Seconds until a late insert, a correction and a deletion are in the rollup."""
    table = VARIABLES[1].table
    t = sql.Identifier(table)
    out = {}

    def live_row() -> None:
        """The plant's writer goes on writing, a row a second on the same session, as a
        historian does (its write counters reach PostgreSQL's statistics with its next
        transaction; an idle session's only after 10 s)."""
        conn.execute(sql.SQL("INSERT INTO {} VALUES (%s, 1.0)").format(t),
                     (datetime.now().replace(microsecond=0),))  # fmt: skip

    late = end - timedelta(days=min(10, days / 3), seconds=1, microseconds=500_000)
    hour = to_us(late) - to_us(late) % HOUR_US
    before = hour_bucket(conn, table, hour)[0]
    conn.execute(sql.SQL("INSERT INTO {} VALUES (%s, 99.0)").format(t), (late,))
    out["late_insert"] = wait_for(
        lambda: hour_bucket(conn, table, hour)[0] == before + 1, tick=live_row
    )
    fixed = end - timedelta(days=min(5, days / 4))
    hour = to_us(fixed) - to_us(fixed) % HOUR_US
    conn.execute(sql.SQL("UPDATE {} SET value = 1000 WHERE time = %s").format(t), (fixed,))
    out["correction"] = wait_for(lambda: hour_bucket(conn, table, hour)[1] == 1000.0, tick=live_row)
    gone = end - timedelta(days=min(20, days / 2))
    hour = to_us(gone) - to_us(gone) % HOUR_US
    conn.execute(sql.SQL("DELETE FROM {} WHERE time >= %s AND time < %s").format(t),
                 (gone - timedelta(minutes=10), gone))  # fmt: skip
    want = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE time >= %s AND time < %s")
                        .format(t), (datetime(1970, 1, 1) + timedelta(microseconds=hour),
                                     datetime(1970, 1, 1) + timedelta(microseconds=hour + HOUR_US))
                        ).fetchone()[0]  # fmt: skip
    out["delete"] = wait_for(lambda: hour_bucket(conn, table, hour)[0] == want, tick=live_row)
    return out


if __name__ == "__main__":
    main()

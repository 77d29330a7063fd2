"""The statistics' definitions, independent of the product: written out row by row in Python
(``reference``) and as one SQL statement over every row of a window (``sql_stats``: what the
product computed before its statistics came from merged bucket moments). The summary's and
the scan's results must equal them. Also the plant rows the statistics tests share: a gap,
NULL, NaN, a duplicate timestamp, the row before the window and one after it."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from trending_panel.core.variables import BY_KEY, Variable

T0 = datetime(2024, 3, 1, 8, 0)
START, END = T0, T0 + timedelta(minutes=20)
GAP = timedelta(minutes=5)
TEMP, PH, DO = BY_KEY["temperature"], BY_KEY["ph"], BY_KEY["dissolved_oxygen"]


def plant_rows() -> list[tuple[datetime, float | None]]:
    rows: list[tuple[datetime, float | None]] = [(T0 - timedelta(seconds=30), 37.0)]  # before
    for k in range(16):  # 0..300 s every 20 s
        rows.append((T0 + timedelta(seconds=20 * k), 37.0 + (k % 7) / 10))
    rows[5] = (rows[5][0], None)  # NULL at 80 s
    rows[9] = (rows[9][0], math.nan)  # NaN at 160 s
    rows.append((T0 + timedelta(seconds=200), 37.95))  # a second row at 200 s
    # 300 s → 760 s: 460 s without a row, longer than the 5 min gap limit: no data
    for k in range(22):  # 760..1180 s
        rows.append((T0 + timedelta(seconds=760 + 20 * k), 36.2 + (k % 5) / 10))
    rows.append((END + timedelta(seconds=10), 99.0))  # after the window: not counted
    return rows


def _order(row):
    t, v = row  # PostgreSQL's ORDER BY time, value: NaN after numbers, NULL last
    return (t, 2, 0.0) if v is None else ((t, 1, 0.0) if math.isnan(v) else (t, 0, v))


def reference(rows, var, start, end, gap) -> dict:
    """The definitions, written out row by row."""
    rows = sorted(rows, key=_order)
    before = [r for r in rows if r[0] < start][-1:]
    seq = before + [r for r in rows if start <= r[0] <= end]

    def finite(v):
        return v is not None and math.isfinite(v)

    samples = [v for t, v in seq if t >= start and finite(v)]
    weighted = covered = outside = 0.0
    for i, (t, v) in enumerate(seq):
        nxt = seq[i + 1][0] if i + 1 < len(seq) else end
        if not finite(v) or (nxt - t) > gap:
            continue
        held = (nxt - max(t, start)).total_seconds()
        weighted += v * held
        covered += held
        if (var.low is not None and v < var.low) or (var.high is not None and v > var.high):
            outside += held
    n = len(samples)
    mean = sum(samples) / n if n else None
    return {
        "samples": n,
        "min": min(samples) if n else None,
        "max": max(samples) if n else None,
        "mean": mean,
        "time_weighted_mean": weighted / covered if covered else None,
        "std": math.sqrt(sum((x - mean) ** 2 for x in samples) / (n - 1)) if n > 1 else None,
        "coverage": covered / (end - start).total_seconds(),
        "time_outside_limits_s": outside,
    }


_FINITE = "value IS NOT NULL AND value <> 'NaN' AND abs(value) <> 'Infinity'"
QUERY = (
    "WITH r AS ("
    " (SELECT time, value FROM {t} WHERE time < %(start)s"
    "  ORDER BY time DESC, value DESC LIMIT 1)"
    " UNION ALL SELECT time, value FROM {t} WHERE time >= %(start)s AND time <= %(end)s"
    "), s AS ("
    " SELECT value, time >= %(start)s AS inside, " + _FINITE + " AS finite,"
    "  extract(epoch FROM lead(time, 1, %(end)s) OVER w - time) AS full_s,"
    "  extract(epoch FROM lead(time, 1, %(end)s) OVER w - greatest(time, %(start)s))"
    "   AS held_s"
    " FROM r WINDOW w AS (ORDER BY time, value)"
    "), d AS (SELECT *, finite AND full_s <= %(gap)s AS data FROM s)"
    " SELECT count(*) FILTER (WHERE inside AND finite),"
    "  min(value) FILTER (WHERE inside AND finite),"
    "  max(value) FILTER (WHERE inside AND finite),"
    "  avg(value) FILTER (WHERE inside AND finite),"
    "  stddev_samp(value) FILTER (WHERE inside AND finite),"
    "  sum(value * held_s) FILTER (WHERE data)"
    "   / nullif(sum(held_s) FILTER (WHERE data), 0),"
    "  coalesce(sum(held_s) FILTER (WHERE data), 0),"
    "  coalesce(sum(held_s) FILTER (WHERE data AND (value < %(low)s OR value > %(high)s)), 0)"
    " FROM d"
)
NAMES = ("samples", "min", "max", "mean", "std", "time_weighted_mean", "covered_s", "outside_s")


def sql_stats(
    conn: psycopg.Connection, var: Variable, start: datetime, end: datetime, gap: timedelta
) -> dict[str, float | int | None]:
    """The window's statistics by the SQL definition (``coverage`` as ``covered_s``)."""
    low, high = var.limits
    row = conn.execute(
        sql.SQL(QUERY).format(t=sql.Identifier(var.table)),
        {"start": start, "end": end, "gap": gap.total_seconds(), "low": low, "high": high},
    ).fetchone()
    assert row is not None
    return {n: (None if v is None else (int(v) if n == "samples" else float(v)))
            for n, v in zip(NAMES, row, strict=True)}  # fmt: skip


def assert_equal_stats(got, want: dict, span_s: float) -> None:
    """``got`` (a :class:`~trending_panel.stats.Stats`) equals the SQL's: counts, minimum and
    maximum exactly, the rest to a relative 1e-9."""
    assert got.samples == want["samples"]
    assert got.min == want["min"] and got.max == want["max"]
    pairs = {
        "mean": (got.mean, want["mean"]),
        "std": (got.std, want["std"]),
        "time_weighted_mean": (got.time_weighted_mean, want["time_weighted_mean"]),
        "coverage": (got.coverage * span_s, want["covered_s"]),
        "outside": (got.time_outside_limits_s, want["outside_s"]),
    }
    for name, (a, b) in pairs.items():
        if b is None:
            assert a is None, name
        else:
            assert a is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), (name, a, b)

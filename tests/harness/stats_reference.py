"""The statistics' definitions as one SQL statement over every row of a window: what the
product computed before its statistics came from merged bucket moments. Kept here as an
independent reference that the summary's and the scan's results must equal."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from trending_panel.core.variables import Variable

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

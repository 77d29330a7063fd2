"""M4 buckets computed row by row in plain Python: what numpy's buckets must equal."""

from __future__ import annotations

import itertools
import math
import random
from datetime import timedelta

from psycopg import sql

from trending_panel.core import m4 as reduce
from trending_panel.core.m4 import NONE
from trending_panel.core.rows import to_us

GAP = 300_000_000  # 5 min in µs


def reference(rows: list[tuple[int, float]], origin: int, width: int, gap: int) -> dict:
    """bucket → (count, first, last, min, max, first NULL/NaN time, first inner outage)."""
    buckets: dict[int, list] = {}
    for t, v in rows:
        buckets.setdefault((t - origin) // width, []).append((t, v))
    out = {}
    for k, members in buckets.items():
        numbers = [m for m in members if not math.isnan(m[1])]
        lo = min(numbers, key=lambda m: m[1]) if numbers else None  # min() keeps the earliest
        hi = max(numbers, key=lambda m: m[1]) if numbers else None
        null = next((m[0] for m in members if math.isnan(m[1])), NONE)
        inner = next((a[0] for a, b in itertools.pairwise(members) if b[0] - a[0] > gap), NONE)
        out[k] = (len(members), members[0], members[-1], lo, hi, null, inner)
    return out


def as_dict(b: reduce.Buckets) -> dict:
    def row(t, v):
        return None if t == NONE else (int(t), float(v))

    out = {}
    for i in range(len(b)):
        out[int(b.index[i])] = (
            int(b.count[i]),
            (int(b.first_t[i]), float(b.first_v[i])),
            (int(b.last_t[i]), float(b.last_v[i])),
            row(b.min_t[i], b.min_v[i]),
            row(b.max_t[i], b.max_v[i]),
            int(b.null_t[i]),
            int(b.gap_t[i]),
        )
    return out


def same(a: dict, b: dict) -> bool:
    """Equal, with NaN equal to NaN."""

    def norm(x):
        if isinstance(x, tuple):
            return tuple(norm(i) for i in x)
        if isinstance(x, float) and math.isnan(x):
            return "NaN"
        return x

    return {k: norm(v) for k, v in a.items()} == {k: norm(v) for k, v in b.items()}


def plant_rows(seed: int, n: int = 5000) -> list[tuple[int, float]]:
    """Irregular rows with repeated values, ties in time, NaN rows, spikes and outages."""
    rng = random.Random(seed)
    t = 1_677_000_000_000_000
    rows = []
    for k in range(n):
        step = rng.choice([0, 1_000_000, 1_500_000, 2_000_000, 2_000_000])
        if k % 911 == 0:
            step = rng.randint(301, 3000) * 1_000_000  # an outage
        t += step
        value = round(rng.gauss(37.2, 0.05), 2)
        if k % 397 == 0:
            value = math.nan
        if k % 1201 == 0:
            value = 99.0  # a one-sample spike
        rows.append((t, value))
    rows.sort(key=lambda r: (r[0], math.isnan(r[1]), r[1]))
    return rows


def db_reference(conn, var, settings) -> dict:
    rows = conn.execute(
        sql.SQL("SELECT time, value FROM {} WHERE time IS NOT NULL ORDER BY time, value").format(
            sql.Identifier(var.table)
        )
    ).fetchall()
    us = [(to_us(t), math.nan if v is None else v) for t, v in rows]
    bucket = settings.summary_bucket // timedelta(microseconds=1)
    return reference(us, 0, bucket, settings.gap // timedelta(microseconds=1))

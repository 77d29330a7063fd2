"""M4 buckets (numpy) against a plain-Python reference computed row by row."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest

from trending_panel import reduce
from trending_panel.reduce import NONE

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


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("width", [1_000_000, 60_000_000, 3_600_000_000])
def test_aggregate_equals_the_row_by_row_reference(seed, width):
    rows = plant_rows(seed)
    t = np.array([r[0] for r in rows], dtype="int64")
    v = np.array([r[1] for r in rows], dtype="float64")
    got = reduce.aggregate(t, v, 0, width, GAP)
    assert same(as_dict(got), reference(rows, 0, width, GAP))
    assert int(got.count.sum()) == len(rows)


def test_buckets_merge_like_rows_chunked_or_not():
    """Built a day at a time, or merged into coarser columns: the same as from the rows."""
    rows = plant_rows(7, 20_000)
    t = np.array([r[0] for r in rows], dtype="int64")
    v = np.array([r[1] for r in rows], dtype="float64")
    minute = 60_000_000
    whole = reduce.aggregate(t, v, 0, minute, GAP)
    cut = (t // (37 * minute)) * (37 * minute)  # chunk edges on the bucket grid
    parts = [reduce.aggregate(t[cut == c], v[cut == c], 0, minute, GAP) for c in np.unique(cut)]
    assert same(as_dict(reduce.Buckets.concat(parts)), as_dict(whole))
    # minutes merged into 20-minute columns from an origin on the grid == rows into columns
    origin = int(t[0]) // minute * minute
    cols = reduce.columns_of(whole, minute, origin, 20 * minute, 10_000, GAP)
    direct = reduce.aggregate(t, v, origin, 20 * minute, GAP)
    assert same(as_dict(cols), as_dict(direct))


def test_points_keep_every_extreme_spike_nan_and_outage():
    rows = plant_rows(11, 20_000)
    t = np.array([r[0] for r in rows], dtype="int64")
    v = np.array([r[1] for r in rows], dtype="float64")
    columns = 500
    column = -(-(int(t[-1]) - int(t[0])) // columns)
    b = reduce.aggregate(t, v, int(t[0]), column, GAP)
    p = reduce.points(b, GAP)
    assert len(p.times) <= 4 * columns  # first, last, min and max per column, at most
    assert p.rows == len(rows)
    marked = np.where(np.isnan(p.values), -1, p.values).tolist()
    kept = set(zip(p.times.tolist(), marked, strict=True))
    ref = reference(rows, int(t[0]), column, GAP)
    for k, members in ref.items():
        for m in (members[1], members[2], members[3], members[4]):
            if m is not None:
                assert (m[0], -1 if math.isnan(m[1]) else m[1]) in kept, (k, m)
    spikes = [r[0] for r in rows if r[1] == 99.0]
    assert spikes and all(s in p.times for s in spikes)
    # every outage (consecutive rows more than the gap apart) is a break after its first row,
    # and each column's first NULL/NaN row is a break unless it is a kept row itself
    outages = {a[0] for a, b in itertools.pairwise(rows) if b[0] - a[0] > GAP}
    nulls = {m[5] for m in ref.values() if m[5] != NONE}
    breaks = set(p.breaks.tolist())
    assert outages and outages <= breaks and breaks <= outages | nulls
    assert all(n in breaks or n in p.times for n in nulls)


def test_reduced_vertices_break_at_outages_and_hold_only_visible_steps():
    from datetime import timedelta

    from trending_panel.traces import reduced_vertices

    s = 1_000_000
    cols = reduced_vertices(
        np.array([0, 1 * s, 100 * s, 500 * s, 501 * s], dtype="int64"),
        np.array([1.0, 2.0, 3.0, np.nan, 4.0]),
        np.array([100 * s], dtype="int64"),
        timedelta(seconds=10),
    )
    t = cols["time"].astype("int64").tolist()
    v = cols["value"].tolist()
    # 0→1 s: shorter than a column, no corner; 1→100 s: a visible hold, corner at 100 s;
    # outage after 100 s: NaN break, no corner to 500 s; 500→501 s: no corner, NaN row.
    assert t == [0, 1 * s, 100 * s, 100 * s, 100 * s, 500 * s, 501 * s]
    assert v[:4] == [1.0, 2.0, 2.0, 3.0] and math.isnan(v[4]) and math.isnan(v[5]) and v[6] == 4.0
    assert cols["sample"].tolist() == [1, 1, 0, 1, 0, 1, 1]

"""M4 buckets (numpy) against a plain-Python reference computed row by row."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from tests.harness.m4_reference import as_dict, plant_rows, reference, same
from trending_panel.core import m4 as reduce
from trending_panel.core.m4 import NONE

GAP = 300_000_000  # 5 min in µs


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

    from trending_panel.core.steps import reduced_vertices

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

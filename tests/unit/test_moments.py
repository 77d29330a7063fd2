"""A window's statistics from merged bucket moments against the definitions written out row by
row: any rows (NULL/NaN/infinite values, duplicate times, outages), any window (starting or
ending inside a bucket, inside a gap, on a NULL), any grid; whole buckets, rows, or both."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from trending_panel.core import m4 as reduce

S = 1_000_000  # µs
GAP = 300 * S
LIMITS = (36.5, 37.8)


def _order(row):  # PostgreSQL's ORDER BY time, value: NaN after numbers
    t, v = row
    return (t, 1, 0.0) if math.isnan(v) else (t, 0, v)


def reference(rows, start, end, gap=GAP, limits=LIMITS) -> dict:
    """The definitions, row by row (the same as tests/test_stats.py, in µs)."""
    rows = sorted(rows, key=_order)
    before = [r for r in rows if r[0] < start][-1:]
    seq = before + [r for r in rows if start <= r[0] <= end]
    samples = [v for t, v in seq if t >= start and math.isfinite(v)]
    area = covered = outside = 0.0
    for i, (t, v) in enumerate(seq):
        nxt = seq[i + 1][0] if i + 1 < len(seq) else end
        if not math.isfinite(v) or (nxt - t) > gap:
            continue
        held = (nxt - max(t, start)) / S
        area += v * held
        covered += held
        if v < limits[0] or v > limits[1]:
            outside += held
    n = len(samples)
    mean = sum(samples) / n if n else None
    return {
        "samples": n,
        "min": min(samples) if n else None,
        "max": max(samples) if n else None,
        "mean": mean,
        "std": math.sqrt(sum((x - mean) ** 2 for x in samples) / (n - 1)) if n > 1 else None,
        "twm": area / covered if covered else None,
        "covered": covered,
        "outside": outside,
    }


def from_totals(t: reduce.Totals) -> dict:
    n = t.samples
    covered = t.covered_us / S
    return {
        "samples": n,
        "min": t.lo if n else None,
        "max": t.hi if n else None,
        "mean": t.total / n if n else None,
        "std": math.sqrt(t.m2 / (n - 1)) if n > 1 else None,
        "twm": t.area / covered if covered else None,
        "covered": covered,
        "outside": (t.below_us + t.above_us) / S,
    }


def assert_same(got: dict, want: dict) -> None:
    assert got["samples"] == want["samples"]
    assert got["min"] == want["min"] and got["max"] == want["max"]  # exactly
    for name in ("mean", "std", "twm", "covered", "outside"):
        a, b = got[name], want[name]
        if b is None:
            assert a is None, name
        else:
            assert a is not None, name
            assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), (name, a, b)


def arrays(rows):
    rows = sorted(rows, key=_order)
    t = np.array([r[0] for r in rows], dtype="int64")
    v = np.array([r[1] for r in rows], dtype="float64")
    return t, v


def by_summary(rows, start, end, width) -> reduce.Totals:
    """As the summary does it: whole buckets of the grid, rows of the buckets at the ends."""
    t, v = arrays(rows)
    buckets = reduce.aggregate(t, v, 0, width, GAP, LIMITS)
    b0, b1 = -(-start // width), (end + 1) // width
    if b0 >= b1:
        inside = (t >= start) & (t <= end)
        parts = [reduce.Buckets.of_rows(t[inside], v[inside])]
    else:
        head = (t >= start) & (t < b0 * width)
        tail = (t >= b1 * width) & (t <= end)
        whole = buckets.take((buckets.index >= b0) & (buckets.index < b1))
        parts = [reduce.Buckets.of_rows(t[head], v[head]), whole,
                 reduce.Buckets.of_rows(t[tail], v[tail])]  # fmt: skip
    prior = np.flatnonzero(t < start)
    before = (int(t[prior[-1]]), float(v[prior[-1]])) if len(prior) else None
    return reduce.window_totals(reduce.Buckets.concat(parts), before, start, end, GAP, LIMITS)


values = st.one_of(
    st.floats(36.0, 38.5, allow_nan=False).map(lambda x: round(x, 3)),
    st.sampled_from([math.nan, math.inf, -math.inf, 37.0, 36.4, 37.9]),
)
steps = st.sampled_from([0, 1, 2, 5, 30, 59, 60, 61, 299, 300, 301, 900]).map(lambda s: s * S)
row_lists = st.lists(st.tuples(steps, values), min_size=0, max_size=120)


def rows_of(pairs, t0=1_700_000_000 * S):
    out, t = [], t0
    for step, v in pairs:
        t += step
        out.append((t, v))
    return out


@settings(max_examples=300, deadline=None)
@given(
    pairs=row_lists,
    a=st.integers(-200, 4000),
    length=st.integers(0, 6000),
    width=st.sampled_from([1, 7, 60, 61, 3600]),
)
def test_merged_moments_equal_the_definitions(pairs, a, length, width):
    rows = rows_of(pairs)
    t0 = 1_700_000_000 * S
    start, end = t0 + a * S, t0 + (a + length) * S
    want = reference(rows, start, end)
    # every row of the window, each its own bucket
    t, v = arrays(rows)
    inside = (t >= start) & (t <= end)
    prior = np.flatnonzero(t < start)
    before = (int(t[prior[-1]]), float(v[prior[-1]])) if len(prior) else None
    direct = reduce.window_totals(
        reduce.Buckets.of_rows(t[inside], v[inside]), before, start, end, GAP, LIMITS
    )
    assert_same(from_totals(direct), want)
    # whole buckets plus the rows at the ends
    assert_same(from_totals(by_summary(rows, start, end, width * S)), want)


def test_windows_that_start_and_end_inside_a_gap_a_bucket_or_on_a_null():
    rows = [(0, 37.0), (10 * S, 37.2), (20 * S, math.nan), (25 * S, 37.1), (400 * S, 36.0),
            (430 * S, 38.0), (430 * S, 37.0), (460 * S, math.nan), (470 * S, 37.5)]  # fmt: skip
    windows = [(5, 450), (20, 470), (100, 300), (22, 22), (0, 500), (430, 430), (26, 399)]
    for start, end in ((a * S, b * S) for a, b in windows):
        want = reference(rows, start, end)
        for width in (S, 7 * S, 60 * S, 3600 * S):
            assert_same(from_totals(by_summary(rows, start, end, width)), want)


def test_chunked_aggregation_is_the_same_as_in_one_go(monkeypatch):
    rng = np.random.default_rng(5)
    t = np.cumsum(rng.choice([0, S, 2 * S, 400 * S], size=5000, p=[0.05, 0.6, 0.34, 0.01]))
    v = np.round(rng.normal(37.2, 0.5, size=5000), 2)
    v[::97] = np.nan
    whole = reduce.aggregate(t, v, 0, 60 * S, GAP, LIMITS)
    monkeypatch.setattr(reduce, "CHUNK_ROWS", 333)
    chunked = reduce.aggregate(t, v, 0, 60 * S, GAP, LIMITS)
    for name in ("index", "count", "first_t", "last_t", "min_t", "max_t", "n", "covered",
                 "below", "above", "gap_t", "null_t"):  # fmt: skip
        assert np.array_equal(getattr(whole, name), getattr(chunked, name)), name
    for name in ("total", "m2", "area"):
        assert np.allclose(getattr(whole, name), getattr(chunked, name), rtol=1e-12), name
    assert np.array_equal(whole.lo, chunked.lo, equal_nan=True)

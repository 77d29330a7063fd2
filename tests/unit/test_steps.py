"""Drawing by exception: steps that hold, breaks at NULL/NaN and at outages, never a bridge."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from trending_panel.core.steps import step_vertices

T0 = datetime(2023, 5, 4, 10, 0)
GAP = timedelta(minutes=5)


def at(*seconds: float) -> np.ndarray:
    return np.array([T0 + timedelta(seconds=s) for s in seconds], dtype="datetime64[us]")


def vertices(cols) -> list[tuple[float, float, int]]:
    base = np.datetime64(T0, "us")
    secs = (cols["time"] - base) / np.timedelta64(1, "s")
    return [
        (float(t), float(v), int(s))
        for t, v, s in zip(secs, cols["value"], cols["sample"], strict=True)
    ]


def same(a, b) -> bool:
    return len(a) == len(b) and all(
        x[0] == y[0] and x[2] == y[2] and (x[1] == y[1] or (np.isnan(x[1]) and np.isnan(y[1])))
        for x, y in zip(a, b, strict=True)
    )


def test_value_holds_until_the_next_row():
    cols = step_vertices(at(0, 60, 240), np.array([1.0, 2.0, 2.5]), GAP)
    assert vertices(cols) == [(0, 1.0, 1), (60, 1.0, 0), (60, 2.0, 1), (240, 2.0, 0), (240, 2.5, 1)]


def test_repeated_value_needs_no_corner():
    cols = step_vertices(at(0, 10), np.array([1.0, 1.0]), GAP)
    assert vertices(cols) == [(0, 1.0, 1), (10, 1.0, 1)]


def test_thirty_minute_outage_is_a_break_not_a_segment():
    cols = step_vertices(at(0, 60, 60 + 1800, 1900), np.array([1.0, 2.0, 3.0, 3.5]), GAP)
    v = vertices(cols)
    # the row before the outage ends the line; a NaN sits between the two rows
    assert same(
        v,
        [
            (0, 1.0, 1),
            (60, 1.0, 0),
            (60, 2.0, 1),
            (60, np.nan, 0),
            (1860, 3.0, 1),
            (1900, 3.0, 0),
            (1900, 3.5, 1),
        ],
    )
    # no vertex carries a finite value strictly inside the outage
    inside = [x for x in v if 60 < x[0] < 1860]
    assert inside == []


def test_hold_just_under_the_limit_is_not_an_outage():
    cols = step_vertices(at(0, 299), np.array([1.0, 2.0]), GAP)
    assert not np.isnan(cols["value"]).any()


def test_null_or_nan_is_unknown_until_the_next_row():
    cols = step_vertices(at(0, 10, 20, 30), np.array([1.0, np.nan, 2.0, 3.0]), GAP)
    assert same(
        vertices(cols),
        [(0, 1.0, 1), (10, 1.0, 0), (10, np.nan, 1), (20, 2.0, 1), (30, 2.0, 0), (30, 3.0, 1)],
    )


def test_streaming_continuation_equals_drawing_everything_at_once():
    times = at(0, 5, 12, 400, 410, 420, 500)
    values = np.array([1.0, 1.5, np.nan, 2.0, 2.0, 2.5, 1.0])
    whole = vertices(step_vertices(times, values, GAP))
    parts = []
    prev = None
    for lo, hi in ((0, 2), (2, 3), (3, 6), (6, 7)):
        parts += vertices(step_vertices(times[lo:hi], values[lo:hi], GAP, prev=prev))
        prev = (times[hi - 1].item(), values[hi - 1])
    assert same(parts, whole)


def test_every_row_is_a_sample_vertex_exactly_once():
    rng = np.random.default_rng(1)
    secs = np.sort(rng.uniform(0, 7200, 500))
    values = rng.normal(37, 0.1, 500)
    values[rng.integers(0, 500, 20)] = np.nan
    cols = step_vertices(at(*secs), values, GAP)
    samples = cols["sample"] == 1
    assert samples.sum() == 500
    assert np.array_equal(cols["time"][samples], at(*secs))


def test_holds_shorter_than_a_pixel_get_no_corner_but_every_row_stays():
    """A dense raw trace: a corner one pixel column would not show is left out; a hold of a
    pixel or more keeps its corner, and so does a hold into a NaN (where the line breaks)."""
    values = np.array([1.0, 2.0, 3.0, 4.0, np.nan, 5.0])
    cols = step_vertices(at(0, 1, 2, 12, 13, 14), values, GAP, pixel=timedelta(seconds=5))
    assert same(
        vertices(cols),
        [(0, 1.0, 1), (1, 2.0, 1), (2, 3.0, 1), (12, 3.0, 0), (12, 4.0, 1), (13, 4.0, 0),
         (13, np.nan, 1), (14, 5.0, 1)],
    )  # fmt: skip
    every = step_vertices(at(0, 1, 2, 12, 13, 14), values, GAP)
    rows = [v for v in vertices(every) if v[2] == 1]
    assert same([v for v in vertices(cols) if v[2] == 1], rows)

"""Rows as the historian wrote them → the vertices of the line a person should see.

The historian logs by exception: a value holds until the next row. Each row is drawn as a step
(hold, then jump), never as a slope. A NULL or NaN value is unknown from its row to the next
one: the line breaks there. Two rows further apart than the configured gap limit are an outage:
the line breaks after the first, and the interval is never bridged.

Bokeh's own ``Step`` glyph cannot be hovered, so the steps are built here as vertices of an
ordinary line. The ``sample`` column tells database rows (1) from drawing vertices (0).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

Columns = dict[str, np.ndarray]
COLUMNS = ("time", "value", "sample")


def empty() -> Columns:
    return {
        "time": np.array([], dtype="datetime64[us]"),
        "value": np.array([], dtype="float64"),
        "sample": np.array([], dtype="int8"),
    }


def with_lead(
    lead: tuple[datetime, float | None] | None,
    times: np.ndarray,
    values: np.ndarray,
    gap: timedelta,
    pixel: timedelta | None = None,
) -> Columns:
    """Like :func:`step_vertices`, drawn from ``lead``: the last row before the window, whose
    value still holds at the window's start. It is a vertex (``sample`` 0), not a window row.
    """
    if lead is None:
        return step_vertices(times, values, gap, pixel=pixel)
    value = np.nan if lead[1] is None else lead[1]
    head = {
        "time": np.array([lead[0]], dtype="datetime64[us]"),
        "value": np.array([value], dtype="float64"),
        "sample": np.zeros(1, dtype="int8"),
    }
    body = step_vertices(times, values, gap, prev=(lead[0], value), pixel=pixel)
    return {k: np.concatenate([head[k], body[k]]) for k in COLUMNS}


def step_vertices(
    times: np.ndarray,
    values: np.ndarray,
    gap: timedelta,
    prev: tuple[datetime | np.datetime64, float] | None = None,
    pixel: timedelta | None = None,
) -> Columns:
    """Vertices for rows ``times``/``values`` (time-ordered), continuing after ``prev``.

    ``prev`` is the last row already drawn (for streaming); the first new row then gets the
    hold corner or gap break it needs relative to that row. With ``pixel`` (the time one pixel
    column spans), a hold shorter than that gets no corner: on screen it is the same line, and
    a dense raw trace (up to four rows a pixel) sends and draws about half the vertices. The
    rows themselves are all there, and a hold into a NaN keeps its corner.
    """
    times = np.asarray(times, dtype="datetime64[us]")
    values = np.asarray(values, dtype="float64")
    n = len(times)
    if n == 0:
        return empty()
    if prev is not None:
        prev_t = np.array([prev[0]], dtype="datetime64[us]")
        prev_v = np.array([prev[1]], dtype="float64")
        before_t = np.concatenate([prev_t, times[:-1]])
        before_v = np.concatenate([prev_v, values[:-1]])
        has_before = np.ones(n, dtype=bool)
    else:
        before_t = np.concatenate([times[:1], times[:-1]])
        before_v = np.concatenate([values[:1], values[:-1]])
        has_before = np.arange(n) > 0

    gap_us = np.timedelta64(int(gap / timedelta(microseconds=1)), "us")
    is_gap = has_before & ((times - before_t) > gap_us)
    # A hold corner is needed where the previous value is known and differs from this one.
    is_corner = has_before & ~is_gap & np.isfinite(before_v) & ~(before_v == values)
    if pixel is not None:
        pixel_us = np.timedelta64(int(pixel / timedelta(microseconds=1)), "us")
        is_corner &= ((times - before_t) >= pixel_us) | ~np.isfinite(values)
    # A NaN after a known value also needs its corner: hold the value up to the unknown row.
    extra = is_gap | is_corner
    total = n + int(extra.sum())

    out_t = np.empty(total, dtype="datetime64[us]")
    out_v = np.empty(total, dtype="float64")
    out_s = np.zeros(total, dtype="int8")
    # Position of each row in the output: shifted by the extra vertices before it.
    row_pos = np.arange(n) + np.cumsum(extra)
    extra_pos = row_pos[extra] - 1
    out_t[row_pos] = times
    out_v[row_pos] = values
    out_s[row_pos] = 1
    # Gap: end the line at the previous row (NaN at its time). Corner: hold previous value.
    gap_rows = is_gap[extra]
    out_t[extra_pos] = np.where(gap_rows, before_t[extra], times[extra])
    out_v[extra_pos] = np.where(gap_rows, np.nan, before_v[extra])
    return {"time": out_t, "value": out_v, "sample": out_s}


def hold(
    last: tuple[datetime, float | None] | None, until: datetime | None, gap: timedelta
) -> dict[str, list]:
    """The segment that carries the last row's value to ``until`` (the newest sample time).

    No row since ``last`` means the value has not moved past the deadband; beyond the gap limit
    that is no longer known, and a NULL/NaN holds nothing.
    """
    if last is None or until is None or last[1] is None or last[1] != last[1]:
        return {"time": [], "value": []}
    if until <= last[0] or until - last[0] > gap:
        return {"time": [], "value": []}
    return {"time": [last[0], until], "value": [last[1], last[1]]}


def reduced_vertices(
    times_us: np.ndarray,
    values: np.ndarray,
    breaks_us: np.ndarray,
    min_hold: timedelta,
    lead: tuple[datetime, float | None] | None = None,
    gap: timedelta | None = None,
) -> Columns:
    """Vertices for rows reduced to a few per pixel column (see :mod:`trending_panel.reduce`).

    Outages are given (``breaks_us``: the line ends at the row at that time), not inferred:
    consecutive kept rows may be far apart without an outage between them. A hold corner is
    drawn only where the hold is at least ``min_hold`` long (one pixel column); a shorter one
    would fall inside a pixel. ``lead``, the row before the window, starts the line at its
    left edge (broken if it is older than ``gap``).
    """
    t = np.asarray(times_us, dtype="int64")
    v = np.asarray(values, dtype="float64")
    s = np.ones(len(t), dtype="int8")
    b = np.asarray(breaks_us, dtype="int64")
    if lead is not None:
        lead_t = int(np.datetime64(lead[0], "us").astype("int64"))
        t = np.r_[lead_t, t]
        v = np.r_[np.nan if lead[1] is None else lead[1], v]
        s = np.r_[np.int8(0), s]
        if gap is not None and len(t) > 1 and t[1] - lead_t > gap / timedelta(microseconds=1):
            b = np.r_[lead_t, b]
    if len(t) == 0:
        return empty()
    # Rows and breaks in one sequence; at equal times the row comes first, then its break.
    kind = np.r_[np.zeros(len(t), "int8"), np.ones(len(b), "int8")]
    all_t = np.r_[t, b]
    all_v = np.r_[v, np.full(len(b), np.nan)]
    all_s = np.r_[s, np.zeros(len(b), "int8")]
    order = np.lexsort((kind, all_t))
    all_t, all_v, all_s, kind = all_t[order], all_v[order], all_s[order], kind[order]
    hold_us = min_hold / timedelta(microseconds=1)
    prev_row = np.r_[False, kind[:-1] == 0] & (kind == 0)
    before_v = np.r_[np.nan, all_v[:-1]]
    before_t = np.r_[0, all_t[:-1]]
    corner = (
        prev_row & np.isfinite(before_v) & ~(before_v == all_v) & ((all_t - before_t) >= hold_us)
    )
    n_out = len(all_t) + int(corner.sum())
    pos = np.arange(len(all_t)) + np.cumsum(corner)
    out_t = np.empty(n_out, dtype="int64")
    out_v = np.empty(n_out, dtype="float64")
    out_s = np.zeros(n_out, dtype="int8")
    out_t[pos], out_v[pos], out_s[pos] = all_t, all_v, all_s
    out_t[pos[corner] - 1] = all_t[corner]
    out_v[pos[corner] - 1] = before_v[corner]
    return {"time": out_t.view("datetime64[us]"), "value": out_v, "sample": out_s}

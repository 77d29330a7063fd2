"""Rows as the historian holds them, and the time units they travel in.

A row is ``(time, value)``: a naive timestamp in the data's zone, and a float or ``None`` for
SQL NULL. A :class:`Series` is a variable's rows as numpy arrays (NaN for NULL and NaN: a
gap, never a zero). Inside the process times are microseconds since 1970 (the buckets' and
the grids' unit); in the browser, Bokeh's milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

Row = tuple[datetime, float | None]

EPOCH = datetime(1970, 1, 1)
US = timedelta(microseconds=1)


def to_us(t: datetime) -> int:
    """Naive time → microseconds since 1970."""
    return (t - EPOCH) // US


def from_us(us: int) -> datetime:
    """Microseconds since 1970 → naive time."""
    return EPOCH + timedelta(microseconds=int(us))


def to_ms(t: datetime) -> float:
    """Naive data-zone time → Bokeh's axis unit (ms; the axis shows the naive value as is)."""
    return (t - EPOCH) / timedelta(milliseconds=1)


def from_ms(ms: float) -> datetime:
    """Bokeh's axis unit → naive data-zone time (to the microsecond)."""
    return EPOCH + timedelta(microseconds=round(ms * 1000))


def us_row(row: Row | None) -> tuple[int, float] | None:
    """A row as (µs, value), NaN for NULL; None stays None."""
    if row is None:
        return None
    return to_us(row[0]), math.nan if row[1] is None else float(row[1])


@dataclass
class Series:
    """Rows of one variable in time order. ``values`` holds NaN for NULL (a gap, not a zero)."""

    times: np.ndarray  # datetime64[us]
    values: np.ndarray  # float64
    #: The last row before the window, if asked for: its value still holds at the window's
    #: start (by-exception logging), so the trend can begin at the left edge.
    before: Row | None = None

    @classmethod
    def from_rows(cls, rows: Sequence[Row]) -> Series:
        times = np.array([r[0] for r in rows], dtype="datetime64[us]")
        values = np.array([math.nan if r[1] is None else r[1] for r in rows], dtype="float64")
        return cls(times, values)

    @classmethod
    def empty(cls) -> Series:
        return cls(np.array([], dtype="datetime64[us]"), np.array([], dtype="float64"))

    def __len__(self) -> int:
        return len(self.times)

    def rows(self) -> list[Row]:
        """The rows as ``(time, value)`` (NaN → None)."""
        return [
            (from_us(t), None if math.isnan(v) else float(v))
            for t, v in zip(self.times.view("int64").tolist(), self.values.tolist(), strict=True)
        ]

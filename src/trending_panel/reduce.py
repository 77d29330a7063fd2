"""M4 aggregation over a fixed time grid, in numpy: what a plot of a given width needs.

A line chart ``w`` pixels wide is drawn exactly like all of its rows from four rows per pixel
column: the first, the last, the minimum and the maximum (M4, Jugel et al., VLDB 2014). This
module knows only arrays of times (int64 microseconds since 1970) and values (float64, NaN for
NULL and NaN rows); it never touches the database or Bokeh.

Everything is one operation, :func:`regroup`: buckets of a fine grid merged into the buckets of
a coarser one. A raw row is a bucket of its own, so reducing raw rows, building the in-memory
summary and answering a window from it are the same code. Buckets merge associatively, so a
summary built in chunks equals one built in one go, and a live row merges into its bucket.

What a bucket holds besides the four rows: the number of rows, the first NULL/NaN row (the
line must break there) and the first outage *inside* the bucket (two consecutive rows of the
bucket further apart than the gap limit). Outages between buckets are found when they are
merged or drawn, from one bucket's last row and the next one's first.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

#: "No such row" in a time column (no time can be this early).
NONE = np.iinfo(np.int64).min
_TIME_FIELDS = ("first_t", "last_t", "min_t", "max_t", "null_t", "gap_t")


@dataclass
class Buckets:
    """Non-empty buckets of one grid, in time order; every column has one entry per bucket."""

    index: np.ndarray  # int64 bucket number on its grid
    count: np.ndarray  # int64 rows (NULL and NaN rows included)
    first_t: np.ndarray
    first_v: np.ndarray
    last_t: np.ndarray
    last_v: np.ndarray
    min_t: np.ndarray  # NONE where the bucket has no number (only NULL/NaN rows)
    min_v: np.ndarray
    max_t: np.ndarray
    max_v: np.ndarray
    null_t: np.ndarray  # first NULL/NaN row, or NONE
    gap_t: np.ndarray  # last row before the first outage inside the bucket, or NONE

    def __len__(self) -> int:
        return len(self.index)

    @classmethod
    def empty(cls) -> Buckets:
        return cls(
            **{
                f.name: np.empty(0, dtype="float64" if f.name.endswith("_v") else "int64")
                for f in fields(cls)
            }
        )

    @classmethod
    def of_rows(cls, times: np.ndarray, values: np.ndarray) -> Buckets:
        """Each row a bucket of its own (index = its position); rows in time order."""
        t = np.asarray(times, dtype="int64")
        v = np.asarray(values, dtype="float64")
        n = len(t)
        number = ~np.isnan(v)
        return cls(
            index=np.arange(n, dtype="int64"),
            count=np.ones(n, dtype="int64"),
            first_t=t,
            first_v=v,
            last_t=t,
            last_v=v,
            min_t=np.where(number, t, NONE),
            min_v=v,
            max_t=np.where(number, t, NONE),
            max_v=v,
            null_t=np.where(number, NONE, t),
            gap_t=np.full(n, NONE, dtype="int64"),
        )

    def take(self, selector: np.ndarray | slice) -> Buckets:
        return Buckets(**{f.name: getattr(self, f.name)[selector] for f in fields(self)})

    @staticmethod
    def concat(parts: list[Buckets]) -> Buckets:
        parts = [p for p in parts if len(p)]
        if not parts:
            return Buckets.empty()
        if len(parts) == 1:
            return parts[0]
        return Buckets(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Buckets)}
        )

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, f.name).nbytes for f in fields(self))


def _first_per_group(starts: np.ndarray, groups: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """For each group, the position of its first member where ``mask`` holds, or -1."""
    out = np.full(len(starts), -1, dtype="int64")
    hit = np.flatnonzero(mask)
    if len(hit):
        g, first = np.unique(groups[hit], return_index=True)
        out[g] = hit[first]
    return out


def _extreme_per_group(
    starts: np.ndarray, groups: np.ndarray, values: np.ndarray, valid: np.ndarray, largest: bool
) -> np.ndarray:
    """Position of each group's min (or max) among ``valid`` members, earliest on ties; -1."""
    out = np.full(len(starts), -1, dtype="int64")
    hit = np.flatnonzero(valid)
    if not len(hit):
        return out
    v, g = values[hit], groups[hit]
    seg = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    ufunc = np.maximum if largest else np.minimum
    best = ufunc.reduceat(v, seg)
    best_of_member = np.repeat(best, np.diff(np.r_[seg, len(v)]))
    winners = np.flatnonzero(v == best_of_member)
    wg, first = np.unique(g[winners], return_index=True)
    out[wg] = hit[winners[first]]
    return out


def regroup(b: Buckets, key: np.ndarray, gap_us: int) -> Buckets:
    """Merge consecutive buckets with the same ``key`` (non-decreasing) into one each.

    ``key`` becomes the new ``index``. Outages between two merged buckets (the later one's
    first row more than ``gap_us`` after the earlier one's last) become the merged bucket's
    ``gap_t`` when it has none earlier.
    """
    n = len(b)
    if n == 0:
        return Buckets.empty()
    key = np.asarray(key, dtype="int64")
    new = np.r_[True, key[1:] != key[:-1]]
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], n] - 1
    groups = np.cumsum(new) - 1

    lo = _extreme_per_group(starts, groups, b.min_v, b.min_t != NONE, largest=False)
    hi = _extreme_per_group(starts, groups, b.max_v, b.max_t != NONE, largest=True)
    nul = _first_per_group(starts, groups, b.null_t != NONE)
    # A gap inside a child, or between a child and the next child of the same group.
    same_next = np.r_[~new[1:], False]
    between = np.r_[(b.first_t[1:] - b.last_t[:-1]) > gap_us, False] & same_next
    child_gap = np.where(b.gap_t != NONE, b.gap_t, np.where(between, b.last_t, NONE))
    gap = _first_per_group(starts, groups, child_gap != NONE)

    def pick(pos: np.ndarray, column: np.ndarray, missing: float | int) -> np.ndarray:
        return np.where(pos >= 0, column[np.maximum(pos, 0)], missing)

    return Buckets(
        index=key[starts],
        count=np.add.reduceat(b.count, starts),
        first_t=b.first_t[starts],
        first_v=b.first_v[starts],
        last_t=b.last_t[ends],
        last_v=b.last_v[ends],
        min_t=pick(lo, b.min_t, NONE),
        min_v=pick(lo, b.min_v, np.nan),
        max_t=pick(hi, b.max_t, NONE),
        max_v=pick(hi, b.max_v, np.nan),
        null_t=pick(nul, b.null_t, NONE),
        gap_t=pick(gap, child_gap, NONE),
    )


def grid_key(times_us: np.ndarray, origin_us: int, width_us: int) -> np.ndarray:
    """Bucket number of each time on the grid ``origin + k * width`` (floor division)."""
    return (np.asarray(times_us, dtype="int64") - origin_us) // width_us


def aggregate(
    times_us: np.ndarray, values: np.ndarray, origin_us: int, width_us: int, gap_us: int
) -> Buckets:
    """Rows (time order) → one bucket per non-empty slot of the grid ``origin + k * width``."""
    rows = Buckets.of_rows(times_us, values)
    return regroup(rows, grid_key(rows.first_t, origin_us, width_us), gap_us)


@dataclass
class Points:
    """What to draw: the kept rows in time order, and where the line must break."""

    times: np.ndarray  # int64 µs
    values: np.ndarray  # float64 (a first or last row may be a NULL/NaN row)
    #: int64 µs: the line ends at the row at this time (an outage follows), or at this time
    #: (a NULL/NaN row inside a bucket, drawn as the break it is rather than as a fifth row).
    breaks: np.ndarray
    rows: int  # rows these points stand for


def points(b: Buckets, gap_us: int) -> Points:
    """At most four rows per bucket (first, last, min, max) and the breaks of the line:
    outages (inside buckets, and between consecutive buckets: the earlier one's last row)
    and each bucket's first NULL/NaN row."""
    if not len(b):
        return Points(np.empty(0, "int64"), np.empty(0, "float64"), np.empty(0, "int64"), rows=0)
    cand_t = np.concatenate([b.first_t, b.last_t, b.min_t, b.max_t])
    cand_v = np.concatenate([b.first_v, b.last_v, b.min_v, b.max_v])
    keep = cand_t != NONE
    cand_t, cand_v = cand_t[keep], cand_v[keep]
    # The same row is often first and min, say: keep each (time, value) once. NaN compares
    # unequal to itself, so compare the bit patterns.
    bits = cand_v.view("int64")
    order = np.lexsort((bits, cand_t))
    cand_t, cand_v, bits = cand_t[order], cand_v[order], bits[order]
    distinct = np.r_[True, (cand_t[1:] != cand_t[:-1]) | (bits[1:] != bits[:-1])]
    between = (b.first_t[1:] - b.last_t[:-1]) > gap_us
    inner_null = (b.null_t != NONE) & (b.null_t != b.first_t) & (b.null_t != b.last_t)
    breaks = np.concatenate(
        [b.gap_t[b.gap_t != NONE], b.last_t[:-1][between], b.null_t[inner_null]]
    )
    return Points(cand_t[distinct], cand_v[distinct], np.unique(breaks), rows=int(b.count.sum()))


def columns_of(
    b: Buckets, bucket_us: int, start_us: int, column_us: int, columns: int, gap_us: int
) -> Buckets:
    """Buckets of width ``bucket_us`` (grid at 0) merged into ``columns`` pixel columns of
    ``column_us`` from ``start_us``; buckets are placed by their start (error < one bucket)."""
    key = np.clip(grid_key(b.index * bucket_us, start_us, column_us), 0, columns - 1)
    return regroup(b, key, gap_us)

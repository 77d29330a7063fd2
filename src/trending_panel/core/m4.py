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

And the moments that statistics need, merged as exactly as the rows they stand for: the
finite samples' count, sum, sum of squared deviations from their mean (``m2``, merged as Chan
et al. do: within-group plus between-group), minimum and maximum; and, by exception (a row's
value holds until the next row), the time integral of the value over the *held intervals
inside the bucket* (from each row to the next row of the same bucket), the time they cover and
the time they spend beyond each alarm limit. An interval is data when its value is finite and
it is no longer than the gap limit. The interval from a bucket's last row to the next bucket's
first is counted when the two are merged, as outages are; the interval from a window's last
row to its end, and from the row before a window to its first, by :func:`window_totals`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

#: "No such row" in a time column (no time can be this early).
NONE = np.iinfo(np.int64).min
#: Rows reduced at a time by :func:`aggregate` (bounds its memory to some 45 MB).
CHUNK_ROWS = 1 << 18
#: No alarm limits: nothing is beyond them.
NO_LIMITS = (-math.inf, math.inf)
_FLOAT_FIELDS = frozenset(
    ("first_v", "last_v", "min_v", "max_v", "total", "m2", "lo", "hi", "area")
)


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
    # -- moments (see the module's docstring) --
    n: np.ndarray  # int64 finite samples
    total: np.ndarray  # float64 their sum
    m2: np.ndarray  # float64 their squared deviations from their mean, summed
    lo: np.ndarray  # float64 their minimum (NaN: none)
    hi: np.ndarray  # float64 their maximum (NaN: none)
    area: np.ndarray  # float64 value x seconds over the data intervals inside the bucket
    covered: np.ndarray  # int64 µs of those intervals
    below: np.ndarray  # int64 µs of them below the low limit
    above: np.ndarray  # int64 µs of them above the high limit

    def __len__(self) -> int:
        return len(self.index)

    @classmethod
    def empty(cls) -> Buckets:
        return cls(
            **{
                f.name: np.empty(0, dtype="float64" if f.name in _FLOAT_FIELDS else "int64")
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
        finite = np.isfinite(v)
        zero = np.zeros(n, dtype="int64")
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
            n=finite.astype("int64"),
            total=np.where(finite, v, 0.0),
            m2=np.zeros(n),
            lo=np.where(finite, v, np.nan),
            hi=np.where(finite, v, np.nan),
            area=np.zeros(n),
            covered=zero,
            below=zero,
            above=zero.copy(),
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


def held(
    value: np.ndarray, dt: np.ndarray, gap_us: int, limits: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Intervals that hold ``value`` for ``dt`` µs, each as (area in value x s, covered µs,
    µs below the low limit, µs above the high limit); zero where the interval is no data
    (a value that is not finite, or longer than ``gap_us``)."""
    data = np.isfinite(value) & (dt <= gap_us)
    covered = np.where(data, dt, 0)
    area = np.where(data, value, 0.0) * (covered / 1e6)
    low, high = limits
    below = np.where(data & (value < low), covered, 0)
    above = np.where(data & (value > high), covered, 0)
    return area, covered, below, above


def regroup(
    b: Buckets, key: np.ndarray, gap_us: int, limits: tuple[float, float] = NO_LIMITS
) -> Buckets:
    """Merge consecutive buckets with the same ``key`` (non-decreasing) into one each.

    ``key`` becomes the new ``index``. Outages between two merged buckets (the later one's
    first row more than ``gap_us`` after the earlier one's last) become the merged bucket's
    ``gap_t`` when it has none earlier. The held interval between two merged buckets joins the
    merged bucket's moments (``limits``: the variable's low and high alarm limits).
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

    # Moments: the samples merged (Chan et al.: each child's m2 plus its count times the
    # squared distance of its mean from the group's mean), the held intervals of the children
    # plus those between consecutive children of a group.
    count = np.add.reduceat(b.n, starts)
    total = np.add.reduceat(b.total, starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / count, 0.0)
        child_mean = np.where(b.n > 0, b.total / b.n, 0.0)
    spread = np.where(b.n > 0, b.n * (child_mean - mean[groups]) ** 2, 0.0)
    step = np.r_[b.first_t[1:] - b.last_t[:-1], 0]
    area, covered, below, above = held(b.last_v, step, gap_us, limits)
    joined = same_next  # the interval to the next child counts inside the group

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
        n=count,
        total=total,
        m2=np.add.reduceat(b.m2 + spread, starts),
        lo=_nan_reduceat(np.fmin, b.lo, starts),
        hi=_nan_reduceat(np.fmax, b.hi, starts),
        area=np.add.reduceat(b.area + np.where(joined, area, 0.0), starts),
        covered=np.add.reduceat(b.covered + np.where(joined, covered, 0), starts),
        below=np.add.reduceat(b.below + np.where(joined, below, 0), starts),
        above=np.add.reduceat(b.above + np.where(joined, above, 0), starts),
    )


def _nan_reduceat(ufunc: np.ufunc, values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """``ufunc`` (fmin/fmax: NaN only where a whole group is NaN) reduced per group."""
    with np.errstate(invalid="ignore"):
        return ufunc.reduceat(values, starts)


def grid_key(times_us: np.ndarray, origin_us: int, width_us: int) -> np.ndarray:
    """Bucket number of each time on the grid ``origin + k * width`` (floor division)."""
    return (np.asarray(times_us, dtype="int64") - origin_us) // width_us


def aggregate(
    times_us: np.ndarray,
    values: np.ndarray,
    origin_us: int,
    width_us: int,
    gap_us: int,
    limits: tuple[float, float] = NO_LIMITS,
) -> Buckets:
    """Rows (time order) → one bucket per non-empty slot of the grid ``origin + k * width``.

    Rows are reduced :data:`CHUNK_ROWS` at a time (each row is a bucket of some 170 bytes
    until it is merged), and the chunks' buckets merged: a bucket cut by a chunk's edge is
    merged whole again, so the result is the same as in one go.
    """
    times_us = np.asarray(times_us, dtype="int64")
    values = np.asarray(values, dtype="float64")
    parts = []
    for i in range(0, max(len(times_us), 1), CHUNK_ROWS):
        rows = Buckets.of_rows(times_us[i : i + CHUNK_ROWS], values[i : i + CHUNK_ROWS])
        parts.append(regroup(rows, grid_key(rows.first_t, origin_us, width_us), gap_us, limits))
    if len(parts) == 1:
        return parts[0]
    return merge_same(Buckets.concat(parts), gap_us, limits)


def merge_same(b: Buckets, gap_us: int, limits: tuple[float, float] = NO_LIMITS) -> Buckets:
    """Consecutive buckets with the same index (parts of one bucket) merged into one."""
    return regroup(b, b.index, gap_us, limits)


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
    b: Buckets,
    bucket_us: int,
    start_us: int,
    column_us: int,
    columns: int,
    gap_us: int,
    limits: tuple[float, float] = NO_LIMITS,
) -> Buckets:
    """Buckets of width ``bucket_us`` (grid at 0) merged into ``columns`` pixel columns of
    ``column_us`` from ``start_us``; buckets are placed by their start (error < one bucket)."""
    key = np.clip(grid_key(b.index * bucket_us, start_us, column_us), 0, columns - 1)
    return regroup(b, key, gap_us, limits)


@dataclass(frozen=True)
class Totals:
    """A window's moments: what its statistics are made of (see :func:`window_totals`)."""

    samples: int
    total: float
    m2: float
    lo: float  # NaN: no sample
    hi: float
    area: float  # value x seconds over the data intervals
    covered_us: int
    below_us: int
    above_us: int


def window_totals(
    b: Buckets,
    before: tuple[int, float] | None,
    start_us: int,
    end_us: int,
    gap_us: int,
    limits: tuple[float, float] = NO_LIMITS,
) -> Totals:
    """The moments of the window ``[start, end]`` from buckets and rows (as one-row buckets)
    of it, in time order, together holding every row of the window; ``before``: the last row
    before ``start`` as (µs, value), which holds from ``start``.

    By exception each row's value holds until the next row, the last row's until ``end``;
    the row before the window's counts from ``start``, but whether it is data (no longer
    than the gap limit) is judged on its whole interval, from its own time.
    """
    one = regroup(b, np.zeros(len(b), dtype="int64"), gap_us, limits) if len(b) else None
    area = float(one.area[0]) if one is not None else 0.0
    covered = int(one.covered[0]) if one is not None else 0
    below = int(one.below[0]) if one is not None else 0
    above = int(one.above[0]) if one is not None else 0
    # The intervals at the ends: the row before, from start to the first row (or the end);
    # the last row, to the end.
    ends: list[tuple[float, int, int]] = []  # (value, whole interval µs, µs inside)
    first_t = int(one.first_t[0]) if one is not None else end_us
    if before is not None:
        t0, v0 = before
        ends.append((v0, first_t - t0, first_t - start_us))
    if one is not None:
        last_t = int(one.last_t[0])
        ends.append((float(one.last_v[0]), end_us - last_t, end_us - last_t))
    if ends:
        values = np.array([e[0] for e in ends], dtype="float64")
        whole = np.array([e[1] for e in ends], dtype="int64")
        inside = np.array([e[2] for e in ends], dtype="int64")
        data = np.isfinite(values) & (whole <= gap_us)
        kept = np.where(data, np.maximum(inside, 0), 0)
        area += float(np.sum(np.where(data, values, 0.0) * (kept / 1e6)))
        covered += int(kept.sum())
        below += int(np.where(values < limits[0], kept, 0).sum())
        above += int(np.where(values > limits[1], kept, 0).sum())
    if one is None:
        return Totals(0, 0.0, 0.0, math.nan, math.nan, area, covered, below, above)
    return Totals(
        samples=int(one.n[0]),
        total=float(one.total[0]),
        m2=float(one.m2[0]),
        lo=float(one.lo[0]),
        hi=float(one.hi[0]),
        area=area,
        covered_us=covered,
        below_us=below,
        above_us=above,
    )

"""One tag's summary buckets in arrays with room to grow at the end (see :mod:`.summary`)."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime

import numpy as np

from trending_panel.core import m4 as reduce
from trending_panel.core.rows import Row, from_us, to_us


class History:
    """A variable's buckets in arrays with room to grow at the end: a live row merges into
    the last bucket, or appends one, without copying the history."""

    def __init__(self, buckets: reduce.Buckets) -> None:
        self._b = buckets
        self.size = len(buckets)

    @property
    def buckets(self) -> reduce.Buckets:
        """The buckets held (views, not copies)."""
        return self._b.take(slice(0, self.size))

    def splice(self, lo: int, hi: int, new: reduce.Buckets) -> None:
        """Buckets at positions ``lo``..``hi - 1`` become ``new``."""
        if hi == self.size and lo + len(new) <= len(self._b):  # at the end: in place
            for f in fields(reduce.Buckets):
                getattr(self._b, f.name)[lo : lo + len(new)] = getattr(new, f.name)
            self.size = lo + len(new)
            return
        held = self.buckets
        merged = reduce.Buckets.concat([held.take(slice(0, lo)), new, held.take(slice(hi, None))])
        room = max(len(merged), 16) * 5 // 4  # a quarter spare: appends stay cheap
        self._b = reduce.Buckets.concat([merged, _blank(merged, room - len(merged))])
        self.size = len(merged)

    def append(self, new: reduce.Buckets, gap_us: int, limits: tuple[float, float]) -> None:
        """Buckets of rows newer than everything held: the first merges into the last held
        when it has the same number (the rows of one bucket, read in two parts)."""
        if self.size and int(self._b.index[self.size - 1]) == int(new.index[0]):
            last = self._b.take(slice(self.size - 1, self.size))
            head = reduce.merge_same(
                reduce.Buckets.concat([last, new.take(slice(0, 1))]), gap_us, limits
            )
            tail = new.take(slice(1, None))
            self.splice(self.size - 1, self.size, reduce.Buckets.concat([head, tail]))
        else:
            self.splice(self.size, self.size, new)

    @property
    def nbytes(self) -> int:
        return self._b.nbytes


def _blank(like: reduce.Buckets, n: int) -> reduce.Buckets:
    return reduce.Buckets(
        **{f.name: np.zeros(n, dtype=getattr(like, f.name).dtype) for f in fields(like)}
    )


def window_points(
    held: reduce.Buckets,
    bucket_us: int,
    gap_us: int,
    start: datetime,
    end: datetime,
    columns: int,
) -> tuple[reduce.Points, Row | None]:
    """The M4 points of ``[start, end]`` at ``columns`` pixel columns from ``held`` buckets,
    and the row before the window."""
    start_us, end_us = to_us(start), to_us(end)
    lo = int(np.searchsorted(held.index, start_us // bucket_us, side="left"))
    hi = int(np.searchsorted(held.index, end_us // bucket_us, side="right"))
    before: Row | None = None
    if lo > 0:
        value = float(held.last_v[lo - 1])
        before = (from_us(held.last_t[lo - 1]), None if np.isnan(value) else value)
    column_us = max(1, -(-(end_us - start_us) // columns))
    merged = reduce.columns_of(
        held.take(slice(lo, hi)), bucket_us, start_us, column_us, columns, gap_us
    )
    return reduce.points(merged, gap_us), before

"""A window's statistics from the summary: whole buckets merged in memory, plus the rows of
the at most two buckets its ends cut, and the row before it.

The newest bucket's rows are held as the feed brings them (the summary hands them over), so
a live window's statistics follow the feed without a query; older buckets' rows are read
once, a bucket at a time, and kept for a while. Merged spans of whole buckets and whole
answers are kept too: the pages of one window ask the same question.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from trending_panel.core import m4 as reduce
from trending_panel.core.rows import US, Row, Series, from_us, to_us
from trending_panel.core.variables import Variable

if TYPE_CHECKING:
    from trending_panel.live.summary import Summary

#: Buckets of rows kept for the ends of windows (a bucket of 1 Hz rows is about 1 KB).
ROWS_KEPT = 512
#: Merged whole-bucket spans and window totals kept (shared by the pages of one window).
TOTALS_KEPT = 256


class WindowTotals:
    """The moments of any window of the summary's variables (see the module's docstring)."""

    def __init__(self, summary: Summary) -> None:
        self.summary = summary
        #: Rows of each variable's newest bucket: (its index, the rows in time order).
        self.live: dict[str, tuple[int, list[Row]]] = {}
        #: Rows of older buckets read for the ends of windows, least recently used first.
        self.kept: OrderedDict[tuple[str, int], list[Row]] = OrderedDict()
        self._spans: OrderedDict[tuple, reduce.Buckets] = OrderedDict()
        self._totals: OrderedDict[tuple, reduce.Totals] = OrderedDict()
        #: Rows read from the database for the ends of windows (for tests and benchmarks).
        self.rows_read = 0

    def clear(self) -> None:
        self.kept.clear()
        self._spans.clear()
        self._totals.clear()

    def appended(self, key: str, rows: list[Row]) -> None:
        """Rows newer than everything held were merged: the newest bucket's rows follow (a
        finished bucket's rows are kept)."""
        bucket_us = self.summary.bucket_us
        index, kept = self.live.get(key, (None, []))
        for row in rows:
            at = to_us(row[0]) // bucket_us
            if at != index:
                if index is not None:
                    self.keep(key, index, kept)
                index, kept = at, []
            kept.append(row)
        self.live[key] = (index, kept)  # type: ignore[assignment]

    async def refreshed(self, var: Variable, first: int, last: int) -> None:
        """Buckets ``first``..``last`` were read again: forget their rows (and read the newest
        bucket's again if it was one of them)."""
        key = var.key
        for k in [k for k in self.kept if k[0] == key and first <= k[1] <= last]:
            del self.kept[k]
        live = self.live.get(key)
        if live is not None and first <= live[0] <= last:
            self.live[key] = (live[0], await self.read(var, live[0]))

    async def of(self, var: Variable, start: datetime, end: datetime) -> reduce.Totals:
        """The moments of ``var`` over ``[start, end]``: whole buckets merged in memory, the
        rows of the at most two buckets cut by its ends (held, kept, or read once), and the
        row before it. Equal to the same definitions over every row of the window."""
        key = var.key
        W = self.summary.bucket_us
        s_us, e_us = to_us(start), to_us(end)
        newest = self.summary.newest(key)
        held = self.summary._data[key].buckets
        last_index = int(held.index[-1]) if len(held) else None
        cacheable = newest is not None and e_us <= newest
        memo = (key, s_us, e_us, self.summary._epoch.get(key, 0))
        if cacheable and (hit := self._totals.get(memo)) is not None:
            self._totals.move_to_end(memo)
            return hit
        first_cut = s_us // W  # the bucket the start falls in (its rows before it: not ours)
        b0 = -(-s_us // W)  # the first bucket wholly inside
        b1 = (e_us + 1) // W  # whole buckets end before this one
        if last_index is not None:
            b1 = min(b1, last_index)  # the newest bucket is never taken whole
        parts: list[reduce.Buckets] = []
        if b0 < b1:
            head, before = await self._rows_between(var, first_cut, s_us, b0 * W - 1)
            parts += [_row_buckets(head), self._whole(key, b0, b1, var)]
            tail, _ = await self._rows_between(var, b1, b1 * W, e_us)
            parts.append(_row_buckets(tail))
        else:  # no whole bucket: the rows of the (at most two) buckets it touches
            rows, before = await self._rows_between(var, first_cut, s_us, e_us)
            parts.append(_row_buckets(rows))
        if before is None:
            before = self._row_before(key, first_cut)
        found = reduce.window_totals(
            reduce.Buckets.concat(parts), before, s_us, e_us, self.summary.gap_us, var.limits
        )
        if cacheable:
            self._totals[memo] = found
            while len(self._totals) > TOTALS_KEPT:
                self._totals.popitem(last=False)
        return found

    def _whole(self, key: str, b0: int, b1: int, var: Variable) -> reduce.Buckets:
        """Buckets ``b0``..``b1 - 1`` merged into one (kept: live windows ask again)."""
        memo = (key, b0, b1, self.summary._epoch.get(key, 0))
        hit = self._spans.get(memo)
        if hit is not None:
            self._spans.move_to_end(memo)
            return hit
        held = self.summary._data[key].buckets
        lo = int(np.searchsorted(held.index, b0, side="left"))
        hi = int(np.searchsorted(held.index, b1, side="left"))
        part = held.take(slice(lo, hi))
        merged = (
            reduce.regroup(
                part, np.zeros(len(part), dtype="int64"), self.summary.gap_us, var.limits
            )
            if len(part)
            else part
        )
        self._spans[memo] = merged
        while len(self._spans) > TOTALS_KEPT:
            self._spans.popitem(last=False)
        return merged

    def _row_before(self, key: str, index: int) -> tuple[int, float] | None:
        """The last row of the newest bucket before bucket ``index``, as (µs, value)."""
        held = self.summary._data[key].buckets
        pos = int(np.searchsorted(held.index, index, side="left"))
        if pos == 0:
            return None
        return int(held.last_t[pos - 1]), float(held.last_v[pos - 1])

    async def _rows_between(
        self, var: Variable, first: int, s_us: int, e_us: int
    ) -> tuple[list[Row], tuple[int, float] | None]:
        """Rows with ``s_us <= time <= e_us`` from bucket ``first`` on (at most two buckets
        apart), and the last row of bucket ``first`` before ``s_us``."""
        out: list[Row] = []
        before: tuple[int, float] | None = None
        if e_us < s_us:
            return out, before
        W = self.summary.bucket_us
        newest = self.summary.newest(var.key)
        for index in range(first, e_us // W + 1):
            if newest is not None and index * W > newest:
                # Beyond everything held (rows of a clock set wrong, or not yet polled).
                tail = await self.summary.store.series(
                    var, from_us(index * W), from_us(e_us), limit=self.summary.settings.max_rows
                )
                self.rows_read += len(tail)
                out.extend(_rows_of(tail))
                break
            for row in await self.bucket_rows(var, index):
                t = to_us(row[0])
                if t < s_us:
                    before = (t, np.nan if row[1] is None else row[1])
                elif t <= e_us:
                    out.append(row)
        return out, before

    async def bucket_rows(self, var: Variable, index: int) -> list[Row]:
        """Every row of bucket ``index`` in time order: held (the newest bucket), kept, or
        read (and kept)."""
        key = var.key
        live = self.live.get(key)
        if live is not None and live[0] == index:
            return live[1]
        hit = self.kept.get((key, index))
        if hit is not None:
            self.kept.move_to_end((key, index))
            return hit
        held = self.summary._data[key].buckets
        pos = int(np.searchsorted(held.index, index, side="left"))
        if pos >= len(held) or int(held.index[pos]) != index:
            rows: list[Row] = []  # an empty bucket: nothing to read
        else:
            rows = await self.read(var, index)
        self.keep(key, index, rows)
        return rows

    async def read(self, var: Variable, index: int, until: datetime | None = None):
        end = from_us((index + 1) * self.summary.bucket_us) - US
        series = await self.summary.store.series(
            var, from_us(index * self.summary.bucket_us), min(end, until) if until else end,
            limit=self.summary.settings.max_rows,
        )  # fmt: skip
        self.rows_read += len(series)
        return _rows_of(series)

    def keep(self, key: str, index: int, rows: list[Row]) -> None:
        self.kept[(key, index)] = rows
        self.kept.move_to_end((key, index))
        while len(self.kept) > ROWS_KEPT:
            self.kept.popitem(last=False)


def _rows_of(series: Series) -> list[Row]:
    values = series.values
    return [
        (from_us(t), None if np.isnan(v) else float(v))
        for t, v in zip(series.times.view("int64").tolist(), values.tolist(), strict=True)
    ]


def _row_buckets(rows: list[Row]) -> reduce.Buckets:
    if not rows:
        return reduce.Buckets.empty()
    series = Series.from_rows(rows)
    return reduce.Buckets.of_rows(series.times.view("int64"), series.values)

"""The store's change census: write counters, the transaction horizon, and rows per bucket
(what the convergence detector compares with the summary)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
from psycopg import sql

from trending_panel.core.rows import from_us, to_us
from trending_panel.core.variables import Variable
from trending_panel.db.pool import Pool, on_db_loop, table

#: The coarse grid of :meth:`Census.count_census`, whole buckets of about a day.
COARSE_US = 86_400 * 1_000_000
#: More coarse buckets than this over a table's span (rows centuries apart): the pass instead.
MAX_COARSE = 200_000


class Census(Pool):
    """Rows inserted, updated and deleted, and where: a look at a table without reading it
    all, then one pass when something changed behind the live edge."""

    @on_db_loop
    async def write_counters(self, variables: Sequence[Variable]) -> dict[str, tuple[int, ...]]:
        """Rows inserted, updated and deleted per table since the statistics were reset
        (``pg_stat_user_tables``: readable by any role, costs nothing to ask)."""
        async with self.connection() as conn:
            cur = await conn.execute(
                "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables"
                " WHERE relid = ANY(SELECT c.oid FROM pg_catalog.pg_class c"
                "  WHERE c.relname = ANY(%s) AND pg_catalog.pg_table_is_visible(c.oid))",
                ([v.table for v in variables],),
            )
            by_table = {r[0]: tuple(int(x) for x in r[1:]) for r in await cur.fetchall()}
        return {v.key: by_table[v.table] for v in variables if v.table in by_table}

    @on_db_loop
    async def xid_horizon(self) -> int:
        """The oldest transaction still running now (64-bit): every row written from here on,
        or by a transaction in progress, has a transaction id at or after it."""
        async with self.connection() as conn:
            cur = await conn.execute("SELECT txid_snapshot_xmin(txid_current_snapshot())")
            row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    @on_db_loop
    async def bucket_census(
        self, var: Variable, bucket: timedelta, since_xid: int | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per bucket of ``bucket`` on the grid at 1970: its number, its row count, and whether
        a row in it was written (inserted or updated) by a transaction at or after
        ``since_xid``. One pass over the table."""
        touched = (
            sql.SQL("bool_or(age(xmin) <= %(age)s)") if since_xid is not None else sql.SQL("false")
        )
        # date_bin (PostgreSQL 14+): a third of the cost of arithmetic on extract(epoch).
        query = sql.SQL(
            "SELECT date_bin(%(width)s, time, timestamp '1970-01-01') AS b, count(*), {touched}"
            " FROM {t} WHERE time <= %(h)s GROUP BY b ORDER BY b"
        ).format(touched=touched, t=table(var))
        async with self.connection() as conn, conn.transaction():
            # One sequential pass: on a table of years it outlasts a window load's limit.
            await self._allow_long(conn)
            age = 0
            if since_xid is not None:
                # age(xmin) counts back from the next transaction id: a row written at or
                # after since_xid is at most (next - since_xid) old.
                cur = await conn.execute("SELECT txid_snapshot_xmax(txid_current_snapshot())")
                row = await cur.fetchone()
                assert row is not None
                age = max(0, int(row[0]) - since_xid)
            # Rows beyond the horizon are not summarised (see newest_time): not counted either.
            params = {"width": bucket, "age": age, "h": self.settings.horizon()}
            cur = await conn.execute(query, params)
            rows = await cur.fetchall()
        if not rows:
            empty = np.empty(0, dtype="int64")
            return empty, empty, np.empty(0, dtype=bool)
        starts, counts, flags = zip(*rows, strict=True)
        bucket_us = bucket // timedelta(microseconds=1)
        return (
            np.array(starts, dtype="datetime64[us]").view("int64") // bucket_us,
            np.asarray(counts, dtype="int64"),
            np.asarray(flags, dtype=bool),
        )

    @on_db_loop
    async def time_indexed(self, var: Variable) -> bool:
        """Whether a valid, whole B-tree index leads with the table's ``time`` column: then
        a count of any span reads that span's index entries and nothing else."""
        async with self.connection() as conn:
            cur = await conn.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_index i"
                " JOIN pg_catalog.pg_attribute a"
                "  ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
                " JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid"
                " JOIN pg_catalog.pg_am am ON am.oid = c.relam"
                " WHERE i.indrelid = %s::regclass AND a.attname = 'time' AND i.indisvalid"
                "  AND i.indpred IS NULL AND am.amname = 'btree')",
                [table(var).as_string(conn)],
            )
            row = await cur.fetchone()
        return bool(row and row[0])

    @on_db_loop
    async def count_census(
        self,
        var: Variable,
        bucket: timedelta,
        held_index: np.ndarray,
        held_counts: np.ndarray,
        before: int | None,
    ) -> list[tuple[int, int]]:
        """The buckets (numbers on the grid at 1970, before ``before``; None: all) where the
        table holds another number of rows than ``held_counts`` says, as runs (first, last).

        Counted from the time index (:meth:`time_indexed` must hold), a day at a time, then
        bucket by bucket only inside the days that differ: no row is read, no sort of every
        row by its bucket (the pass's :meth:`bucket_census` costs 2-4x more over a year).
        It sees rows added or deleted, not a value changed in place: for a table whose write
        counters say nothing was updated."""
        bucket_us = bucket // timedelta(microseconds=1)
        k = max(1, COARSE_US // bucket_us)  # buckets per coarse bucket
        mine = dict(zip(held_index.tolist(), held_counts.tolist(), strict=True))
        horizon = self.settings.horizon()
        async with self.connection() as conn:
            cur = await conn.execute(
                sql.SQL("SELECT min(time), max(time) FROM {} WHERE time <= %s").format(table(var)),
                [horizon],
            )
            span = await cur.fetchone()
        ends = [int(i) for i in held_index[:1].tolist() + held_index[-1:].tolist()]
        if span is not None and span[0] is not None:
            ends += [to_us(span[0]) // bucket_us, to_us(span[1]) // bucket_us]
        if not ends:
            return []
        lo, hi = min(ends), max(ends)
        if before is not None:
            hi = min(hi, before - 1)
        if hi < lo:
            return []
        whole = [c for c in range(lo // k, hi // k + 1) if (c + 1) * k - 1 <= hi]
        if len(whole) > MAX_COARSE:
            raise ValueError(f"{var.table}: rows over {len(whole)} days: too far apart to count")
        db = await self._range_counts(var, [c * k * bucket_us for c in whole], k * bucket_us)
        held_coarse: dict[int, int] = {}
        for b, n in mine.items():
            if lo <= b <= hi:
                held_coarse[b // k] = held_coarse.get(b // k, 0) + n
        looks = [c for c, n in zip(whole, db, strict=True) if held_coarse.get(c, 0) != n]
        if hi // k not in whole:  # the last day runs past ``before``: bucket by bucket
            looks.append(hi // k)
        fine = [b for c in looks for b in range(max(c * k, lo), min((c + 1) * k - 1, hi) + 1)]
        counts = await self._range_counts(var, [b * bucket_us for b in fine], bucket_us)
        return runs_of([b for b, n in zip(fine, counts, strict=True) if mine.get(b, 0) != n])

    async def _range_counts(self, var: Variable, starts_us: list[int], width_us: int) -> list[int]:
        """Rows from each start for ``width_us`` (up to the horizon), counted from the time
        index; the starts split between two connections (a year's days: 1-2 s)."""
        if not starts_us:
            return []
        query = sql.SQL(
            "SELECT c.n FROM unnest(%(s)s::timestamp[]) WITH ORDINALITY s(a, i)"
            " CROSS JOIN LATERAL (SELECT count(*) AS n FROM {t} WHERE time >= s.a"
            "  AND time < s.a + %(w)s AND time <= %(h)s) c ORDER BY s.i"
        ).format(t=table(var))
        horizon, width = self.settings.horizon(), timedelta(microseconds=width_us)

        async def part(starts: list[datetime]) -> list[int]:
            if not starts:
                return []
            async with self.connection() as conn, conn.transaction():
                await self._allow_long(conn)
                cur = await conn.execute(query, {"s": starts, "w": width, "h": horizon})
                return [int(r[0]) for r in await cur.fetchall()]

        times = [from_us(s) for s in starts_us]
        half = (len(times) + 1) // 2 if len(times) > 64 else len(times)
        a, b = await asyncio.gather(part(times[:half]), part(times[half:]))
        return a + b

    @on_db_loop
    async def tail_writes(
        self, var: Variable, bucket: timedelta, since_xid: int, from_page: int | None
    ) -> tuple[np.ndarray, int]:
        """The buckets (numbers on the grid at 1970) holding a row written at or after
        ``since_xid`` on the table's pages from ``from_page`` on, and the table's pages now.

        A TID range scan: PostgreSQL puts a late row, or an update's new version, where there
        is room, which in a historian's table (appended, rarely vacuumed of much) is its last
        pages. So this reads the pages written since a look that found ``from_page`` of them
        (the last of those again: it may have had room), not the table. A row written into an
        older page's free space is left to the pass (:meth:`bucket_census`). ``from_page``
        None: only the pages now (nothing is read)."""
        async with self.connection() as conn, conn.transaction():
            cur = await conn.execute(
                sql.SQL(
                    "SELECT pg_relation_size(%s::regclass) / current_setting('block_size')::int,"
                    " txid_snapshot_xmax(txid_current_snapshot())"
                ),
                [table(var).as_string(conn)],
            )
            row = await cur.fetchone()
            assert row is not None
            pages, xmax = int(row[0]), int(row[1])
            if from_page is None:
                return np.empty(0, dtype="int64"), pages
            query = sql.SQL(
                "SELECT DISTINCT date_bin(%(width)s, time, timestamp '1970-01-01') FROM {t}"
                " WHERE ctid >= %(tid)s::tid AND age(xmin) <= %(age)s AND time <= %(h)s"
            ).format(t=table(var))
            params = {
                "width": bucket, "tid": f"({max(from_page - 1, 0)},0)",
                "age": max(0, xmax - since_xid), "h": self.settings.horizon(),
            }  # fmt: skip
            cur = await conn.execute(query, params)
            found = [r[0] for r in await cur.fetchall() if r[0] is not None]
        bucket_us = bucket // timedelta(microseconds=1)
        return np.array(found, dtype="datetime64[us]").view("int64") // bucket_us, pages


def runs_of(numbers: list[int]) -> list[tuple[int, int]]:
    """Sorted bucket numbers as runs of consecutive ones (first, last)."""
    runs: list[tuple[int, int]] = []
    for b in sorted(set(numbers)):
        if runs and b == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], b)
        else:
            runs.append((b, b))
    return runs


def suspected(
    before: tuple[int, ...], now: tuple[int, ...], fed: int, unexplained: bool
) -> tuple[bool, bool]:
    """A table's write counters (inserted, updated, deleted) at the last pass and now, and
    the rows the live path brought since: whether a pass is due, and whether inserts are
    unexplained. An update or delete makes it due; rows inserted beyond those brought, only
    at the second look that finds them (the counters trail commits: a row committed just
    before a poll is counted later)."""
    inserted, updated, deleted = (a - b for a, b in zip(now, before, strict=True))
    if updated or deleted:
        return True, unexplained
    if inserted > fed:
        return unexplained, True
    return False, False


def changed_runs(
    census: tuple[np.ndarray, np.ndarray, np.ndarray],
    held_index: np.ndarray,
    held_counts: np.ndarray,
    before: int | None,
) -> list[tuple[int, int]]:
    """What a :meth:`Census.bucket_census` says changed against the buckets held (their
    numbers and row counts): buckets before ``before`` (None: all) whose count differs or
    that hold a row written since the census's horizon, as runs of consecutive numbers
    (first, last)."""
    index, counts, touched = census
    db = dict(zip(index.tolist(), counts.tolist(), strict=True))
    mine = dict(zip(held_index.tolist(), held_counts.tolist(), strict=True))
    written = set(index[touched].tolist())
    runs: list[tuple[int, int]] = []
    for b in sorted(set(db) | set(mine)):
        if before is not None and b >= before:
            break
        if db.get(b, 0) != mine.get(b, 0) or b in written:
            if runs and b == runs[-1][1] + 1:
                runs[-1] = (runs[-1][0], b)
            else:
                runs.append((b, b))
    return runs

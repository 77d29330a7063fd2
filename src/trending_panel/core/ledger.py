"""Exactly-once bookkeeping for tables without a key.

The process tables have no primary key, a table may legitimately hold the same ``(time, value)``
twice, and late rows arrive with a time older than the newest one already seen. Rows are
therefore counted as a multiset over a short look-back horizon: a row is new when the database
now holds it more often than we have already passed on.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from trending_panel.core.rows import Row

Key = tuple[datetime, object]


def row_key(row: Row) -> Key:
    """Hashable identity of a row; NaN and NULL are values of their own (NaN != NaN in floats)."""
    t, value = row
    if value is None:
        return (t, "NULL")
    if isinstance(value, float) and math.isnan(value):
        return (t, "NaN")
    return (t, value)


class Ledger:
    """What has been passed on for the look-back horizon of one variable."""

    def __init__(self, lookback: timedelta) -> None:
        self.lookback = lookback
        self.newest: datetime | None = None
        self._seen: Counter[Key] = Counter()
        #: Rows passed on before that the last snapshot no longer held: updated or deleted.
        self.vanished: list[Key] = []

    @property
    def query_start(self) -> datetime | None:
        """Where the next poll must start to catch late rows (``None``: from the beginning)."""
        return None if self.newest is None else self.newest - self.lookback

    def prime(self, rows: Iterable[Row]) -> None:
        """Record ``rows`` as already delivered (what a page load or feed start has read)."""
        self.reconcile(rows)

    def reconcile(self, snapshot: Iterable[Row]) -> list[Row]:
        """Given every row at or after :attr:`query_start`, return those not yet delivered.

        ``snapshot`` must be complete for that range; the ledger then forgets rows that fell
        out of the new horizon.
        """
        rows = list(snapshot)
        counts = Counter(row_key(r) for r in rows)
        fresh_counts = counts - self._seen
        # Everything seen was at or after the horizon this snapshot starts at: a row seen
        # before and missing now was updated or deleted.
        self.vanished = sorted((self._seen - counts).elements(), key=lambda k: k[0])
        fresh: list[Row] = []
        for row in rows:
            key = row_key(row)
            if fresh_counts[key] > 0:
                fresh_counts[key] -= 1
                fresh.append(row)
        if rows:
            newest = max(r[0] for r in rows)
            if self.newest is None or newest > self.newest:
                self.newest = newest
        horizon = self.query_start
        self._seen = (
            counts
            if horizon is None
            else Counter({k: n for k, n in counts.items() if k[0] >= horizon})
        )
        return fresh

    def admit(self, rows: Iterable[Row]) -> list[Row]:
        """Incremental form for a session: drop rows it already holds, keep everything else."""
        fresh: list[Row] = []
        for row in rows:
            key = row_key(row)
            if self.newest is not None and row[0] <= self.newest and self._seen[key] > 0:
                self._seen[key] -= 1
                continue
            fresh.append(row)
        return fresh

"""Every open page converges to the database: rows inserted late, updated or deleted.

The live feed looks back a minute; a collector forwarding its buffer hours late, a corrected
lab value or a deleted bad reading lands behind it. One :class:`Convergence` per process (like
the feed, so the database cost does not grow with the number of viewers) finds such changes
and hands them on:

1. Once a second it reads the tables' write counters from ``pg_stat_user_tables`` (nothing to
   scan, any role may). Rows inserted beyond those the feed delivered, or any update or
   delete, make the table suspect.
2. A suspect table gets one pass over its rows: per summary bucket, the row count and whether
   a row was written since the last pass (``xmin``, the writing transaction). Buckets whose
   count differs from the summary's (an insert or a delete), or that hold a freshly written
   row behind the live edge (an update, a late insert), are read again into the summary.
3. Each changed span is announced to every session (:meth:`LiveFeed.announce`); a session
   that shows it reads its view again and says so.

No trigger, table or ``LISTEN`` is needed: it works with the read-only role. The pass costs
about what the summary's build reads per table, and runs at most every ``min_interval``
seconds per table, and only after a write behind the live edge.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import param

from trending_panel.core.errors import error_line
from trending_panel.db.census import changed_runs, suspected
from trending_panel.live.background import Background
from trending_panel.live.feed import Change
from trending_panel.live.summary import Summary

log = logging.getLogger(__name__)


class Convergence(Background, param.Parameterized):
    """Finds rows written behind the live edge and makes the summary and the pages follow."""

    passes = param.Integer(default=0, doc="Census passes run (for tests and benchmarks).")
    counts = param.Integer(default=0, doc="Censuses of a delete, counted from the time index.")
    changes = param.Integer(default=0, doc="Changed spans announced.")
    error = param.String(default="", doc="Why the last check failed.")

    def __init__(
        self,
        summary: Summary,
        *,
        interval: float = 1.0,
        min_interval: float = 3.0,
        **params: object,
    ) -> None:
        super().__init__(**params)
        self.summary = summary
        self.feed = summary.feed
        self.store = summary.store
        self.interval = interval
        self.min_interval = min_interval
        self._counters: dict[str, tuple[int, ...]] = {}
        self._delivered: dict[str, int] = {}
        self._since_xid: dict[str, int] = {}
        self._last_pass: dict[str, float] = {}
        self._suspect: set[str] = set()
        self._unexplained: set[str] = set()
        self._indexed: dict[str, bool] = {}  #: whether a table has an index on time

    async def _run(self) -> None:
        # Only tags the summary holds are checked, each counted from just before the summary
        # read its history (see :meth:`check`): nothing written meanwhile is taken as known.
        while True:
            try:
                # A census pass may take long on a big table (its own statement timeout,
                # the export's); a server that stops answering must not stall this forever.
                async with asyncio.timeout(self.summary.settings.export_timeout.total_seconds()):
                    await self.check()
                self.error = ""
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an outage: the feed reports it; look again later
                self.error = error_line(exc)
                log.debug("convergence check failed: %s", self.error)
            await asyncio.sleep(self.interval)

    async def check(self) -> list[Change]:
        """One round: read the write counters, take a census of suspect tables, announce."""
        variables = [v for v in list(self.summary.variables.values()) if self.summary.holds(v.key)]
        for gone in set(self._counters) - {v.key for v in variables}:
            self._forget(gone)  # let go of by the summary: a fresh first look if it returns
        counters = await self.store.write_counters(variables)
        delivered = dict(self.feed.delivered)
        for key, now in counters.items():
            before = self._counters.get(key)
            if before is None:  # the first look: count from before the summary read the tag
                base = self.summary.baselines.pop(key, None)
                if base is None:  # (none recorded: all the summary holds is known now)
                    self._rebase(key, now, delivered.get(key, 0), await self.store.xid_horizon())
                    continue
                self._rebase(key, *base)
                before = base[0]
            # Since the last pass: updates, deletes, rows inserted beyond those the feed
            # delivered (see :func:`~..db.census.suspected`).
            fed = delivered.get(key, 0) - self._delivered.get(key, 0)
            due, unexplained = suspected(before, now, fed, key in self._unexplained)
            if due:
                self._suspect.add(key)
            if unexplained:
                self._unexplained.add(key)
            else:
                self._unexplained.discard(key)
        found: list[Change] = []
        loop = asyncio.get_running_loop()
        for key in sorted(self._suspect):
            if loop.time() - self._last_pass.get(key, -1e9) < self.min_interval:
                continue
            self._last_pass[key] = loop.time()
            # Counters and the transaction horizon first: what is written meanwhile is seen
            # by the next pass, never missed between two.
            var = self.summary.variables.get(key)
            if var is None or not self.summary.holds(key):
                self._forget(key)
                continue
            counters_now = (await self.store.write_counters([var]))[key]
            delivered_now = self.feed.delivered.get(key, 0)
            horizon = await self.store.xid_horizon()
            if await self._only_deleted(key, counters_now, delivered_now):
                found.extend(await self._census(key, counted=True))
                horizon = self._since_xid[key]  # not looked at: the next pass looks back as far
            else:
                found.extend(await self._census(key))
            self._rebase(key, counters_now, delivered_now, horizon)
        for change in found:
            self.feed.announce(change)
        self.changes += len(found)
        return found

    def _forget(self, key: str) -> None:
        for held in (self._counters, self._delivered, self._since_xid, self._last_pass):
            held.pop(key, None)
        self._suspect.discard(key)
        self._unexplained.discard(key)

    def _rebase(self, key: str, counters: tuple[int, ...], delivered: int, xid: int) -> None:
        """All written up to here is known: count from these counters and this horizon."""
        self._counters[key], self._delivered[key], self._since_xid[key] = counters, delivered, xid
        self._suspect.discard(key)
        self._unexplained.discard(key)

    async def _only_deleted(self, key: str, now: tuple[int, ...], delivered: int) -> bool:
        """Whether, since the last pass, rows were only deleted (and inserted as many as the
        feed delivered), in a table with an index on time: then counts per bucket find every
        change, and the index gives them without reading a row (see
        :meth:`~..db.census.Census.count_census`)."""
        before = self._counters[key]
        inserted, updated, deleted = (a - b for a, b in zip(now, before, strict=True))
        fed = delivered - self._delivered.get(key, 0)
        if not deleted or updated or inserted > fed or key in self._unexplained:
            return False
        if key not in self._indexed:
            self._indexed[key] = await self.store.time_indexed(self.summary.variables[key])
        return self._indexed[key] and self._since_xid.get(key) is not None

    async def _census(self, key: str, counted: bool = False) -> list[Change]:
        """Compare the database's buckets with the summary's; read the differing ones again.
        ``counted``: by their counts alone, from the time index (rows only deleted)."""
        summary = self.summary
        width = summary.settings.summary_bucket
        held = summary.buckets(key)
        assert held is not None
        newest = int(held.last_t[-1]) if len(held) else None
        edge = (
            (newest - summary.settings.lookback // timedelta(microseconds=1)) // summary.bucket_us
            if newest is not None
            else None
        )
        if counted:
            runs = await self.store.count_census(
                summary.variables[key], width, held.index, held.count, edge
            )
            self.counts += 1
        else:
            census = await self.store.bucket_census(
                summary.variables[key], width, self._since_xid.get(key)
            )
            self.passes += 1
            runs = changed_runs(census, held.index, held.count, edge)
        out: list[Change] = []
        for first, last in runs:
            start, end = await summary.refresh_range(key, first, last)
            out.append(Change(key, start, end))
            log.info("%s: rows between %s and %s changed in the database", key, start, end)
        return out

"""The live feed: one poller per server process, however many browser tabs watch.

Once a tick it asks the store for rows at or after each variable's look-back start (one
``UNION ALL`` query), works out which are new with a :class:`~trending_panel.ledger.Ledger`,
and appends them to every subscriber's queue. Sessions drain their queue on their own periodic
callback. It also owns the connection status (live / retrying since T) and the newest value of
each variable, so a database outage is reported once and recovered from in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import param
import psycopg

from trending_panel.core.errors import NotAnswering, error_line
from trending_panel.core.ledger import Ledger
from trending_panel.core.rows import Row
from trending_panel.core.settings import Settings
from trending_panel.core.variables import Variable
from trending_panel.db.catalog import create_time_index
from trending_panel.db.diagnosis import SLOW_RETRY_S, CannotConnect, Diagnosis, explain
from trending_panel.db.store import Store
from trending_panel.live.background import Background

log = logging.getLogger(__name__)

Batch = dict[str, list[Row]]
#: The feed's own connection (see :meth:`Store.connection`): polls never queue behind window
#: loads and exports in the pool, and a refused connection is seen at the first poll.
LANE = "feed"


@dataclass(frozen=True)
class Change:
    """Rows of ``key`` between ``start`` and ``end`` changed in the database behind the live
    edge (inserted late, updated or deleted): whoever shows that span must read it again."""

    key: str
    start: datetime
    end: datetime


class Subscription:
    """A session's queue of batches; filled by the feed, drained by the session."""

    def __init__(self) -> None:
        self.batches: deque[Batch] = deque()
        self.changes: deque[Change] = deque()
        #: Called when a batch arrives, so the session applies it now rather than at its
        #: next periodic tick (set by a served dashboard; None: wait for the tick).
        self.wake: Callable[[], None] | None = None

    def drain_changes(self) -> list[Change]:
        out = list(self.changes)
        self.changes.clear()
        return out

    def drain(self) -> Batch:
        merged: Batch = {}
        while self.batches:
            for key, rows in self.batches.popleft().items():
                merged.setdefault(key, []).extend(rows)
        return merged


class LiveFeed(Background, param.Parameterized):
    """Polls the database for new rows and fans them out to subscribers."""

    status = param.Selector(
        default="connecting", objects=["connecting", "live", "retrying"], doc="Connection state."
    )
    down_since = param.Date(
        default=None,
        allow_None=True,
        doc="UTC wall time since when no data arrives: the last poll that succeeded (or the "
        "first failure, if none ever did).",
    )
    last_ok = param.Date(default=None, allow_None=True, doc="UTC wall time of the last good poll.")
    error = param.String(default="", doc="Last database error, for the status line.")
    diagnosis = param.ClassSelector(
        class_=Diagnosis,
        default=None,
        allow_None=True,
        doc="The connection failure explained (what to check, whether retrying helps).",
    )
    problems = param.Dict(default={}, doc="Unusable tables and why: not found, no permission…")
    unindexed = param.List(default=[], doc="Tables without a btree index on time (slow).")
    reachable = param.Boolean(default=True, doc="False while the database cannot be reached.")
    latest = param.Dict(default={}, doc="Newest row per variable key: (time, value).")
    future = param.Dict(
        default={},
        doc="Rows dated beyond the horizon (a clock set wrong) per variable key: "
        "(count, first time, last time). They are not live data and not the newest sample.",
    )
    polls = param.Integer(default=0, doc="Successful polls since start (for tests and benchmarks).")
    delivered = param.Dict(default={}, doc="Rows delivered per variable key since start.")

    def __init__(self, store: Store, settings: Settings, **params: object) -> None:
        super().__init__(**params)
        self.store = store
        self.settings = settings
        self._subscribers: list[Subscription] = []
        self._ledgers: dict[str, Ledger] = {}
        self._variables: list[Variable] | None = None
        self._tables: dict[str, str] = {}
        #: What each watcher (a page, the summary) wants polled: the feed polls their union.
        self._watchers: dict[object, tuple[Variable, ...]] = {}
        self._polled = asyncio.Event()
        #: Set to cut the pause between two polls short (a page waits to be followed).
        self._nudge = asyncio.Event()
        self._version = 0
        if settings.catalog is None:
            # The configured variables are always polled (the spec's four by default, as
            # before tags); with a catalog, only what some page shows or the summary holds.
            self._watchers["configured"] = tuple(settings.variables)

    # -- what is polled ----------------------------------------------------------------------

    def watch(self, owner: object, variables: tuple[Variable, ...] | list[Variable]) -> None:
        """Poll ``variables`` for ``owner`` (replacing what it watched before): the feed polls
        only tags that someone shows or summarises, never the whole catalog."""
        before = self.watched_keys
        self._watchers[owner] = tuple(variables)
        if self.watched_keys != before:
            self._variables = None  # discover the new set at the next poll
            self._version += 1

    def unwatch(self, owner: object) -> None:
        before = self.watched_keys
        self._watchers.pop(owner, None)
        if self.watched_keys != before:
            self._variables = None
            self._version += 1

    @property
    def watched(self) -> dict[str, Variable]:
        """Every watched variable by key (the first watcher's, where two name one key)."""
        out: dict[str, Variable] = {}
        for variables in self._watchers.values():
            for var in variables:
                out.setdefault(var.key, var)
        return out

    @property
    def watched_keys(self) -> frozenset[str]:
        return frozenset(v.key for vs in self._watchers.values() for v in vs)

    async def wait_polled(self, timeout: float | None = None) -> bool:
        """Wait for the end of the next successful poll (what was watched before it is then
        primed); False if none came within ``timeout``."""
        self._polled.clear()
        try:
            await asyncio.wait_for(self._polled.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def unprimed(self, keys: Iterable[str]) -> frozenset[str]:
        """Of ``keys``, the watched ones whose rows the feed does not follow yet (it has not
        looked at their table since they were watched). Rows written before the feed's first
        look are taken as known and never handed on: a page that read its window before then
        must read it again (a table known to be missing is followed when it appears)."""
        watched, missing = self.watched, set(self.problems)
        return frozenset(
            k
            for k in keys
            if k in watched and k not in self._ledgers and watched[k].table not in missing
        )

    async def until_primed(self, keys: Iterable[str], timeout: float) -> frozenset[str]:
        """Poll now, and again, until the feed follows ``keys`` (at most ``timeout`` s, and
        not at all while the database does not answer); the keys still not followed."""
        left = self.unprimed(keys)
        if not left or self._task is None or self._task.done() or self.status == "retrying":
            return left
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while left and (remaining := deadline - loop.time()) > 0:
            self._nudge.set()
            if not await self.wait_polled(remaining):
                break
            left = self.unprimed(left)
        return left

    async def before_history(self, keys: Iterable[str]) -> None:
        """Before the history of ``keys`` is read for good (the summary's build): while the
        feed runs, wait for its next poll if the database did not answer, then until it
        follows them (each at most twice the poll's deadline)."""
        if self._task is None or self._task.done():
            return
        wait = 2 * self.settings.poll_timeout.total_seconds()
        if self.status != "live":
            await self.wait_polled(wait)
        await self.until_primed(keys, wait)

    # -- subscribers -----------------------------------------------------------------------

    def subscribe(self) -> Subscription:
        sub = Subscription()
        self._subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with contextlib.suppress(ValueError):
            self._subscribers.remove(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def announce(self, change: Change) -> None:
        """Tell every subscriber that a span of the past changed in the database."""
        for sub in self._subscribers:
            sub.changes.append(change)

    # -- lifecycle (start/stop: Background) -------------------------------------------------

    async def _run(self) -> None:
        interval = self.settings.poll_interval.total_seconds()
        deadline = self.settings.poll_timeout.total_seconds()
        backoff = interval
        while True:
            try:
                # A hung server (stopped processes, a silent partition) answers nothing and
                # closes nothing: only a deadline tells. The poll's query is abandoned with
                # its connection; the next poll connects afresh.
                await asyncio.wait_for(self.poll(), deadline)
            except asyncio.CancelledError:
                raise
            except TimeoutError:
                self._failed(NotAnswering(f"the database did not answer within {deadline:g} s"))
            except Exception as exc:  # any database failure: report, wait, retry
                self._failed(exc)
            else:
                backoff = interval
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._nudge.wait(), interval)
                self._nudge.clear()
                continue
            if self.diagnosis is not None and not self.diagnosis.retry:
                # A wrong password or a missing database: look again now and then (it may be
                # fixed without a restart), without hammering the server with failed logins.
                await asyncio.sleep(SLOW_RETRY_S)
                continue
            # Back off, but not beyond 2 s: a recovery is then seen within a few seconds.
            backoff = min(max(backoff * 2, 0.5), 2.0)
            await asyncio.sleep(backoff)

    def _failed(self, exc: Exception) -> None:
        # A connection failure is an outage; anything else (a privilege revoked, a column
        # changed) is a database error, and saying "unavailable" would mislead.
        reachable = not isinstance(exc, psycopg.OperationalError | OSError | NotAnswering)
        diagnosis = None
        if isinstance(exc, CannotConnect):
            diagnosis = exc.diagnosis
        elif not reachable:
            diagnosis = explain(exc, self.settings)
        message = diagnosis.summary if diagnosis is not None else error_line(exc)
        if self.status != "retrying" or diagnosis != self.diagnosis:
            if diagnosis is not None and not diagnosis.retry:
                log.warning("cannot connect: %s", diagnosis.line())
            elif self.status != "retrying":
                what = "database error" if reachable else "database unavailable"
                log.warning("%s (%s); retrying", what, message)
        self.param.update(
            status="retrying",
            down_since=self.down_since or self.last_ok or datetime.now(UTC),
            error=message,
            reachable=reachable,
            diagnosis=diagnosis,
        )
        # Table set may have changed (dropped/renamed); look again on recovery.
        self._variables = None

    # -- one tick --------------------------------------------------------------------------

    async def poll(self) -> Batch:
        """Read new rows once and hand them to every subscriber. Returns the batch."""
        if self._variables is None:
            await self._discover()
        variables = self._variables or []
        if not variables:  # nobody shows anything: only whether the database answers
            await self.store.ping(lane=LANE)
        starts = {v.key: self._ledgers[v.key].query_start for v in variables}
        snapshot = await self.store.since(variables, starts, lane=LANE)
        future = await self.store.future_rows(variables, lane=LANE)
        if future != self.future:
            for key, (n, first, last) in future.items():
                if self.future.get(key, (0,))[0] != n:
                    log.warning(
                        "table %s: %d row(s) dated %s to %s, beyond the clock: not shown as live",
                        self._tables.get(key, key),
                        n,
                        first,
                        last,
                    )
            self.future = future
        batch: Batch = {}
        latest = dict(self.latest)
        delivered = dict(self.delivered)
        for var in variables:
            ledger = self._ledgers[var.key]
            fresh = ledger.reconcile(snapshot[var.key])
            if fresh:
                batch[var.key] = fresh
                delivered[var.key] = delivered.get(var.key, 0) + len(fresh)
            if ledger.vanished:  # updated or deleted within the look-back
                self.announce(Change(var.key, ledger.vanished[0][0], ledger.vanished[-1][0]))
            rows = snapshot[var.key]
            if rows:
                newest = max(rows, key=lambda r: r[0])
                if var.key not in latest or newest[0] >= latest[var.key][0]:
                    latest[var.key] = newest
        if batch:
            for sub in self._subscribers:
                sub.batches.append(batch)
                if sub.wake is not None:
                    sub.wake()
        if self.status != "live":
            log.info("database connection is live")
        self.param.update(
            status="live",
            diagnosis=None,
            down_since=None,
            last_ok=datetime.now(UTC),
            error="",
            latest=latest,
            polls=self.polls + 1,
            delivered=delivered,
        )
        self._polled.set()
        return batch

    async def _discover(self) -> None:
        """Find which of the watched tables exist and prime new ledgers without emitting
        history; forget what nobody watches any more."""
        version = self._version
        watched = self.watched
        variables = list(watched.values())
        self._tables = {v.key: v.table for v in variables}
        for key in set(self._ledgers) - set(watched):
            del self._ledgers[key]
        if set(self.latest) - set(watched):
            self.latest = {k: r for k, r in self.latest.items() if k in watched}
        if set(self.future) - set(watched):
            self.future = {k: f for k, f in self.future.items() if k in watched}
        if not variables:
            self._variables = []
            return
        found = await self.store.problems(variables, lane=LANE)
        existing = [v for v in variables if v not in found]
        problems = {v.table: why for v, why in found.items()}
        if problems != self.problems:
            for table, why in problems.items():
                log.warning("table %s: %s", table, why)
            self.problems = problems
        slow = [v.table for v in await self.store.unindexed(existing, lane=LANE)]
        if slow != self.unindexed:
            for table in slow:
                log.warning(
                    "table %s has no index on time: every poll reads the whole table (%s)",
                    table,
                    create_time_index(table),
                )
            self.unindexed = slow
        new = [v for v in existing if v.key not in self._ledgers]
        if new:
            latest = await self.store.latest(new, lane=LANE)
            ledgers: dict[str, Ledger] = {}
            for var in new:
                ledgers[var.key] = ledger = Ledger(self.settings.lookback)
                if var.key in latest:
                    ledger.newest = latest[var.key][0]
            snapshot = await self.store.since(
                new, {v.key: ledgers[v.key].query_start for v in new}, lane=LANE
            )
            for var in new:
                ledgers[var.key].prime(snapshot[var.key])
            # Installed only when primed: a poll abandoned at its deadline in between leaves
            # no half-made ledger (it would hand the whole look-back on as new).
            self._ledgers.update(ledgers)
            self.latest = {**self.latest, **latest}
        # A watcher that came or went meanwhile: discover again at the next poll.
        self._variables = existing if version == self._version else None

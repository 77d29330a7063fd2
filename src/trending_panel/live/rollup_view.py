"""What a dashboard process knows of the shared rollup: which tags it may draw from there.

One per process (the hub's), like the feed: it reads the rollup's state (the service's
heartbeat and each tag's watermark and lag, one small query) at start and every few seconds.
A tag is served from the rollup when the rollup is there and fresh for it, and its buckets
were computed with this dashboard's gap limit and the tag's alarm limits; otherwise the
in-memory summary takes the tag over, as before the rollup, and the header says why.

What pages read of it is shared here: whole buckets behind the watermark and whole windows'
moments are kept (least recently used first) until the service says that rows behind its
live edge changed; then they are dropped and the span is announced to the pages on the feed,
as the convergence detector announces what it finds.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Hashable, Iterable

import param

from trending_panel.core import chunks
from trending_panel.core import m4 as reduce
from trending_panel.core.chunks import LEVELS, Level
from trending_panel.core.errors import error_line
from trending_panel.core.rows import US, from_us
from trending_panel.core.variables import Variable
from trending_panel.db.rollup import Published
from trending_panel.live.background import Background, waited
from trending_panel.live.feed import Change, LiveFeed

log = logging.getLogger(__name__)

#: A tag (or the service) further behind than this is stale: the summary takes it over.
STALE_S = 60.0
#: How often the rollup's state is read.
EVERY_S = 5.0
#: Memory that kept bucket spans, rows and window moments may hold (shared by the pages of
#: one window; the least recently used go first). A live window's newest span moves with the
#: watermark, so what is kept is bounded by bytes, not by count.
KEPT_BYTES = 64_000_000


class RollupView(Background, param.Parameterized):
    """The shared rollup as this process sees it (see the module's docstring)."""

    state = param.Selector(
        default="unknown",
        objects=["unknown", "absent", "fresh", "stale", "failed"],
        doc="absent: no rollup schema; fresh: the service is alive; stale: its heartbeat is "
        "old (or another format); failed: its state could not be read.",
    )
    #: Bumped whenever the set of tags served from the rollup may have changed.
    version = param.Integer(default=0)
    error = param.String(default="")

    def __init__(self, feed: LiveFeed, **params: object) -> None:
        super().__init__(**params)
        self.feed = feed
        self.store = feed.store
        self.settings = feed.settings
        self.schema = self.settings.rollup_schema
        self.gap_us = self.settings.gap // US
        self.tags: dict[str, Published] = {}
        self._loaded = asyncio.Event()
        #: Read buckets and computed moments, by (table, changes, ...): see :meth:`kept`.
        self._kept: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self.kept_bytes = 0

    def _starting(self) -> None:
        self._loaded = asyncio.Event()

    async def _run(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(EVERY_S)

    async def refresh(self) -> None:
        """Read the rollup's state once."""
        before = (self.state, set(self._usable_tables()))
        try:
            found = await self.store.rollup_published(self.schema)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # an outage: keep serving what was known until stale
            self.error = error_line(exc)
            self.state = "failed"
            self.tags = {}
        else:
            self.error = ""
            if found is None:
                self.state, self.tags = "absent", {}
            else:
                fmt, beat, tags = found
                fresh = fmt == chunks.FORMAT and beat is not None and beat <= STALE_S
                self._announce(tags)
                self.state, self.tags = ("fresh" if fresh else "stale"), tags
        self._loaded.set()
        if (self.state, set(self._usable_tables())) != before:
            log.log(logging.DEBUG if self.state == "absent" else logging.INFO,
                    "rollup %r: %s, %d tags served from it", self.schema, self.state,
                     len(self._usable_tables()))  # fmt: skip
            self.version += 1

    def _announce(self, tags: dict[str, Published]) -> None:
        """Spans the service rewrote behind its live edge since the last look: what was kept
        of them is dropped (by the key's change count), the pages showing them told."""
        for table, now in tags.items():
            was = self.tags.get(table)
            if was is None or now.changes == was.changes or now.changed is None:
                continue
            start, end = (from_us(t) for t in now.changed)
            for key, var in list(self.feed.watched.items()):
                if var.table == table:
                    self.feed.announce(Change(key, start, end))
            log.info("rollup: rows of %s between %s and %s changed", table, start, end)

    def kept(self, key: Hashable) -> object | None:
        """What was kept under ``key`` (whose first item is a table; its second the table's
        change count when it was kept, so a change makes it unreachable)."""
        hit = self._kept.get(key)
        if hit is None:
            return None
        self._kept.move_to_end(key)
        return hit[0]

    def keep(self, key: Hashable, value: object) -> None:
        size = _size(value)
        if key in self._kept:
            self.kept_bytes -= self._kept.pop(key)[1]
        self._kept[key] = (value, size)
        self.kept_bytes += size
        while self.kept_bytes > KEPT_BYTES and len(self._kept) > 1:
            self.kept_bytes -= self._kept.popitem(last=False)[1][1]

    async def buckets(
        self, pub: Published, table: str, level: Level, first: int, last: int
    ) -> reduce.Buckets:
        """Buckets ``first..last`` of a level that the rollup holds whole (kept)."""
        memo = (table, pub.changes, level.number, first, last)
        hit = self.kept(memo)
        if isinstance(hit, reduce.Buckets):
            return hit
        found = await self.store.rollup_buckets(self.schema, pub.id, level, first, last)
        self.keep(memo, found)
        return found

    async def wait_loaded(self, timeout: float | None = None) -> bool:
        """Wait for the first read of the rollup's state (False after ``timeout``)."""
        return await waited(self._loaded, timeout)

    def _usable_tables(self) -> list[str]:
        if self.state != "fresh":
            return []
        return [t for t, p in self.tags.items() if not _behind(p)]

    def _refusal(self, var: Variable) -> str | None:
        """Why ``var``'s buckets may not be drawn from the rollup, in words; None: they may
        (it is fresh, and they were computed with this dashboard's gap limit and ``var``'s
        alarm limits)."""
        if self.state in ("unknown", "absent"):
            return "no rollup"
        if self.state == "failed":
            return f"the rollup could not be read ({self.error})"
        if self.state == "stale":
            return "the rollup service is not running (its heartbeat is old)"
        found = self.tags.get(var.table)
        if found is None:
            return "not in the rollup yet"
        if _behind(found):
            return f"the rollup is {found.lag_s or 0:,.0f} s behind"
        if found.gap_us != self.gap_us:
            return "the rollup was built with another TRENDING_GAP"
        if (found.low, found.high) != (var.low, var.high):
            return "the rollup was built with other alarm limits"
        return None

    def usable(self, var: Variable) -> Published | None:
        """The rollup's state for ``var`` when its buckets may be drawn, else None."""
        return self.tags.get(var.table) if self._refusal(var) is None else None

    def serving(self, variables: Iterable[Variable]) -> set[str]:
        """The keys of ``variables`` the rollup serves now."""
        return {v.key for v in variables if self.usable(v) is not None}

    def why_not(self, var: Variable) -> str | None:
        """Why ``var`` is not served from a rollup that exists (None: it is, or there is no
        rollup at all), in words for the header."""
        return None if self.state in ("unknown", "absent") else self._refusal(var)

    def level_for(self, var: Variable, column_us: float) -> tuple[Published, Level] | None:
        """The coarsest level that still gives each pixel column of ``column_us`` at least
        four buckets, when ``var`` is served from the rollup; None otherwise (a narrow
        window reads rows)."""
        found = self.usable(var)
        if found is None:
            return None
        fitting = [lv for lv in LEVELS if column_us >= 4 * lv.width_us]
        return (found, fitting[-1]) if fitting else None


def _behind(pub: Published) -> bool:
    """The tag was last caught up with its table too long ago (or never)."""
    return pub.lag_s is None or pub.lag_s > STALE_S


def _size(value: object) -> int:
    """Bytes a kept value holds (its arrays; a few hundred for anything else)."""
    if isinstance(value, reduce.Buckets):
        return value.nbytes
    arrays = [getattr(value, name, None) for name in ("times", "values")]
    return 256 + sum(a.nbytes for a in arrays if hasattr(a, "nbytes"))

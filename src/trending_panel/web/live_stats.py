"""A live window's statistics, following the rows the feed streams in.

Never by a query over the window: from the summary (memory, and a bucket of rows now and
then) or the shared rollup (its whole buckets kept, the newest minutes' rows read), at most
every :data:`STATS_FOLLOW_S` (each refresh is a message per trend to the page). Until either
can answer, the statistics the window's load brought stay.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from trending_panel.core.errors import error_line
from trending_panel.read.stats import Stats, window_stats

if TYPE_CHECKING:
    from trending_panel.web.session import Session

log = logging.getLogger(__name__)

#: A live window's statistics follow new rows at most this often (seconds).
STATS_FOLLOW_S = 1.0


class StatsFollower:
    """Merges rows that arrived into a session's statistics, in the background."""

    def __init__(self, session: Session) -> None:
        self.session = session
        #: Rows arrived (or changed) since the statistics shown were computed.
        self.dirty = False
        self._task: asyncio.Task | None = None
        self._at = 0.0  #: when the statistics last followed new rows (monotonic)
        #: Statistics computed, waiting for the next tick (under the document lock).
        self.found: tuple[dict[str, Stats], dict[str, Stats]] | None = None

    def take(self) -> tuple[dict[str, Stats], dict[str, Stats]] | None:
        """The statistics computed since the last call, if any."""
        found, self.found = self.found, None
        return found

    def reset(self) -> None:
        """A load brought the window's statistics: nothing to follow, nothing in flight."""
        self.found = None
        self.dirty = False
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def due(self) -> bool:
        """Rows arrived, the summary can answer, and none was computed within
        :data:`STATS_FOLLOW_S` (nor is one running)."""
        s = self.session
        busy = self._task is not None and not self._task.done()
        recent = time.monotonic() - self._at < STATS_FOLLOW_S
        ready = s.summary is not None and all(self._answered(v) for v in s.selected)
        return self.dirty and not busy and not recent and ready and s.live

    def _answered(self, var) -> bool:
        """The summary holds ``var``, or the shared rollup serves it."""
        summary = self.session.summary
        rollup = summary.rollup if summary is not None else None
        return summary is not None and (
            summary.holds(var.key) or (rollup is not None and rollup.usable(var) is not None)
        )

    def start(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self.dirty = False
        self._at = time.monotonic()
        self._task = loop.create_task(self._compute())

    async def _compute(self) -> None:
        s = self.session
        start = s._span[0] if s._span[0] is not None else s._extent[0]
        end = s._span[1] if s._span[1] is not None else s._extent[1]
        summary = s.summary
        if start is None or end is None or end <= start or summary is None:
            return
        variables = [v for v in s.selected if v.table not in s.notes.problems and self._answered(v)]
        try:
            async with asyncio.timeout(s.settings.query_timeout.total_seconds()):
                now = await window_stats(
                    s.store, variables, start, end, s.settings.gap, summary=summary,
                    rollup=summary.rollup,
                )  # fmt: skip
        except Exception as exc:
            log.warning("window statistics failed: %s", error_line(exc))
            return  # keep what is shown
        found = {**s.current_stats, **{st.variable: st for st in now}}
        self.found = (found, dict(s.reference_stats))  # shown by the next tick
        s.tick_soon()

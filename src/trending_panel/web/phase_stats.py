"""Each pen's statistics per phase, on request (issue 20): the phases of the batches that the
window shows, each over its whole span (a running one's until now), from the shared rollup or
the summary like the window's own (:func:`~..read.stats.window_stats`).

Read off the document lock when switched on and when a new window is loaded (not as rows
stream: a phase's numbers are as of the window's load), applied by the session's tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import TYPE_CHECKING

import param

from trending_panel.core.errors import error_line
from trending_panel.core.events import Batch
from trending_panel.read.stats import Stats, window_stats
from trending_panel.web.phase_bands import page_units

if TYPE_CHECKING:
    from trending_panel.web.session import Session

log = logging.getLogger(__name__)

#: Most phases a block lists (the window's first ones).
MOST = 8


def phase_spans(
    batches: list[Batch], start: datetime, end: datetime, now: datetime, units: set[str] | None
) -> list[tuple[str, datetime, datetime]]:
    """The phases overlapping ``[start, end]`` (of ``units`` when given), oldest first, as
    (label, start, end): ``phase`` alone when one batch is shown, else ``phase · batch``."""
    found = []
    for batch in batches:
        if units and batch.unit not in units:
            continue
        for phase in batch.phases:
            ended = phase.end or now
            if ended >= start and phase.start <= end:
                found.append((phase.name, batch.batch_id, phase.start, ended))
    found.sort(key=lambda f: (f[2], f[0]))
    several = len({f[1] for f in found}) > 1
    return [(f"{n} · {b}" if several else n, a, e) for n, b, a, e in found[:MOST]]


class PhaseStats(param.Parameterized):
    """The page's statistics by phase: switched on from the sidebar, shown by the trends."""

    on = param.Boolean(default=False, doc="Show each pen's statistics per phase shown.")
    rows = param.Dict(default={}, doc="Per pen key: [(phase label, Stats)], oldest first.")

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.batches = session.hub.batches
        self._tables = [v.table for v in session.all_variables]
        self._seen: tuple | None = None
        self._pending: dict | None = None
        self._task: asyncio.Task | None = None
        session.on_tick(self.refresh)
        session.on_close(self._cancel)
        self.param.watch(lambda _: self.refresh(), "on")

    def refresh(self) -> bool:
        """Apply what was read; start a read when switched on and the window or the batches
        changed since the last one."""
        if self._pending is not None:
            self.rows, self._pending = self._pending, None
        if not self.on:
            self._seen = None
            if self.rows:
                self.rows = {}
            return False
        s = self.session
        start, end = s.loaded_span
        seen = (self.batches.version, start, end, tuple(s.variables))
        if start is None or end is None or seen == self._seen:
            return False
        self._seen = seen
        found = self.batches.batches.batches
        units = page_units(found, self._tables)
        spans = phase_spans(found, start, end, s.settings.now(), units)
        self._cancel()
        with contextlib.suppress(RuntimeError):  # no loop: nothing to read with
            self._task = asyncio.get_running_loop().create_task(self._read(spans))
        return False

    async def _read(self, spans: list[tuple[str, datetime, datetime]]) -> None:
        s = self.session
        settings = s.settings
        deadline = settings.query_timeout.total_seconds()
        out: dict[str, list[tuple[str, Stats]]] = {}
        try:
            async with asyncio.timeout(deadline), s.hub.loads.wait(settings.max_loads, deadline):
                for label, start, end in spans:
                    found = await window_stats(
                        s.store, s.selected, start, end, settings.gap, summary=s.summary,
                        rollup=s.summary.rollup if s.summary is not None else None,
                    )  # fmt: skip
                    for st in found:
                        out.setdefault(st.variable, []).append((label, st))
        except Exception as exc:  # an outage: the window's own statistics stay
            log.warning("statistics by phase not read: %s", error_line(exc))
            return  # read again with the next window, or when switched on again
        self._pending = out
        s.tick_soon()

    def _cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

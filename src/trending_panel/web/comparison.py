"""A page comparing batches (issue 20: ``?compare=ID1,ID2&align=PHASE``): its state.

The page's pens, drawn for each compared batch on one axis of hours since that batch's start
(or since its aligned phase's start), each batch in its colour. Like a session's window, the
comparison is read off the document lock (:mod:`~..read.compare_load`) and applied by the
session's tick; a zoom reads the zoomed hours again at the plots' width, down to raw rows; a
running batch among them is read again every :data:`RUNNING_S` seconds, so its line grows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import param
from bokeh.models import ColumnDataSource, Range1d

from trending_panel.core import compare
from trending_panel.core import steps as traces
from trending_panel.core.errors import error_line
from trending_panel.core.variables import Variable
from trending_panel.read.compare_load import LoadedComparison, elapsed_range, read_comparison
from trending_panel.read.window_load import DEFAULT_WIDTH
from trending_panel.web.notes import Note
from trending_panel.web.ticker import Debounced
from trending_panel.web.viewport import DEBOUNCE_S

if TYPE_CHECKING:
    from trending_panel.web.session import Session

log = logging.getLogger(__name__)

#: A running batch in a comparison is read again this often (seconds).
RUNNING_S = 5.0


def empty() -> traces.Columns:
    return {**traces.empty(), "elapsed": np.array([], dtype="float64")}


class Comparison(param.Parameterized):
    """The batches ``ids`` compared on the page's pens, aligned on ``align`` (None: start)."""

    message = param.String(default="", doc="What was left out of the comparison, and why.")
    loading = param.Boolean(default=False, doc="A read of the comparison is in flight.")
    shown = param.List(default=[], doc="The batches drawn (Compared), in the order asked.")
    stats = param.Dict(default={}, doc="Per pen key, each drawn batch's Stats by slot.")

    def __init__(self, session: Session, ids: list[str], align: str | None) -> None:
        super().__init__()
        self.session = session
        self.ids = ids
        self.align = align
        self.hub = session.hub
        self.x_range = Range1d(start=0, end=1, name="elapsed-range")
        self.sources = {
            (slot, key): ColumnDataSource(empty(), name=f"compare-{slot}-{key}")
            for slot in range(len(ids))
            for key in session.by_key
        }
        self._pending: LoadedComparison | None = None
        self._task: asyncio.Task | None = None
        self._generation = 0
        self._width = DEFAULT_WIDTH
        self._range_set: tuple[float, float] | None = None
        self._zoom: tuple[float, float] | None = None
        self._again_at: float | None = None  #: when a running batch is read again
        self._settle = Debounced(session, DEBOUNCE_S, self._settled)
        self._resized = False  #: the plots' width changed since the last read
        self.x_range.on_change("start", self._moved)
        self.x_range.on_change("end", self._moved)
        session.on_tick(self.tick)
        session.on_close(self.let_go)
        session.notes.more.append(self.notes)
        self.schedule()

    def notes(self) -> list[Note]:
        """What the status line says of the comparison."""
        out = [Note("busy", "comparing…")] if self.loading else []
        return out + ([Note("problem", self.message)] if self.message else [])

    # -- reading --------------------------------------------------------------------------

    def schedule(self, zoom: tuple[float, float] | None = None) -> None:
        """Read the comparison (or the ``zoom`` hours of it) in the background."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: a script awaits load() itself
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._generation += 1
        self.loading = True
        self._task = loop.create_task(self.load(zoom, self._generation))

    async def load(
        self, zoom: tuple[float, float] | None = None, generation: int | None = None
    ) -> LoadedComparison | None:
        if generation is None:
            self._generation = generation = self._generation + 1
        s = self.session
        settings = s.settings
        deadline = settings.query_timeout.total_seconds()
        try:
            async with asyncio.timeout(deadline):
                await self.hub.batches.wait_loaded(deadline)
                if not self.hub.batches.enabled:
                    raise LookupError("this site names no events table ([events])")
                if self.hub.batches.error:
                    raise LookupError(f"the batches cannot be read: {self.hub.batches.error}")
                found, problems = compare.plan(
                    self.hub.batches.batches, self.ids, self.align, list(s.by_key),
                    self.hub.tags, settings.now(),
                )  # fmt: skip
                pens = self._pens(found)
                async with self.hub.loads.wait(settings.max_loads, deadline):
                    loaded = await read_comparison(
                        s.store, s.summary, self._rollup(), found, pens, self._width, settings,
                        generation=generation, zoom=zoom,
                    )  # fmt: skip
        except Exception as exc:
            why = (
                f"the database did not answer within {deadline:g} s"
                if isinstance(exc, TimeoutError) else error_line(exc)
            )  # fmt: skip
            self.session.clock.under_lock(partial(self._failed, generation, why))
            log.warning("comparison not read: %s", why)
            return None
        loaded.problems[:0] = problems
        if generation == self._generation:
            self._pending = loaded
            s.tick_soon()
        return loaded

    def _failed(self, generation: int, why: str) -> None:
        if generation == self._generation:  # (a newer request may have come meanwhile)
            self.param.update(loading=False, message=f"Could not compare: {why}")

    def _pens(self, found: list[compare.Compared]) -> dict[str, Variable]:
        """Every tag the comparison reads, by key (the summary keeps them while shown)."""
        pens: dict[str, Variable] = {}
        for c in found:
            for tag in c.tags.values():
                var = self.session.by_key.get(tag) or self.hub.tags.get(tag)
                if var is not None:
                    pens[tag] = var
        if self.session.summary is not None:
            self.session.summary.want(self, list(pens.values()))
        return pens

    def _rollup(self):
        summary = self.session.summary
        return summary.rollup if summary is not None else None

    def let_go(self) -> None:
        """The page closed: its batches' tags are no longer summarised for it."""
        if self._task is not None:
            self._task.cancel()
        if self.session.summary is not None:
            self.session.summary.release(self)

    # -- applying (the session's tick, under the document lock) ----------------------------

    def tick(self) -> bool:
        changed = False
        if self._pending is not None:
            pending, self._pending = self._pending, None
            if pending.generation == self._generation:
                self._apply(pending)
                changed = True
        if self._again_at is not None and time.monotonic() >= self._again_at and not self.loading:
            self._again_at = None
            self.schedule(self._zoom)
        return changed

    def _apply(self, loaded: LoadedComparison) -> None:
        drawn = {o.compared.slot: o for o in loaded.overlays}
        for (slot, key), source in self.sources.items():
            overlay = drawn.get(slot)
            source.data = overlay.columns.get(key, empty()) if overlay else empty()
        self._zoom = loaded.zoom
        if loaded.zoom is None:
            found = [o.compared for o in loaded.overlays]
            low, high = elapsed_range(found)
            self.x_range.update(start=low, end=high, reset_start=low, reset_end=high)
            self._range_set = (low, high)
            stats: dict[str, dict[int, object]] = {}
            for o in loaded.overlays:
                for key, st in o.stats.items():
                    stats.setdefault(key, {})[o.compared.slot] = st
            self.param.update(shown=found, stats=stats)
        running = any(o.compared.batch.running for o in loaded.overlays)
        self._again_at = time.monotonic() + RUNNING_S if running else None
        self.param.update(loading=False, message="; ".join(loaded.problems))

    # -- zoom, pan and resize ---------------------------------------------------------------

    def resized(self, width: object) -> None:
        if isinstance(width, int) and width > 0 and width != self._width:
            self._width = width
            self._resized = True
            self._settle()

    def _moved(self, attr: str, old: object, new: object) -> None:
        self._settle()

    def _settled(self) -> None:
        if self._range_set is None:
            return
        if self.loading:
            self._settle()
            return
        start, end = self.x_range.start, self.x_range.end
        resized, self._resized = self._resized, False
        if (start, end) == self._range_set:
            if self._zoom is not None or resized:
                self.schedule()  # reset (or a new width): the whole batches again
            return
        numbers = isinstance(start, int | float) and isinstance(end, int | float)
        if numbers and end > start and ((start, end) != self._zoom or resized):
            self.schedule((float(start), float(end)))

"""The site's batches, read once per process: what every page's phase bands and ``?batch=``
look up in memory (issue 20).

One per process (the hub's), like the feed: the events table is read at start and then every
:data:`REFRESH_S` seconds, one query whatever the number of pages, so a running batch's band
grows and a new phase appears within that time. A table that cannot be read is named (the
header says why there are no bands) and the trends keep working without context.
"""

from __future__ import annotations

import asyncio
import logging

import param

from trending_panel.core.errors import error_line
from trending_panel.core.events import Batches
from trending_panel.core.settings import Settings
from trending_panel.db.store import Store
from trending_panel.live.background import Background, waited

log = logging.getLogger(__name__)

#: How often the events table is read again (seconds).
REFRESH_S = 5.0


class BatchList(Background, param.Parameterized):
    """Every batch of ``[events]`` (none without it), newest first."""

    version = param.Integer(default=0, doc="Bumped whenever the batches read changed.")
    error = param.String(default="", doc="Why the events table could not be read.")

    def __init__(self, store: Store, settings: Settings, **params: object) -> None:
        super().__init__(**params)
        self.store = store
        self.settings = settings
        self.batches = Batches()
        self._loaded = asyncio.Event()

    @property
    def enabled(self) -> bool:
        return self.settings.events is not None

    def _starting(self) -> None:
        self._loaded = asyncio.Event()

    async def refresh(self) -> None:
        """Read the events table once."""
        assert self.settings.events is not None
        try:
            self._apply(await self.store.batches(self.settings.events))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # missing table, wrong columns, an outage: named
            self._failed(exc)
        finally:
            self._loaded.set()

    def load_now(self, timeout: float) -> None:
        """Read the batches from synchronous code (a notebook's first dashboard), blocking
        the caller, never a server's loop."""
        if not self.enabled or self._loaded.is_set():
            return
        try:
            assert self.settings.events is not None
            self._apply(self.store.wait(self.store.batches(self.settings.events), timeout))
        except Exception as exc:  # the background read keeps trying
            self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        if error_line(exc) != self.error:
            log.warning("batches not read: %s", error_line(exc))
        self.error = error_line(exc)

    def _apply(self, found: Batches) -> None:
        assert self.settings.events is not None
        new = [b.as_json() for b in found.batches] != [b.as_json() for b in self.batches.batches]
        for problem in sorted(set(found.problems) - set(self.batches.problems)):
            log.warning("%s: %s", self.settings.events.table, problem)
        self.batches, self.error = found, ""
        if new:
            self.version += 1

    async def wait_loaded(self, timeout: float | None = None) -> bool:
        return not self.enabled or await waited(self._loaded, timeout)

    async def _run(self) -> None:
        if not self.enabled:
            return
        while True:
            await self.refresh()
            await asyncio.sleep(REFRESH_S)

"""A periodic callback for a session outside a Bokeh server (a notebook's kernel).

Panel's loop-based periodic callback yields to the event loop only when a callback finishes
within its period (panel#8751): one slow tick then starves everything else on the loop, the
window loads and the live feed included. This one sleeps after every call, however long the
call took, so it neither piles calls up nor starves the loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Ticker:
    """Calls ``callback`` every ``period`` seconds on the running loop; never more than one
    at a time, and always yields to the loop between two calls (no pile-up, no starvation)."""

    def __init__(self, callback: Callable[[], None], period: float) -> None:
        self.callback, self.period = callback, period
        self.ticks = 0
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            began = time.monotonic()
            try:
                self.callback()
            except Exception:
                log.exception("tick failed")
            self.ticks += 1
            await asyncio.sleep(max(0.0, self.period - (time.monotonic() - began)) or 0.01)

    def stop(self) -> None:
        self._task.cancel()

"""Bounds on what one viewer can make the server do at once.

Window loads and CSV exports read the database and fill memory; without a bound, a few tabs
zooming fast or a script fetching exports in a loop would queue work without end. Each kind
of work has a number of slots per process (the settings' ``max_loads`` and ``max_exports``);
loads wait their turn for a while, exports are refused at once when every slot is taken, and
a client may run one export at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from weakref import WeakKeyDictionary


class Busy(Exception):
    """Every slot is taken (the message says what to do)."""


class Slots:
    """At most ``size`` holders at once in this process (per event loop, as asyncio wants)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._semaphores: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            WeakKeyDictionary()
        )
        self._holders: Counter[str] = Counter()

    def _semaphore(self, size: int) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        sem = self._semaphores.get(loop)
        if sem is None:
            sem = self._semaphores[loop] = asyncio.Semaphore(size)
        return sem

    @contextlib.asynccontextmanager
    async def wait(self, size: int, timeout: float) -> AsyncIterator[None]:
        """Hold a slot, waiting up to ``timeout`` seconds for one."""
        sem = self._semaphore(size)
        try:
            await asyncio.wait_for(sem.acquire(), timeout)
        except TimeoutError:
            raise Busy(
                f"the server is busy with other {self.what}s (no slot within {timeout:g} s); "
                "try again shortly"
            ) from None
        try:
            yield
        finally:
            sem.release()

    @contextlib.asynccontextmanager
    async def now(self, size: int, holder: str, per_holder: int = 1) -> AsyncIterator[None]:
        """Hold a slot now, or raise :class:`Busy`: when all ``size`` are taken, or when
        ``holder`` (a user or an address) already holds ``per_holder``."""
        if self._holders[holder] >= per_holder:
            raise Busy(f"another {self.what} of yours is still running; wait for it to finish")
        sem = self._semaphore(size)
        if sem.locked():
            raise Busy(f"{size} {self.what}s are running on this server; try again in a minute")
        await sem.acquire()
        self._holders[holder] += 1
        try:
            yield
        finally:
            self._holders[holder] -= 1
            if not self._holders[holder]:
                del self._holders[holder]
            sem.release()


#: Window loads (and zoom re-reads) of every session of this process.
LOADS = Slots("window load")
#: CSV exports of this process (HTTP route and notebook downloads).
EXPORTS = Slots("CSV export")

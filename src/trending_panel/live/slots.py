"""Bounds on what the server does at once, and in which order.

Window loads, statistics, the summary's build and its refreshes read the database and fill
memory; without a bound, a few tabs zooming fast or a script fetching exports in a loop would
queue work without end. Each kind of work has a number of slots per process (the settings'
``max_loads`` and ``max_exports``). Loads share theirs with the statistics and the summary,
in two classes: a page's interactive work (its first window, a zoom) always goes ahead of
background work (the summary's build and refreshes), which may never hold every slot, so a
page opened during a build is served by the next free slot. Exports are refused at once when
every slot is taken, and a client may run one export at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, deque
from collections.abc import AsyncIterator
from weakref import WeakKeyDictionary

from trending_panel.core.errors import Busy
from trending_panel.core.variables import Variable

#: A page waits for this work: it goes first.
INTERACTIVE = 0
#: Nobody waits for it: it takes what interactive work leaves.
BACKGROUND = 1


class _Gate:
    """``size`` slots on one event loop, granted by class, then in arrival order."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.held = [0, 0]  # per class
        self.waiting: tuple[deque, deque] = (deque(), deque())

    def _grantable(self, kind: int) -> bool:
        if sum(self.held) >= self.size:
            return False
        if kind == BACKGROUND:
            # Background work leaves a slot free, and never passes a waiting page.
            pages_wait = any(not f.done() for f in self.waiting[INTERACTIVE])
            return self.held[BACKGROUND] < max(1, self.size - 1) and not pages_wait
        return True

    def _wake(self) -> None:
        for kind in (INTERACTIVE, BACKGROUND):
            queue = self.waiting[kind]
            while queue:
                if queue[0].done():  # given up (timed out or cancelled)
                    queue.popleft()
                    continue
                if not self._grantable(kind):
                    break
                self.held[kind] += 1
                queue.popleft().set_result(None)

    async def acquire(self, kind: int) -> None:
        if not any(not f.done() for f in self.waiting[kind]) and self._grantable(kind):
            self.held[kind] += 1
            return
        future = asyncio.get_running_loop().create_future()
        self.waiting[kind].append(future)
        try:
            await future
        except BaseException:
            if future.done() and not future.cancelled():
                self.release(kind)  # granted as it gave up: pass it on
            else:
                future.cancel()
                self._wake()  # a page that gave up may have held back background work
            raise

    def release(self, kind: int) -> None:
        self.held[kind] -= 1
        self._wake()

    def locked(self) -> bool:
        return sum(self.held) >= self.size


class Slots:
    """At most ``size`` holders at once in this process (per event loop, as asyncio wants)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._gates: WeakKeyDictionary[asyncio.AbstractEventLoop, _Gate] = WeakKeyDictionary()
        self._holders: Counter[str] = Counter()

    def _gate(self, size: int) -> _Gate:
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = _Gate(size)
        return gate

    def busy(self, size: int) -> tuple[int, int]:
        """Slots held now by (interactive, background) work on this loop."""
        gate = self._gate(size)
        return gate.held[INTERACTIVE], gate.held[BACKGROUND]

    @contextlib.asynccontextmanager
    async def wait(
        self, size: int, timeout: float | None, kind: int = INTERACTIVE
    ) -> AsyncIterator[None]:
        """Hold a slot, waiting up to ``timeout`` seconds (None: as long as it takes)."""
        gate = self._gate(size)
        try:
            await asyncio.wait_for(gate.acquire(kind), timeout)
        except TimeoutError:
            raise Busy(
                f"the server is busy with other {self.what}s (no slot within {timeout:g} s); "
                "try again shortly"
            ) from None
        try:
            yield
        finally:
            gate.release(kind)

    @contextlib.asynccontextmanager
    async def now(self, size: int, holder: str, per_holder: int = 1) -> AsyncIterator[None]:
        """Hold a slot now, or raise :class:`Busy`: when all ``size`` are taken, or when
        ``holder`` (a user or an address) already holds ``per_holder``."""
        if self._holders[holder] >= per_holder:
            raise Busy(f"another {self.what} of yours is still running; wait for it to finish")
        gate = self._gate(size)
        if gate.locked():
            raise Busy(f"{size} {self.what}s are running on this server; try again in a minute")
        await gate.acquire(INTERACTIVE)
        self._holders[holder] += 1
        try:
            yield
        finally:
            self._holders[holder] -= 1
            if not self._holders[holder]:
                del self._holders[holder]
            gate.release(INTERACTIVE)


async def in_lanes(variables: list[Variable], one, names: list[str]) -> None:
    """``await one(var, lane)`` for each of ``variables``, as many at once as ``names``."""
    lanes: asyncio.Queue[str] = asyncio.Queue()
    for name in names:
        lanes.put_nowait(name)

    async def lane(var: Variable) -> None:
        name = await lanes.get()
        try:
            await one(var, name)
        finally:
            lanes.put_nowait(name)

    await asyncio.gather(*(lane(v) for v in variables))

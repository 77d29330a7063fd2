"""When a session ticks: every :data:`TICK_MS`, and at once when the feed hands it rows or a
load has finished.

Served, the tick is Panel's periodic callback, a *background* one: Panel otherwise marks the
whole process busy around each tick, and every session's Material page was bound to that flag,
so each tick of each session set a property on every page (a walk of each page's models): N
viewers cost N² such walks, and three saturated a core. In a notebook's kernel, a
:class:`Ticker`: Panel's loop-based periodic callback yields to the event loop only when a
callback finishes within its period (panel#8751), so one slow tick would starve everything
else on the loop, the window loads and the live feed included; this one sleeps after every
call, however long the call took, so it neither piles calls up nor starves the loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

import panel as pn
from bokeh.document import Document
from panel.io.callbacks import PeriodicCallback

if TYPE_CHECKING:
    from trending_panel.web.session import Session

log = logging.getLogger(__name__)
T = TypeVar("T")

#: A session's periodic tick (ms).
TICK_MS = 250


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


class Debounced:
    """Calls ``callback`` once nothing has asked for it for ``delay`` seconds, under the
    document's lock (:meth:`Clock.under_lock`); without a running loop, never."""

    def __init__(self, session: Session, delay: float, callback: Callable[[], None]) -> None:
        self.session, self.delay, self.callback = session, delay, callback
        self._timer: asyncio.TimerHandle | None = None

    def __call__(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._timer is not None:
            self._timer.cancel()  # (a no-op once it has fired)
        self._timer = loop.call_later(self.delay, self._fire)

    def _fire(self) -> None:
        self.session.clock.under_lock(self.callback)


class Clock:
    """A session's ticks: periodic, and on demand (rows arrived, a load finished)."""

    def __init__(self, session: Session, doc: Document | None, on_server: bool) -> None:
        self.session = session
        self.doc = doc
        self.on_server = on_server
        self.periodic: PeriodicCallback | Ticker | None = None
        self._woken = False

    def start(self) -> None:
        """Tick every :data:`TICK_MS`; served, also as soon as the feed hands rows over, and
        stop with the browser's session."""
        self.periodic = self._periodic()
        if self.on_server:
            pn.state.on_session_destroyed(self._destroyed)
            self.session._sub.wake = self._wake

    def _periodic(self) -> PeriodicCallback | Ticker:
        if not self.on_server:
            try:
                return Ticker(self.session.tick, TICK_MS / 1000)
            except RuntimeError:
                pass  # no running loop: Panel's own will do
        periodic = PeriodicCallback(
            callback=self.session.tick, period=TICK_MS, background=True, log=False
        )
        periodic.start()
        return periodic

    def soon(self) -> None:
        """Served, tick on the next turn of the loop (under the document lock)."""
        if self.on_server and self.doc is not None:
            self.doc.add_next_tick_callback(self.session.tick)

    def under_lock(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` holding the document's lock: served, on the next turn of the
        loop; else now. A timer or a task holds no lock, and Panel sends a parameter changed
        outside it through a callback it defers with the value of that moment, which could
        land after a newer change made under the lock."""
        if self.on_server and self.doc is not None:
            self.doc.add_next_tick_callback(callback)
        else:
            callback()

    def in_steps(self, steps: Iterator[T], done: Callable[[T], None] | None = None) -> None:
        """Take ``steps`` one at a time, under the document's lock, and give the last value
        they yield to ``done`` (if any). Served, each step is a turn of the event loop of its own,
        after what already waits in it (other sessions' ticks, messages from browsers): a
        long build held every session for its whole length. Else all of them now."""
        if not (self.on_server and self.doc is not None):
            last = None
            for last in steps:  # noqa: B007  (the last one is the point)
                pass
            if done is not None:
                done(last)  # type: ignore[arg-type]
            return
        doc, got = self.doc, []

        def step() -> None:
            try:
                got[:] = [next(steps)]
            except StopIteration:
                if done is not None:
                    done(got[0])
                return
            doc.add_timeout_callback(step, 0)  # behind what waits, not before it

        doc.add_timeout_callback(step, 0)

    def _wake(self) -> None:
        """New rows in the queue: stream them on the next turn of the loop, once."""
        if self.doc is not None and not self._woken:
            self._woken = True
            self.doc.add_next_tick_callback(self._tick_once_woken)

    def _tick_once_woken(self) -> None:
        self._woken = False
        self.session.tick()

    def _destroyed(self, _context: object) -> None:
        session = self.session
        session._sub.wake = None
        session.let_go()
        if self.periodic is not None:
            self.periodic.stop()

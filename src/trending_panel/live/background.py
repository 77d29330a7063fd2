"""The lifecycle shared by the process-wide workers (feed, summary, convergence): one task on
the running event loop, started idempotently, stopped by cancelling it."""

from __future__ import annotations

import asyncio
import contextlib


class Background:
    """Mixin: subclasses implement :meth:`_run`; :meth:`_starting`, :meth:`_stopped` are hooks."""

    _task: asyncio.Task | None = None

    def start(self) -> None:
        """Start on the running loop, unless already running (idempotent)."""
        if self._task is None or self._task.done():
            self._starting()
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._stopped()

    def _starting(self) -> None:
        """Reset what a fresh run needs (before the task is created)."""

    def _stopped(self) -> None:
        """Let go of what the run held (after the task ended)."""

    async def _run(self) -> None:
        raise NotImplementedError


async def waited(event: asyncio.Event, timeout: float | None) -> bool:
    """Whether ``event`` was set within ``timeout`` seconds (waiting for it)."""
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        return False
    return True

"""The store's connections: one pool, and lanes of their own, on an event loop of its own.

psycopg 3, asynchronous: the pool and every query live on one event loop in a thread of
their own, so that a Bokeh server's (or a Jupyter kernel's) event loop never waits on the
database, and one store is safe to share across a process. Table names contain a slash: they
are only ever spliced in through ``psycopg.sql.Identifier``; values only ever travel as query
parameters. What the store asks lives beside: :mod:`.reads`, :mod:`.census`, :mod:`.copy`,
:mod:`.schema`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from typing import Any, ParamSpec, TypeVar

from psycopg import AsyncConnection, OperationalError, sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from trending_panel.core.settings import Settings
from trending_panel.core.variables import Variable
from trending_panel.db.diagnosis import CannotConnect, Diagnosis, explain

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


def table(var: Variable) -> sql.Identifier:
    """``var``'s table as an identifier (its name holds a slash: always quoted)."""
    return sql.Identifier(var.table)


def on_db_loop(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Run the coroutine method on the store's own event loop, awaited from the caller's."""

    @functools.wraps(method)
    async def wrapper(self: Pool, *args: Any, **kwargs: Any) -> T:
        return await self._call(method(self, *args, **kwargs))

    return wrapper  # type: ignore[return-value]


class Pool:
    """Connections to the database: one pool, and lanes of their own, on the store's loop.

    The pool and every query live on one event loop in a thread of their own, and callers on
    any loop (the Bokeh server's, a Jupyter kernel's, possibly several threads of it) await the
    results. asyncio objects cannot be shared between loops, so this is what makes one store
    safe to share across a process; the caller's loop only ever waits on a future.
    """

    def __init__(self, settings: Settings, *, max_size: int = 4, read_only: bool = True) -> None:
        self.settings = settings
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._loop_lock = threading.Lock()
        self._conninfo = settings.conninfo(read_only=read_only)
        self.pool = AsyncConnectionPool(
            self._conninfo,
            min_size=1,
            max_size=max_size,
            open=False,
            timeout=settings.connect_timeout,
            # A connection broken by a database restart is replaced on checkout, not handed out.
            check=AsyncConnectionPool.check_connection,
            kwargs={"autocommit": True},
            name="trending-panel",
        )
        #: Connections of their own for callers that must not wait behind the pool (the live
        #: feed): a refused connection fails at once, a broken one is replaced on next use.
        self._own: dict[str, AsyncConnection] = {}
        #: Why the last connection attempt failed, until one succeeds: while set, the pool is
        #: not trusted to connect (it would wait its whole timeout and hide the reason).
        self.down: str | None = "not connected yet"
        self._probe_lock: asyncio.Lock | None = None
        #: Calls running on the store's loop for callers on other loops (see :meth:`close`).
        self._calls: set[asyncio.Task] = set()

    # -- the store's own event loop -----------------------------------------------------------

    def _db_loop(self) -> asyncio.AbstractEventLoop:
        with self._loop_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="trending-panel-db", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    async def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        loop = self._db_loop()
        if asyncio.get_running_loop() is loop:
            return await coro
        return await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(self._tracked(coro), loop)
        )

    async def _tracked(self, coro: Coroutine[Any, Any, T]) -> T:
        """``coro`` on the store's loop, known to :meth:`close` while it runs."""
        task = asyncio.current_task()
        assert task is not None
        self._calls.add(task)
        try:
            return await coro
        finally:
            self._calls.discard(task)

    def wait(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run a store coroutine to the end from synchronous code (a notebook cell), blocking
        the caller's thread, never the store's loop. Not for an event loop's own thread
        in a server: there, await the coroutine."""
        future = asyncio.run_coroutine_threadsafe(coro, self._db_loop())
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    @on_db_loop
    async def open(self, wait: bool = False) -> None:
        """Open the pool. With ``wait=False`` a database that is down does not stop start-up;
        with ``wait=True`` it fails at once with the reason (one direct connection first)."""
        if wait and self.down is not None:
            await self._probe()
        if self.pool.closed:
            await self.pool.open(wait=wait, timeout=self.settings.connect_timeout)

    @contextlib.asynccontextmanager
    async def connection(self, lane: str | None = None) -> AsyncIterator[AsyncConnection]:
        """A connection (only ever used on the store's loop): pooled, or with ``lane`` the
        lane's own. A query interrupted on it (a deadline, a cancelled load) or failing with
        a connection error takes the connection out of use."""
        if lane is not None:
            async with self._own_connection(lane) as conn:
                yield conn
            return
        if self.down is not None:
            await self._probe()
        await self.open()
        try:
            async with self.pool.connection() as conn:
                yield conn
        except (OperationalError, PoolTimeout) as exc:
            self._went_down(exc)
            raise

    async def _probe(self) -> None:
        """Connect once directly: the real reason at once (refused, wrong password…) instead
        of the pool's "couldn't get a connection after N sec"."""
        if self._probe_lock is None:
            self._probe_lock = asyncio.Lock()
        async with self._probe_lock:
            if self.down is None:
                return
            try:
                conn = await AsyncConnection.connect(self._conninfo)
            except OperationalError as exc:
                raise CannotConnect(self._went_down(exc)) from exc
            await conn.close()
            self.down = None

    def _went_down(self, exc: BaseException) -> Diagnosis:
        """Remember that the database is down, and why (explained)."""
        diagnosis = explain(exc, self.settings)
        self.down = diagnosis.summary
        return diagnosis

    @contextlib.asynccontextmanager
    async def _own_connection(self, lane: str) -> AsyncIterator[AsyncConnection]:
        conn = self._own.get(lane)
        if conn is None or conn.closed or conn.broken:
            try:
                conn = await AsyncConnection.connect(self._conninfo, autocommit=True)
            except OperationalError as exc:
                raise CannotConnect(self._went_down(exc)) from exc
            self._own[lane] = conn
            self.down = None
        try:
            yield conn
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError | OperationalError) or conn.broken:
                # Interrupted mid-query (psycopg has tried to cancel it, for at most a few
                # seconds, before this runs) or broken: never reuse it.
                if self._own.get(lane) is conn:
                    del self._own[lane]
                if isinstance(exc, OperationalError):
                    self._went_down(exc)
                with contextlib.suppress(Exception):
                    await conn.close()
            raise

    async def close(self) -> None:
        """Close the pool and stop the store's loop."""
        if self._loop is None:
            return
        await self._call(self._close_all())
        with self._loop_lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            await asyncio.to_thread(thread.join, 5)
            loop.close()

    async def _close_all(self) -> None:
        # Queries whose callers were cancelled (a stop mid-read) end first: their tasks are
        # cancelled and awaited, briefly, so none is destroyed pending with the loop.
        pending = [t for t in self._calls if t is not asyncio.current_task()]
        for task in pending:
            if not task.cancelling():  # cancelled once by its caller is enough
                task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=2.0)
        for conn in self._own.values():
            await conn.close()
        self._own.clear()
        await self.pool.close()

    async def __aenter__(self) -> Pool:
        await self.open(wait=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _allow_long(self, conn: AsyncConnection) -> None:
        """Within the current transaction, statements may run up to the export's limit
        (``TRENDING_EXPORT_TIMEOUT``) instead of the session's query timeout."""
        ms = int(self.settings.export_timeout.total_seconds() * 1000)
        await conn.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(ms))

    @on_db_loop
    async def ping(self, *, lane: str | None = None) -> None:
        """One round trip (``SELECT 1``): the connection works, nothing is read."""
        async with self.connection(lane) as conn:
            await conn.execute("SELECT 1")

    async def _each_table(
        self, variables: Sequence[Variable], template: str, lane: str | None
    ) -> list[tuple]:
        """One statement: ``template`` for each variable (``{k}`` its position, ``{t}`` its
        table, ``%(h)s`` the horizon) joined by ``UNION ALL``; all rows it returns."""
        if not variables:
            return []
        query = sql.SQL(" UNION ALL ").join(
            sql.SQL(template).format(k=sql.Literal(i), t=table(v))  # type: ignore[arg-type]
            for i, v in enumerate(variables)
        )
        async with self.connection(lane) as conn:
            cur = await conn.execute(query, {"h": self.settings.horizon()})
            return await cur.fetchall()

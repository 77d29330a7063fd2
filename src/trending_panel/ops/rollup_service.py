"""``trending-panel rollup`` as a process: the builder, the follower and the census of
:class:`~.rollup.Rollup` as three tasks, each on a connection of its own, until SIGTERM or
SIGINT (or, with ``--once``, one build and one catch-up)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable

from psycopg import AsyncConnection

from trending_panel.core.errors import error_line
from trending_panel.core.settings import Settings
from trending_panel.db import rollup as tables
from trending_panel.db.store import Store
from trending_panel.ops.rollup import CATALOG_EVERY_S, Rollup

log = logging.getLogger(__name__)


async def _connect(settings: Settings) -> AsyncConnection:
    return await AsyncConnection.connect(settings.conninfo(), autocommit=True)


async def run(settings: Settings, schema: str, *, once: bool = False) -> None:
    """The service: build every tag, then follow them until stopped (SIGTERM, SIGINT), every
    ``TRENDING_POLL`` like the dashboard's feed; with ``once``, build and catch up once, then
    return."""
    interval = settings.poll_interval.total_seconds()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    async with Store(settings) as store:
        writer = await _connect(settings)
        follower = await _connect(settings)
        censor = await _connect(settings)
        starter = await _connect(settings)
        try:
            await tables.ensure_schema(writer, schema)
            rollup = Rollup(store, settings, schema)
            await rollup.refresh_tags(writer)
            log.info("rollup: %d tags into schema %r", len(rollup.tags), schema)
            if once:
                began = time.monotonic()
                await rollup.build_all(writer)
                await rollup.census(follower)
                await rollup.start_passes(follower, only_resumed=True)
                caught = await rollup.follow(follower)
                ids = [rollup.tags[k].state.id for k in caught]
                await tables.heartbeat(follower, schema, ids, {})
                log.info("rollup: built %s rows in %.1f s", f"{rollup.rows_built:,}",
                         time.monotonic() - began)  # fmt: skip
                return
            tasks = [
                asyncio.create_task(_builder(rollup, writer, stop)),
                asyncio.create_task(_follower(rollup, follower, interval, stop)),
                asyncio.create_task(_censor(rollup, censor, interval, stop)),
                asyncio.create_task(_starter(rollup, starter, interval, stop)),
            ]
            await stop.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            for conn in (writer, follower, censor, starter):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 2)


async def _builder(rollup: Rollup, conn: AsyncConnection, stop: asyncio.Event) -> None:
    last_catalog = time.monotonic()
    while not stop.is_set():
        try:
            if time.monotonic() - last_catalog > CATALOG_EVERY_S:
                last_catalog = time.monotonic()
                await rollup.refresh_tags(conn)
            await rollup.build_all(conn, stop)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # an outage: try again
            log.warning("rollup: build: %s", error_line(exc))
            conn = await _reconnect(rollup.settings, conn)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 2.0)


async def _follower(
    rollup: Rollup, conn: AsyncConnection, interval: float, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        error = None
        caught: list[str] = []
        try:
            caught = await rollup.follow(conn)
            await rollup.quick_census(conn)  # late rows and corrections in the newest pages
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # an outage: reported in the health table when it is back
            error = error_line(exc)
            log.warning("rollup: follow: %s", error)
            conn = await _reconnect(rollup.settings, conn)
            with contextlib.suppress(Exception):
                await rollup.find_broken(conn)
        with contextlib.suppress(Exception):
            ids = [rollup.tags[k].state.id for k in caught]
            await tables.heartbeat(conn, rollup.schema, ids, {}, error)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


async def _censor(
    rollup: Rollup, conn: AsyncConnection, interval: float, stop: asyncio.Event
) -> None:
    """The census on a connection of its own: a pass over a big table never holds up the
    live edge (only the merge of what it found waits for the follower's)."""
    await _repeat("census", rollup.census, rollup.settings, conn, interval, stop)


async def _starter(
    rollup: Rollup, conn: AsyncConnection, interval: float, stop: asyncio.Event
) -> None:
    """Each tag's pass at start (:meth:`Rollup.start_passes`), beside the census; again for
    tags that join later, and after an outage."""
    every = max(interval, 1.0)
    await _repeat("start pass", rollup.start_passes, rollup.settings, conn, every, stop)


async def _repeat(
    name: str,
    work: Callable[[AsyncConnection], Awaitable[object]],
    settings: Settings,
    conn: AsyncConnection,
    interval: float,
    stop: asyncio.Event,
) -> None:
    """``work`` every ``interval`` until stopped; an outage (the follower reports it) is
    logged at debug level and the connection made again."""
    while not stop.is_set():
        try:
            await work(conn)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("rollup: %s: %s", name, error_line(exc))
            conn = await _reconnect(settings, conn)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


async def _reconnect(settings: Settings, conn: AsyncConnection) -> AsyncConnection:
    if not conn.closed and not conn.broken:
        return conn
    with contextlib.suppress(Exception):
        await conn.close()
    try:
        return await _connect(settings)
    except Exception:
        return conn  # still down: the next round tries again

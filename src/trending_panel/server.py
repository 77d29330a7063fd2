"""Serving the dashboard on a Bokeh server through Panel (used by ``serve`` and ``demo``)."""

from __future__ import annotations

import logging
import os
import signal

import panel as pn

from .dashboard import Dashboard
from .settings import Settings

log = logging.getLogger(__name__)

TITLE = "Bioreactor trends"
#: A month of raw rows as CSV is tens of MB; Bokeh's default websocket limit is 20 MB.
MAX_MESSAGE_BYTES = 512 * 1024 * 1024


def make_app(settings: Settings):
    """A per-session factory: every browser tab gets its own :class:`Dashboard` state."""

    def app() -> pn.viewable.Viewable:
        return Dashboard(settings).__panel__()

    return app


def serve(
    settings: Settings,
    *,
    port: int = 8888,
    address: str | None = None,
    allow_websocket_origin: list[str] | None = None,
    show: bool = False,
) -> None:
    """Serve at the root URL with Panel's ``/liveness`` endpoint; blocks until stopped."""
    pn.extension(notifications=False)
    log.info("serving on port %d, database %s", port, settings.describe())
    # SIGTERM (docker stop, systemd, timeout) takes Panel's graceful Ctrl-C path, so `demo`
    # and the container shut down cleanly instead of dying mid-write.
    signal.signal(signal.SIGTERM, lambda *_: os.kill(os.getpid(), signal.SIGINT))
    extra = {"allow_websocket_origin": allow_websocket_origin} if allow_websocket_origin else {}
    pn.serve(
        make_app(settings),
        port=port,
        address=address,
        show=show,
        title=TITLE,
        liveness=True,
        websocket_max_message_size=MAX_MESSAGE_BYTES,
        # One process-wide poller serves every tab; nothing here blocks the event loop.
        threaded=False,
        **extra,
    )

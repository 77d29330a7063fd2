"""Serving the dashboard on a Bokeh server through Panel (used by ``serve`` and ``demo``)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import threading

import panel as pn
import tornado.iostream
import tornado.websocket

from trending_panel.core.settings import Settings
from trending_panel.live.hub import hub
from trending_panel.serve import export_route
from trending_panel.serve.access import Access
from trending_panel.serve.guard import guard
from trending_panel.web.dashboard import Dashboard

log = logging.getLogger(__name__)

TITLE = "Bioreactor trends"
#: A SIGTERM stops the server within this many seconds, whatever it is doing: the graceful
#: path (Panel's Ctrl-C) gets this long, then the process exits regardless.
STOP_DEADLINE_S = 4.5
#: The CSV no longer crosses the websocket (it streams over HTTP): Bokeh's default suffices
#: for the plots, whose points are bounded by their width.
MAX_MESSAGE_BYTES = 20 * 1024 * 1024


def make_app(settings: Settings):
    """A per-session factory: every browser tab gets its own :class:`Dashboard` state."""

    def app() -> pn.viewable.Viewable:
        return Dashboard(settings, export_url=export_route.PATH.lstrip("/")).page()

    return app


def serve(
    settings: Settings,
    *,
    port: int = 8888,
    address: str | None = None,
    allow_websocket_origin: list[str] | None = None,
    show: bool = False,
    num_procs: int = 1,
    access: Access | None = None,
) -> None:
    """Serve at the root URL with Panel's ``/liveness`` endpoint and the CSV route; blocks
    until stopped. ``num_procs`` > 1 forks that many processes on one port (Bokeh's
    multi-process serving), each with its own feed and summary. ``access``: sign-in and
    websocket origins (see :mod:`.access`); the origins given here are allowed besides."""
    access = access if access is not None else Access()
    pn.extension(notifications=False)
    log.info("serving on port %d, database %s", port, settings.describe())
    # SIGTERM (docker stop, systemd, timeout) takes Panel's graceful Ctrl-C path, so `demo`
    # and the container shut down cleanly instead of dying mid-write. With several processes,
    # the parent (which only watches its forked children) passes the signal on to them.
    signal.signal(signal.SIGTERM, _to_sigint if num_procs == 1 else _to_forked)
    if num_procs > 1:
        signal.signal(signal.SIGINT, _to_forked)
    origins = [*(allow_websocket_origin or []), *access.origins]
    origins = origins or access.allowed_origins(address, port)
    log.info("websocket origins allowed: %s", ", ".join(origins))
    if access.enabled:
        log.info("sign-in required (%s)", access.oauth_provider or "basic auth")
    server = pn.serve(
        make_app(settings),
        port=port,
        address=address,
        show=show,
        title=TITLE,
        liveness=True,
        websocket_max_message_size=MAX_MESSAGE_BYTES,
        extra_patterns=export_route.patterns(settings),
        num_procs=num_procs,
        # One process-wide poller serves every tab; nothing here blocks the event loop.
        threaded=False,
        start=False,
        allow_websocket_origin=origins,
        **access.serve_options(),
    )
    # The page's and the websocket's query, read by Panel before any session exists.
    guard(server._tornado, ["/", "/ws"])
    # In each process (after the fork, with num_procs > 1): start polling and building the
    # summary now, so the first visitor of a wide window does not wait for it.
    server.io_loop.add_callback(_warm_up, settings)
    server.start()
    # What exists now (the modules of Python, Bokeh, Panel, pandas: about 190,000 objects)
    # lives as long as the process: the collector need not walk it again. A full collection
    # then takes about 25 ms instead of 90-200, and it runs on the event loop, in whatever
    # session's turn happened to allocate (seen inside a page's build, and in ticks).
    gc.collect()
    gc.freeze()
    server.io_loop.start()


def _warm_up(settings: Settings) -> None:
    asyncio.get_running_loop().set_exception_handler(_quiet_closed_sockets)
    hub(settings).start()


def _quiet_closed_sockets(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    """A browser that goes away while Panel writes to its websocket leaves write futures
    whose WebSocketClosedError nobody retrieves (Panel cancels them when it destroys the
    session, which does not retrieve an exception already set): asyncio would log each as
    an ERROR with a traceback. A viewer closing a tab is no error: one INFO line instead.
    Everything else goes to asyncio's default handler."""
    exc = context.get("exception")
    if isinstance(exc, tornado.websocket.WebSocketClosedError | tornado.iostream.StreamClosedError):
        log.info("a browser left while a message to it was being sent")
        return
    loop.default_exception_handler(context)


def _children() -> list[int]:
    """This process's child processes (Linux), e.g. the ones Bokeh forked for ``num_procs``."""
    pid = os.getpid()
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def _to_sigint(signum: int, frame: object) -> None:
    _exit_by_deadline()
    # Panel's own Ctrl-C path: its interrupt, raised here and now. Not a SIGINT sent to
    # ourselves: a process started in the background by a shell ignores SIGINT (POSIX), and
    # one sent from inside this handler is noticed only at the main thread's next wake-up.
    # A SIGINT handler of the application's own (a callable) is asked instead.
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler) and handler is not signal.default_int_handler:
        handler(signal.SIGINT, frame)
        return
    raise KeyboardInterrupt


def _exit_by_deadline() -> None:
    """Leave within :data:`STOP_DEADLINE_S` even if the graceful stop hangs (a callback that
    does not return, a database that does not answer a cancel, a worker thread in a long
    reduction): what an orchestrator's stop timeout expects."""

    def force() -> None:
        log.warning("not stopped within %g s of SIGTERM: exiting now", STOP_DEADLINE_S)
        logging.shutdown()
        os._exit(0)

    timer = threading.Timer(STOP_DEADLINE_S, force)
    timer.daemon = True
    timer.start()


def _to_forked(signum: int, frame: object) -> None:
    """In the parent of forked servers, pass the signal on (they stop and exit 0, and so does
    the parent); a forked server inherits this handler and takes the Ctrl-C path itself."""
    children = _children()
    if not children:
        _to_sigint(signum, frame)
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGINT)

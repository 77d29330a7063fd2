"""Requests checked before Panel or Bokeh read them.

The page and its websocket carry the view in their query string (``?window=6h&ref=...``).
The dashboard's own parser turns anything there into a window or a message, but Panel reads
the query first, while it builds the session (``panel.util.parse_query`` for
``pn.state.location``), and raises on values it cannot convert: a number of more than 4,300
digits, a "digit" such as ``²`` that ``int()`` refuses. The request then never gets a
session, and every message its page sends afterwards logs a traceback.

A websocket that is not one a page of this server opened (no ``bokeh`` subprotocol, or a
token that is not one this server signed) makes Bokeh raise in its handler and again when it
closes: a traceback in the log for what is only a stranger knocking.

So each request for the page or its websocket is first checked here, with Panel's own query
parser and Bokeh's own token checks; what they cannot take is answered with ``400`` and one
line saying what, before any session exists. Everything else goes on to Panel unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlparse

import tornado.web
from bokeh.server.util import check_allowlist
from bokeh.settings import settings
from bokeh.util.token import check_token_signature, get_token_payload
from panel.util import parse_query

log = logging.getLogger(__name__)

#: Longest query string accepted for the page (characters). The longest legitimate one, a
#: list of every variable's key, is far below; Tornado's own limit is the 64 KB header.
MAX_QUERY = 16_384


def query_problem(query: str) -> str | None:
    """Why Panel cannot read this query string (without its ``?``), or ``None``."""
    if len(query) > MAX_QUERY:
        return f"the query string is longer than {MAX_QUERY:,} characters"
    try:
        parse_query("?" + query)
    except Exception:  # any failure of Panel's parser is this request's fault
        for key, value in parse_qsl(query, keep_blank_values=True):
            try:
                parse_query("?" + urlencode({key: value}))
            except Exception:  # (the same, for one parameter at a time)
                return f"the value of {key[:40]!r} is not a valid parameter"
        return "the query string cannot be read"
    return None


def websocket_problem(request, app) -> str | None:
    """Why ``request`` is not a websocket that a page of this server opened, or ``None``:
    Bokeh's subprotocol header, ``bokeh`` and a session token this server signed."""
    if request.headers.get("Upgrade", "").lower() != "websocket":
        return None  # Tornado answers that itself, without a traceback
    allowed = app.websocket_origins
    if settings.allowed_ws_origin():
        allowed = set(settings.allowed_ws_origin())
    origin = urlparse(request.headers.get("Origin", "")).netloc.lower()
    if not check_allowlist(origin, allowed):
        return None  # a foreign origin: Bokeh refuses it (403) before anything else
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    if len(offered) != 2 or offered[0] != "bokeh":
        return "not a websocket of this dashboard's page (no Bokeh session token)"
    token = offered[1]
    try:
        signed = check_token_signature(token, signed=app.sign_sessions, secret_key=app.secret_key)
        payload = get_token_payload(token) if signed else None
    except Exception:  # a token that does not even decode
        signed, payload = False, None
    if not signed or not isinstance(payload, dict):
        return "not a websocket of this dashboard's page (an unknown session token)"
    return None


class Refused(tornado.web.RequestHandler):
    """``400`` and one line, for a page or websocket request whose query cannot be read."""

    def initialize(self, reason: str) -> None:
        self.reason = reason

    def prepare(self) -> None:
        self.set_status(400)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(f"Bad request: {self.reason}.\n")


def guard(app: tornado.web.Application, paths: Iterable[str]) -> None:
    """Check the query of every request to ``paths`` (the page, its websocket) before the
    application finds its handler."""
    guarded = frozenset(paths)
    find_handler = app.find_handler

    def checked(request, **kwargs):
        if request.path in guarded:
            reason = query_problem(request.query) if request.query else None
            if reason is None and request.path.endswith("/ws"):
                reason = websocket_problem(request, app)
            if reason is not None:
                log.info("refused %s: %s", request.path, reason)
                return app.get_handler_delegate(request, Refused, {"reason": reason})
        return find_handler(request, **kwargs)

    app.find_handler = checked  # type: ignore[method-assign]

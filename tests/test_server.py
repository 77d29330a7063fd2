"""The served process's own pieces that need no server running."""

from __future__ import annotations

import asyncio
import logging

import tornado.websocket

from trending_panel.server import _quiet_closed_sockets


def test_a_browser_leaving_mid_message_is_no_error_but_other_failures_are(caplog):
    loop = asyncio.new_event_loop()
    try:
        with caplog.at_level(logging.INFO):
            _quiet_closed_sockets(
                loop,
                {"message": "Task exception was never retrieved",
                 "exception": tornado.websocket.WebSocketClosedError()},
            )  # fmt: skip
            _quiet_closed_sockets(
                loop, {"message": "Task exception was never retrieved", "exception": KeyError(1)}
            )
    finally:
        loop.close()
    levels = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert ("INFO", "a browser left while a message to it was being sent") in levels
    errors = [m for lvl, m in levels if lvl == "ERROR"]
    assert errors == ["Task exception was never retrieved"]  # the KeyError, as asyncio logs it

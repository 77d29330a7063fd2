"""The served process's own pieces that need no server running."""

from __future__ import annotations

import asyncio
import logging

import pytest
import tornado.websocket

from trending_panel.serve.server import _quiet_closed_sockets


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


@pytest.mark.browser  # end to end: a served process of its own
@pytest.mark.parametrize("sigint", ["default", "ignored"])
def test_a_sigterm_ends_the_process_by_the_deadline_when_the_graceful_stop_hangs(sigint):
    """The handler ``serve`` installs for SIGTERM: Panel's graceful path first; a process
    whose stop hangs (here: the main thread swallows the interrupt) exits by the deadline.
    Also when the process was started ignoring SIGINT, as a shell starts a background job."""
    import signal
    import subprocess
    import sys
    import time

    from trending_panel.serve.server import STOP_DEADLINE_S

    script = (
        "import signal, time\n"
        "from trending_panel.serve import server\n"
        "signal.signal(signal.SIGTERM, server._to_sigint)\n"
        "ready = False\n"
        "while True:\n"
        "    try:\n"  # ready only once inside the try: the interrupt comes at once
        "        if not ready:\n"
        "            ready = True\n"
        "            print('ready', flush=True)\n"
        "        time.sleep(60)\n"
        "    except KeyboardInterrupt:\n"
        "        print('interrupted, but hanging on', flush=True)\n"
    )
    disposition = signal.SIG_IGN if sigint == "ignored" else signal.SIG_DFL
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # SIG_DFL lets Python install its own handler; SIG_IGN stays ignored across exec
        preexec_fn=lambda: signal.signal(signal.SIGINT, disposition),
    )
    assert proc.stdout.readline().strip() == "ready"
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=STOP_DEADLINE_S + 10)
    took = time.monotonic() - sent
    output = proc.stdout.read()
    assert proc.returncode == 0
    assert "interrupted, but hanging on" in output  # the graceful path was tried first
    assert "not stopped within 4.5 s of SIGTERM: exiting now" in output
    assert STOP_DEADLINE_S <= took < 5.0 + 1.0  # what an orchestrator's timeout sees

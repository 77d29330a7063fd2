"""The command line: the zero-setup demo starts, serves and leaves nothing behind on Ctrl-C."""

from __future__ import annotations

import glob
import signal
import subprocess
import sys
import tempfile

import psutil
import pytest

from tests.harness.browser import free_port, http_ok, served


def demo_leftovers() -> tuple[dict[int, str], list[str]]:
    """Demo PostgreSQL processes (pid: command line) and demo folders, of any demo."""
    procs = {
        p.pid: " ".join(p.info["cmdline"] or [])
        for p in psutil.process_iter(["name", "cmdline"])
        if p.info["name"] == "postgres"
        and any("trending-panel-demo-" in part for part in p.info["cmdline"] or [])
    }
    return procs, glob.glob(f"{tempfile.gettempdir()}/trending-panel-demo-*")


@pytest.mark.browser  # end to end: a served process of its own
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_demo_serves_and_stopping_it_leaves_nothing_running(stop):
    # Another demo may run beside this one (the suite runs on two workers): what this demo
    # started is what appeared while it ran.
    before = set(demo_leftovers()[1])
    port = free_port()
    with served(
        ["trending-panel", "demo", "--port", str(port), "--backfill", "10m"], {}, port, timeout=120
    ) as proc:
        assert http_ok(f"http://127.0.0.1:{port}/")
        procs, dirs = demo_leftovers()
        mine = set(dirs) - before
        assert mine and any(d in cmd for cmd in procs.values() for d in mine)  # it runs
        proc.send_signal(stop)
        proc.wait(timeout=30)
    assert proc.returncode == 0
    output = proc.stdout.read()
    assert "Traceback" not in output, output
    procs, dirs = demo_leftovers()
    assert not mine & set(dirs)  # its folder is gone...
    assert not [cmd for cmd in procs.values() if any(d in cmd for d in mine)]  # ...its server too


def test_help_lists_every_subcommand():
    out = subprocess.run(
        [sys.executable, "-m", "trending_panel.ops.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for command in ("serve", "demo", "simulate", "export"):
        assert command in out

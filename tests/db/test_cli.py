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


def demo_leftovers() -> tuple[list[int], list[str]]:
    procs = [
        p.pid
        for p in psutil.process_iter(["name", "cmdline"])
        if p.info["name"] == "postgres"
        and any("trending-panel-demo-" in part for part in p.info["cmdline"] or [])
    ]
    return procs, glob.glob(f"{tempfile.gettempdir()}/trending-panel-demo-*")


@pytest.mark.browser  # end to end: a served process of its own
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_demo_serves_and_stopping_it_leaves_nothing_running(stop):
    assert demo_leftovers() == ([], [])
    port = free_port()
    with served(
        ["trending-panel", "demo", "--port", str(port), "--backfill", "10m"], {}, port, timeout=120
    ) as proc:
        assert http_ok(f"http://127.0.0.1:{port}/")
        procs, dirs = demo_leftovers()
        assert procs and dirs  # its private PostgreSQL is running meanwhile
        proc.send_signal(stop)
        proc.wait(timeout=30)
    assert proc.returncode == 0
    output = proc.stdout.read()
    assert "Traceback" not in output, output
    assert demo_leftovers() == ([], [])


def test_help_lists_every_subcommand():
    out = subprocess.run(
        [sys.executable, "-m", "trending_panel.ops.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for command in ("serve", "demo", "simulate", "export"):
        assert command in out

"""Past one process: two dashboard processes behind Debian's nginx with the repository's
configuration, and ``serve --num-procs``; every browser gets live data."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.harness.browser import (
    browser_pages,
    free_port,
    http_ok,
    read_sources,
    served,
    wait_until,
)
from tests.harness.database import create_tables, insert, scratch_database
from trending_panel.core.rows import to_ms
from trending_panel.core.variables import BY_KEY, VARIABLES

pytestmark = pytest.mark.browser

CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"
NEWEST = datetime(2023, 3, 1, 16, 0)


@pytest.fixture(scope="module")
def small_db(admin_settings) -> Iterator[tuple]:
    with scratch_database(admin_settings, "tp_lb") as (settings, conn):
        create_tables(conn)
        for i, var in enumerate(VARIABLES):
            rows = [(NEWEST - timedelta(seconds=10 * k + i), 10.0 * (i + 1) + k % 5)
                    for k in range(600)]  # fmt: skip
            insert(conn, var.table, rows)
        yield settings, conn


@contextlib.contextmanager
def nginx(tmp: Path, port: int, backends: tuple[int, int]) -> Iterator[str]:
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(exe):
        pytest.fail("nginx is not installed (make test installs Debian's nginx)")
    text = CONF.read_text()
    for old, new in (("8888", port), ("8881", backends[0]), ("8882", backends[1])):
        assert old in text
        text = text.replace(old, str(new))
    (tmp / "tmp").mkdir(parents=True, exist_ok=True)
    (tmp / "nginx.conf").write_text(text)
    proc = subprocess.Popen(
        [exe, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-e", "stderr", "-g", "daemon off;"],
        stdout=(tmp / "nginx.out").open("w"),  # a file, not a pipe nobody drains
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/liveness"), what="nginx")
        yield f"http://localhost:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def live_row_reaches(pages, conn, when: datetime, value: float) -> None:
    var = BY_KEY["ph"]
    insert(conn, var.table, [(when, value)])
    target = to_ms(when)
    for page in pages:
        wait_until(
            lambda page=page: any(
                t == target and v == value
                for t, v in zip(
                    read_sources(page)["ph"]["time"], read_sources(page)["ph"]["value"], strict=True
                )
            ),
            timeout=30,
            what="the inserted row in every page",
        )


def test_two_processes_behind_nginx_both_serve_live_data(small_db, tmp_path):
    settings, conn = small_db
    port, a, b = free_port(), free_port(), free_port()
    env = settings.to_env()
    origin = ["--allow-websocket-origin", f"localhost:{port}"]
    with (
        served(["trending-panel", "serve", "--port", str(a), *origin], env, a) as proc_a,
        served(["trending-panel", "serve", "--port", str(b), *origin], env, b) as proc_b,
        nginx(tmp_path, port, (a, b)) as base,
        browser_pages(2, 1200, 1000) as pages,
    ):
        # One browser on each backend: the cookie's first hex digit picks it (as a random
        # request id does for a browser that has none).
        for key, page in zip(("0" * 32, "f" * 32), pages, strict=True):
            page.context.add_cookies([{"name": "tp_backend", "value": key, "url": base}])
            page.goto(base + "/?window=15m")
        for page in pages:
            wait_until(
                lambda page=page: (
                    len(read_sources(page)) == 4
                    and all(len(s["time"]) for s in read_sources(page).values())
                ),
                timeout=30,
                what="data through nginx",
            )
        live_row_reaches(pages, conn, NEWEST + timedelta(seconds=2), 6.125)
        # the CSV route streams through the proxy too
        request = urllib.request.Request(
            base + "/export.csv?window=15m&variables=ph", headers={"Cookie": "tp_backend=0"}
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            body = resp.read().decode()
        assert body.startswith("time,ph\r\n") and "6.125" in body
    logs = [proc_a.stdout.read(), proc_b.stdout.read()]
    for log in logs:  # each process served a browser session of its own
        assert "WebSocket connection opened" in log


def test_serve_with_two_processes(small_db):
    from tests.harness.browser import browser_page

    settings, conn = small_db
    port = free_port()
    cmd = ["trending-panel", "serve", "--port", str(port), "--num-procs", "2"]
    with served(cmd, settings.to_env(), port) as proc, browser_page() as page:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert len(children) == 2  # Bokeh forked two serving processes
        page.goto(f"http://localhost:{port}/?window=15m")
        wait_until(lambda: len(read_sources(page)) == 4, timeout=30, what="data")
        live_row_reaches([page], conn, NEWEST + timedelta(seconds=4), 6.25)
    for child in children:  # stopping the parent stopped the forked servers too
        wait_until(lambda child=child: not Path(f"/proc/{child}").exists(), timeout=15)

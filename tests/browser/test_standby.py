"""Past one database server (issue 19): the rollup service writes to a primary, two dashboard
processes behind ``deploy/nginx.conf`` read a streaming hot standby, and their pages equal a
single process reading the primary, source for source; ``check`` shows the replication lag."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from tests.browser.test_nginx import nginx
from tests.harness.browser import (
    browser_pages,
    free_port,
    read_sources,
    served,
    wait_until,
)
from tests.harness.database import create_tables, insert
from tests.harness.standby import primary_and_standby
from trending_panel.core.variables import VARIABLES

pytestmark = pytest.mark.browser


def test_two_dashboards_on_a_standby_equal_one_on_the_primary(tmp_path: Path):
    os.chmod(tmp_path, 0o755)  # the server's own user reaches its folders in it
    with primary_and_standby(tmp_path) as pair:
        with psycopg.connect(pair.primary.conninfo(), autocommit=True) as admin:
            admin.execute("CREATE DATABASE plant")
        primary, standby = (
            replace(pair.primary, dbname="plant"),
            replace(pair.standby, dbname="plant"),
        )
        conn = psycopg.connect(primary.conninfo(), autocommit=True)
        create_tables(conn)
        now = primary.now().replace(microsecond=0)
        for i, var in enumerate(VARIABLES):
            rows = [(now - timedelta(seconds=30 * k + i), 10.0 * (i + 1) + (k % 17) / 4)
                    for k in range(6 * 2880)]  # six days, every 30 s  # fmt: skip
            insert(conn, var.table, rows)
        rollup_env = {
            **os.environ, **primary.to_env(),
            "TRENDING_ROLLUP_USER": primary.user, "TRENDING_ROLLUP_PASSWORD": primary.password,
        }  # fmt: skip
        service = subprocess.Popen([sys.executable, "-m", "trending_panel.ops.cli", "rollup"],
                                   env=rollup_env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            wait_until(
                lambda: _rolled(standby) == len(VARIABLES), timeout=60,
                what="the rollup, replicated to the standby",
            )  # fmt: skip
            # The standby's own check: replication and the rollup (through the standby).
            check = subprocess.run([sys.executable, "-m", "trending_panel.ops.cli", "check"],
                                   env={**os.environ, **standby.to_env()}, capture_output=True,
                                   text=True, timeout=60)  # fmt: skip
            assert "OK   replication: a hot standby, " in check.stdout, check.stdout
            assert f'OK   rollup: "trending_rollup": {len(VARIABLES)} tags caught up' in (
                check.stdout
            )
            port, a, b, single = free_port(), free_port(), free_port(), free_port()
            origin = ["--allow-websocket-origin", f"localhost:{port}"]
            serve = ["trending-panel", "serve", "--port"]
            start, end = now - timedelta(days=5, hours=7), now - timedelta(hours=2)
            query = f"/?start={start.isoformat()}&end={end.isoformat()}"
            with (
                served([*serve, str(a), *origin], standby.to_env(), a) as proc_a,
                served([*serve, str(b), *origin], standby.to_env(), b) as proc_b,
                served([*serve, str(single)], primary.to_env(), single) as proc_single,
                nginx(tmp_path / "nginx", port, (a, b)) as base,
                browser_pages(3, 1366, 768) as pages,
            ):
                for page, url, key in zip(pages, (base, base, f"http://localhost:{single}"),
                                          ("0" * 32, "f" * 32, None), strict=True):  # fmt: skip
                    if key is not None:  # the cookie's first digit picks the backend
                        page.context.add_cookies([{"name": "tp_backend", "value": key, "url": url}])
                    page.goto(url + query)
                # Eventually the three agree, source for source (each page settles on the width
                # its browser reports); on a timeout, what each holds is printed.
                try:
                    found = wait_until(lambda: _agree(pages), timeout=90, what="equal pages")
                except TimeoutError:
                    for page in pages:
                        print({k: len(v["time"]) for k, v in read_sources(page).items()})
                    raise
            logs = [p.stdout.read() for p in (proc_a, proc_b, proc_single)]
        finally:
            service.terminate()
            service.wait(timeout=10)
            conn.close()
    assert all(len(found[v.key]["time"]) > 100 for v in VARIABLES)
    for log in logs:  # each read the rollup, and summarised nothing itself
        assert f"fresh, {len(VARIABLES)} tags served from it" in log
        assert "summary ready in" in log and ": 0 tag(s)," in log
    for log in logs[:2]:
        assert "WebSocket connection opened" in log  # each backend served its browser


def _rolled(settings) -> int:
    try:
        with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
            return conn.execute(
                "SELECT count(*) FROM trending_rollup.health WHERE built AND lag_s < 30"
            ).fetchone()[0]
    except psycopg.Error:
        return 0


def _agree(pages) -> dict | None:
    """The pages' sources when every trend of every page holds data and all pages agree."""
    found = [read_sources(page) for page in pages]
    for sources in found:
        if len(sources) != len(VARIABLES) or not all(len(s["time"]) for s in sources.values()):
            return None
    return found[0] if all(f == found[0] for f in found[1:]) else None

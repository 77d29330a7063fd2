"""A plant database as a new site has it, for the connection-diagnosis tests (the CLI's and
``check``'s in tests/db, the page's in tests/browser): a reader role with a password of
awkward characters (SCRAM), the four tables with one ungranted, one without an index on time
and a row dated 2099, a role without LOGIN, one allowed no connection, and settings that go
wrong in each way a new site gets them wrong."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from tests.harness.browser import free_port
from tests.harness.database import create_tables, insert, scratch_database
from trending_panel.core.settings import Settings
from trending_panel.core.variables import BY_KEY, VARIABLES

#: Nothing in any output may contain this, nor any four characters of it in a row.
PASSWORD = 'Gl#c0se~Fed\'Batch "7"'
TEMP, PH, PRESSURE = BY_KEY["temperature"], BY_KEY["ph"], BY_KEY["pressure"]
NOW = datetime.now().replace(microsecond=0)

#: cause → (how the settings go wrong, the words that must say so)
CAUSES = {
    "auth_failed": ("password", 'authentication failed for user "{reader}"'),
    "database_missing": ("dbname", 'database "tp_no_such_db" does not exist'),
    "refused": ("port", "connection refused at 127.0.0.1:{port}"),
    "login_not_permitted": ("nologin", 'role "{nologin}" is not permitted to log in'),
    "host_unknown": ("host", 'host name "plant-db.invalid" not found'),
    "too_many_connections": ("limit", "has no free connection (too many connections)"),
}


def leaks(text: str) -> list[str]:
    """Every four-character piece of the password found in ``text``."""
    return [PASSWORD[i : i + 4] for i in range(len(PASSWORD) - 3) if PASSWORD[i : i + 4] in text]


@pytest.fixture(scope="module")
def site(pg_server, admin_settings) -> Iterator[dict]:
    """A plant database as a new site has it: a reader role with a password (SCRAM), the
    four tables, pressure not granted to the reader, pH without an index on time, one
    temperature row dated in 2099; and a role without LOGIN."""
    if pg_server is None:
        pytest.skip("needs the suite's own PostgreSQL (roles and pg_hba.conf are changed)")
    tag = uuid.uuid4().hex[:6]
    reader, nologin, limited = f"tp_reader_{tag}", f"tp_nologin_{tag}", f"tp_limited_{tag}"
    with scratch_database(admin_settings, "tp_diag") as (settings, conn):
        create_tables(conn)
        for var in VARIABLES:
            insert(conn, var.table, [(NOW - timedelta(seconds=10 * k), 1.0 + k) for k in range(30)])
            if var is not PH:
                conn.execute(sql.SQL("CREATE INDEX ON {} (time)").format(sql.Identifier(var.table)))
        insert(conn, TEMP.table, [(datetime(2099, 1, 1), 99.0)])
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(reader), sql.Literal(PASSWORD)
            )
        )
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(nologin)))
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN CONNECTION LIMIT 0").format(sql.Identifier(limited))
        )
        for var in (TEMP, PH, BY_KEY["dissolved_oxygen"]):
            conn.execute(
                sql.SQL("GRANT SELECT ON {} TO {}").format(
                    sql.Identifier(var.table), sql.Identifier(reader)
                )
            )
        pg_server.require_password(reader)
        good = replace(settings, user=reader, password=PASSWORD, connect_timeout=2)
        port = free_port()  # nothing listens there
        wrong = {
            "auth_failed": replace(good, password="Wr0ng-Passw0rd"),
            "database_missing": replace(good, dbname="tp_no_such_db"),
            "refused": replace(good, host="127.0.0.1", port=port),
            "login_not_permitted": replace(good, user=nologin),
            "host_unknown": replace(good, host="plant-db.invalid"),
            "too_many_connections": replace(good, user=limited, password=""),
        }
        yield {
            "good": good,
            "admin": settings,
            "wrong": wrong,
            "names": {"reader": reader, "nologin": nologin, "port": port},
        }
    with psycopg.connect(admin_settings.conninfo(), autocommit=True) as c:
        for role in (reader, nologin, limited):
            c.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def cli(settings: Settings, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "trending_panel.ops.cli", *args],
        env={**os.environ, **settings.to_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )

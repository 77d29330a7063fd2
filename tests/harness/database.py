"""Databases for the tests: a scratch database, the four process tables, and rows."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace

import psycopg
from psycopg import sql

from trending_panel.core.settings import Settings
from trending_panel.core.variables import VARIABLES


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


def create_tables(conn: psycopg.Connection) -> psycopg.Connection:
    """The four process tables, created exactly as the plant has them (no index, no key)."""
    for var in VARIABLES:
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (time timestamp without time zone, value double precision)"
            ).format(sql.Identifier(var.table))
        )
    return conn


def create_tag_table(conn: psycopg.Connection, name: str) -> sql.Identifier:
    """A plant's tag table ``name`` (time, value) with a btree index on time; its identifier."""
    table = sql.Identifier(name)
    conn.execute(sql.SQL("CREATE TABLE {} (time timestamp, value double precision)").format(table))
    conn.execute(sql.SQL("CREATE INDEX ON {} (time)").format(table))
    return table


def create_metadata_table(conn: psycopg.Connection, name: str = "plant_tags") -> None:
    """The ``[catalog]``'s metadata table, with exactly the columns it takes."""
    conn.execute(
        sql.SQL(
            "CREATE TABLE {} (tag text, label text, unit text, low double precision,"
            " high double precision, description text)"
        ).format(sql.Identifier(name))
    )


def insert(conn: psycopg.Connection, table: str, rows: list[tuple]) -> None:
    """Insert ``(time, value)`` rows into a process table."""
    with conn.cursor() as cur:
        cur.executemany(
            sql.SQL("INSERT INTO {} (time, value) VALUES (%s, %s)").format(sql.Identifier(table)),
            rows,
        )


def wait_counted(
    settings: Settings, table: str, inserted: int = 0, updated: int = 0, deleted: int = 0
) -> None:
    """Until PostgreSQL's statistics count at least these rows written to ``table`` (a
    backend's counts reach them when it flushes, up to 10 s after the commit, not at it)."""
    deadline = time.monotonic() + 30
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables"
                " WHERE relname = %s",
                (table,),
            ).fetchone()
            if row is not None and all(
                have >= want for have, want in zip(row, (inserted, updated, deleted), strict=True)
            ):
                return
            assert time.monotonic() < deadline, f"{table}: counters {row}"
            time.sleep(0.05)

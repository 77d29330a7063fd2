"""The shared rollup's tables in PostgreSQL: its schema, its chunks, its watermarks, its health.

One schema (``trending_rollup`` by default, ``TRENDING_ROLLUP_SCHEMA``), written by the rollup
service alone (``trending-panel rollup``) and read by every dashboard and by ``check``:

- ``tags``: one row per tag table: the gap limit and alarm limits its moments were computed
  with, the watermark (every row older than ``built_us`` is in the buckets), the newest row
  folded in, when it was last caught up with its table, and its last error;
- ``chunks``: the buckets of a tag, level and chunk, packed (:mod:`~..core.chunks`), with
  their row count for the census;
- ``service``: one row, the service's heartbeat and last error;
- ``health``: a view of both, what ``check`` reads.

Identifiers through ``sql.Identifier``, values as parameters; no statement here reads a tag
table (the rollup reads those through the store, like the dashboard).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from psycopg import AsyncConnection, sql

from trending_panel.core import chunks
from trending_panel.core.m4 import Buckets
from trending_panel.db.pool import Pool, on_db_loop

DEFAULT_SCHEMA = "trending_rollup"

_DDL = """
CREATE TABLE IF NOT EXISTS {s}.tags (
    id serial PRIMARY KEY,
    tag text NOT NULL UNIQUE,
    gap_us bigint NOT NULL,
    low double precision,
    high double precision,
    built_us bigint,
    first_us bigint,
    newest_us bigint,
    caught_up_at timestamptz,
    changes bigint NOT NULL DEFAULT 0,
    changed_from_us bigint,
    changed_to_us bigint,
    last_error text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE {s}.tags ADD COLUMN IF NOT EXISTS census_xid bigint;
CREATE TABLE IF NOT EXISTS {s}.chunks (
    tag_id integer NOT NULL REFERENCES {s}.tags (id) ON DELETE CASCADE,
    level smallint NOT NULL,
    chunk bigint NOT NULL,
    buckets integer NOT NULL,
    rows bigint NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (tag_id, level, chunk)
);
ALTER TABLE {s}.chunks ALTER COLUMN data SET STORAGE EXTERNAL;
CREATE TABLE IF NOT EXISTS {s}.service (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    format integer NOT NULL,
    started_at timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL,
    last_error text
);
CREATE OR REPLACE VIEW {s}.health AS
    SELECT t.tag, t.built_us IS NOT NULL AND t.caught_up_at IS NOT NULL AS built,
           extract(epoch FROM now() - t.caught_up_at)::double precision AS lag_s,
           t.last_error, t.updated_at
    FROM {s}.tags t;
"""

#: What ``check`` asks of the rollup (a reader's role may run it).
HEALTH = """
SELECT s.format, extract(epoch FROM now() - s.heartbeat_at)::double precision, s.last_error,
       (SELECT count(*) FROM {s}.health),
       (SELECT count(*) FROM {s}.health WHERE NOT built),
       (SELECT max(lag_s) FROM {s}.health WHERE built),
       (SELECT tag FROM {s}.health WHERE built ORDER BY lag_s DESC NULLS LAST LIMIT 1),
       (SELECT count(*) FROM {s}.health WHERE last_error IS NOT NULL),
       (SELECT tag || ': ' || last_error FROM {s}.health WHERE last_error IS NOT NULL
        ORDER BY updated_at DESC LIMIT 1)
FROM {s}.service s
"""


@dataclass
class TagState:
    """A tag's row of ``tags``, as the service holds it."""

    id: int
    tag: str
    gap_us: int
    low: float | None
    high: float | None
    built_us: int | None  # every row before this time is in the buckets; None: not started
    first_us: int | None
    newest_us: int | None
    #: Every write by a transaction before this one is in the buckets (the census's horizon,
    #: kept across restarts: a pass at start looks for rows written since); None: unknown.
    census_xid: int | None = None


def schema_id(schema: str) -> sql.Identifier:
    return sql.Identifier(schema)


async def schema_exists(conn: AsyncConnection, schema: str) -> bool:
    cur = await conn.execute("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s", (schema,))
    return await cur.fetchone() is not None


async def ensure_schema(conn: AsyncConnection, schema: str, started: bool = True) -> None:
    """The schema's tables (created if absent: the service owns them) and the service row."""
    s = schema_id(schema)
    async with conn.transaction():
        if not await schema_exists(conn, schema):
            await conn.execute(sql.SQL("CREATE SCHEMA {}").format(s))
        # One service at a time may change the tables: the lock ends with the transaction.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (schema,))
        for statement in _DDL.split(";\n"):
            if statement.strip():
                await conn.execute(sql.SQL(statement).format(s=s))
        if started:
            await conn.execute(
                sql.SQL(
                    "INSERT INTO {s}.service (format, started_at, heartbeat_at)"
                    " VALUES (%s, now(), now()) ON CONFLICT (one) DO UPDATE"
                    " SET format = EXCLUDED.format, started_at = now(), heartbeat_at = now(),"
                    " last_error = NULL"
                ).format(s=s),
                (chunks.FORMAT,),
            )


async def register(
    conn: AsyncConnection, schema: str, tag: str, gap_us: int, low: float | None, high: float | None
) -> TagState:
    """The tag's state, created if new. Buckets computed with another gap limit or other alarm
    limits are dropped: their moments would not be this tag's (the tag is built again)."""
    s = schema_id(schema)
    async with conn.transaction():
        cur = await conn.execute(
            sql.SQL(
                "INSERT INTO {s}.tags (tag, gap_us, low, high) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (tag) DO UPDATE SET tag = EXCLUDED.tag"
                " RETURNING id, gap_us, low, high, built_us, first_us, newest_us, census_xid"
            ).format(s=s),
            (tag, gap_us, low, high),
        )
        row = await cur.fetchone()
        assert row is not None
        tag_id, old_gap, old_low, old_high, built, first, newest, xid = row
        if (old_gap, old_low, old_high) != (gap_us, low, high):
            await conn.execute(sql.SQL("DELETE FROM {s}.chunks WHERE tag_id = %s").format(s=s),
                               (tag_id,))  # fmt: skip
            await conn.execute(
                sql.SQL(
                    "UPDATE {s}.tags SET gap_us = %s, low = %s, high = %s, built_us = NULL,"
                    " first_us = NULL, newest_us = NULL, caught_up_at = NULL, census_xid = NULL,"
                    " updated_at = now()"
                    " WHERE id = %s"
                ).format(s=s),
                (gap_us, low, high, tag_id),
            )
            built = first = newest = xid = None
    return TagState(tag_id, tag, gap_us, low, high, built, first, newest, xid)


async def mark_census(conn: AsyncConnection, schema: str, tag_id: int, xid: int) -> None:
    """Every write before transaction ``xid`` is in the tag's buckets (see ``census_xid``)."""
    await conn.execute(
        sql.SQL("UPDATE {s}.tags SET census_xid = %s WHERE id = %s").format(s=schema_id(schema)),
        (xid, tag_id),
    )


async def load_chunks(
    conn: AsyncConnection,
    schema: str,
    tag_id: int,
    level: chunks.Level,
    first: int,
    last: int,
) -> Buckets:
    """The buckets of chunks ``first..last`` of a level, in time order."""
    cur = await conn.execute(
        sql.SQL(
            "SELECT chunk, data FROM {s}.chunks WHERE tag_id = %s AND level = %s"
            " AND chunk BETWEEN %s AND %s ORDER BY chunk"
        ).format(s=schema_id(schema)),
        (tag_id, level.number, first, last),
        binary=True,
    )
    parts = [chunks.unpack(bytes(data), level, chunk) for chunk, data in await cur.fetchall()]
    return Buckets.concat(parts)


async def level_counts(
    conn: AsyncConnection, schema: str, tag_id: int, level: chunks.Level
) -> tuple[np.ndarray, np.ndarray]:
    """Every bucket of a level of a tag: its index and row count (for the census)."""
    held = await load_chunks(conn, schema, tag_id, level, -(2**62), 2**62)
    return held.index, held.count


Written = tuple[chunks.Level, int, Buckets]


async def save(
    conn: AsyncConnection, schema: str, batch: Sequence[tuple[TagState, Sequence[Written]]]
) -> None:
    """Each tag's chunks written (an empty one deleted) and its watermark moved, all in one
    transaction (one round trip: psycopg pipelines ``executemany``): a crash leaves the
    rollup as it was before, or as it is after."""
    s = schema_id(schema)
    upserts, deletes, states = [], [], []
    for state, written in batch:
        for level, chunk, b in written:
            if len(b):
                data = chunks.pack(b, level, chunk)
                upserts.append((state.id, level.number, chunk, len(b), int(b.count.sum()), data))
            else:
                deletes.append((state.id, level.number, chunk))
        states.append((state.built_us, state.first_us, state.newest_us, state.id))
    statements = (
        ("INSERT INTO {s}.chunks (tag_id, level, chunk, buckets, rows, data)"
         " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (tag_id, level, chunk)"
         " DO UPDATE SET buckets = EXCLUDED.buckets, rows = EXCLUDED.rows, data = EXCLUDED.data",
         upserts),
        ("DELETE FROM {s}.chunks WHERE tag_id = %s AND level = %s AND chunk = %s", deletes),
        ("UPDATE {s}.tags SET built_us = %s, first_us = %s, newest_us = %s,"
         " last_error = NULL, updated_at = now() WHERE id = %s", states),
    )  # fmt: skip
    async with conn.transaction(), conn.cursor() as cur:
        for statement, rows in statements:
            if rows:
                await cur.executemany(sql.SQL(statement).format(s=s), rows)


async def heartbeat(
    conn: AsyncConnection,
    schema: str,
    caught_up: Sequence[int],
    errors: dict[int, str],
    service_error: str | None = None,
) -> None:
    """The service is alive; these tags are caught up with their tables, these failed."""
    s = schema_id(schema)
    async with conn.transaction():
        await conn.execute(
            sql.SQL("UPDATE {s}.service SET heartbeat_at = now(), last_error = %s").format(s=s),
            (service_error,),
        )
        if caught_up:
            await conn.execute(
                sql.SQL(
                    "UPDATE {s}.tags SET caught_up_at = now(), last_error = NULL WHERE id = ANY(%s)"
                ).format(s=s),
                (list(caught_up),),
            )
        for tag_id, error in errors.items():
            await conn.execute(
                sql.SQL(
                    "UPDATE {s}.tags SET last_error = %s, updated_at = now() WHERE id = %s"
                ).format(s=s),
                (error[:500], tag_id),
            )


async def changed(
    conn: AsyncConnection, schema: str, tag_id: int, from_us: int, to_us: int
) -> None:
    """Rows behind the live edge changed between these times (dashboards read them again)."""
    await conn.execute(
        sql.SQL(
            "UPDATE {s}.tags SET changes = changes + 1, changed_from_us = %s,"
            " changed_to_us = %s WHERE id = %s"
        ).format(s=schema_id(schema)),
        (from_us, to_us, tag_id),
    )


def health_query(schema: str) -> sql.Composed:
    return sql.SQL(HEALTH).format(s=schema_id(schema))


@dataclass(frozen=True)
class Published:
    """A tag of the rollup as a dashboard sees it."""

    id: int
    gap_us: int
    low: float | None
    high: float | None
    built_us: int  #: every row before this time is in its buckets
    lag_s: float  #: seconds since it was last caught up with its table
    changes: int = 0  #: spans behind the live edge rewritten so far
    changed: tuple[int, int] | None = None  #: the last such span (µs)


#: The service's heartbeat age and format, then each built tag's state.
_PUBLISHED = """
SELECT NULL, NULL, s.format, extract(epoch FROM now() - s.heartbeat_at)::double precision,
       NULL, NULL, NULL, NULL, NULL
FROM {s}.service s
UNION ALL
SELECT t.tag, t.id, NULL, extract(epoch FROM now() - t.caught_up_at)::double precision,
       t.gap_us, t.built_us, array[t.low, t.high], t.changes,
       array[t.changed_from_us, t.changed_to_us]
FROM {s}.tags t WHERE t.built_us IS NOT NULL AND t.caught_up_at IS NOT NULL
  AND t.last_error IS NULL
"""


class Rollups(Pool):
    """What a dashboard reads of the shared rollup (through its read-only pool)."""

    @on_db_loop
    async def rollup_published(
        self, schema: str
    ) -> tuple[int | None, float | None, dict[str, Published]] | None:
        """The rollup's format, its heartbeat's age and its built tags by table; None when
        the schema or its tables are not there (or not readable: the caller says so)."""
        async with self.connection() as conn:
            # A schema the role may not use is as good as absent here (`check` says why).
            cur = await conn.execute(
                "SELECT CASE WHEN has_schema_privilege(oid, 'USAGE')"
                " THEN to_regclass(format('%%I.service', nspname)) IS NOT NULL END"
                " FROM pg_catalog.pg_namespace WHERE nspname = %s",
                (schema,),
            )
            found = await cur.fetchone()
            if found is None or not found[0]:
                return None
            cur = await conn.execute(sql.SQL(_PUBLISHED).format(s=schema_id(schema)))
            rows = await cur.fetchall()
        fmt, beat, tags = None, None, {}
        for tag, tag_id, f, age, gap_us, built_us, limits, changes, span in rows:
            if tag is None:
                fmt, beat = f, age
            else:
                last = (span[0], span[1]) if span[0] is not None else None
                tags[tag] = Published(
                    tag_id, gap_us, limits[0], limits[1], built_us, age, changes, last
                )
        return fmt, beat, tags

    @on_db_loop
    async def rollup_buckets(
        self, schema: str, tag_id: int, level: chunks.Level, first: int, last: int
    ) -> Buckets:
        """Buckets ``first..last`` (indexes) of a level of a tag, as the rollup holds them."""
        async with self.connection() as conn:
            held = await load_chunks(
                conn, schema, tag_id, level, int(level.chunk_of(first)), int(level.chunk_of(last))
            )
        keep = (held.index >= first) & (held.index <= last)
        return held if keep.all() else held.take(keep)

"""The batches' events table read (issue 20): one query for every batch and phase.

The table (or view) and its columns come from ``[events]`` (:class:`~..core.events.EventsSpec`);
identifiers go through ``sql.Identifier``. A table that is missing, unreadable or has the wrong
columns raises :class:`~..core.errors.EventsUnusable` with a sentence that names it.
"""

from __future__ import annotations

from psycopg import sql

from trending_panel.core.errors import EventsUnusable
from trending_panel.core.events import OPTIONAL, Batches, EventsSpec, assemble
from trending_panel.db.pool import Pool, on_db_loop

_TIMESTAMP = "timestamp without time zone"


class Events(Pool):
    """Batches and phases for the pages, the CLI and the notebook."""

    @on_db_loop
    async def batches(self, spec: EventsSpec) -> Batches:
        """Every batch of the events table, newest first, with what was wrong with its rows."""
        async with self.connection() as conn:
            cur = await conn.execute(
                "SELECT c.oid, has_table_privilege(c.oid, 'SELECT') FROM pg_catalog.pg_class c"
                " WHERE c.relname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
                " AND pg_catalog.pg_table_is_visible(c.oid)",
                (spec.table,),
            )
            found = await cur.fetchone()
            if found is None:
                raise EventsUnusable(f"events table {spec.table!r} not found")
            if not found[1]:
                raise EventsUnusable(f"no SELECT permission on events table {spec.table!r}")
            cur = await conn.execute(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_catalog.pg_attribute"
                " WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped",
                (found[0],),
            )
            types = dict(await cur.fetchall())
            picked = []
            for role, name in spec.columns:
                if name not in types:
                    if role in OPTIONAL:
                        picked.append(sql.SQL("NULL::text"))
                        continue
                    raise EventsUnusable(
                        f"events table {spec.table!r} has no column {name!r} (the {role})"
                    )
                if role in ("start", "end") and types[name] != _TIMESTAMP:
                    raise EventsUnusable(
                        f"events table {spec.table!r}: {name} is {types[name]}, not a {_TIMESTAMP}"
                    )
                column = sql.Identifier(name)
                picked.append(
                    column if role in ("start", "end") else sql.SQL("{}::text").format(column)
                )
            query = sql.SQL("SELECT {} FROM {} ORDER BY 1").format(
                sql.SQL(", ").join(picked), sql.Identifier(spec.table)
            )
            cur = await conn.execute(query)
            rows = await cur.fetchall()
        return assemble(rows)

"""The tag catalog read from PostgreSQL's own catalog: every table the ``[catalog]`` patterns
match, with the column types of a tag, whether the role may read it, and what the metadata
table says of it. Catalog queries and one read of the metadata table; identifiers via
``sql.Identifier``, values as parameters."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from trending_panel.core.errors import ConfigError, error_line
from trending_panel.core.tags import CatalogSpec, Tag
from trending_panel.core.variables import Variable
from trending_panel.db.pool import Pool, on_db_loop

#: Tables and views the role can see by their plain name (the dashboard names tables
#: unqualified), with the two columns of a tag and whether it may read them.
_CANDIDATES = """
SELECT n.nspname, c.relname, pg_catalog.has_table_privilege(c.oid, 'SELECT')
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
  AND pg_catalog.pg_table_is_visible(c.oid)
  AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid
              AND a.attname = 'time' AND NOT a.attisdropped
              AND a.atttypid = 'timestamp without time zone'::regtype)
  AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid
              AND a.attname = 'value' AND NOT a.attisdropped
              AND a.atttypid = 'double precision'::regtype)
ORDER BY c.relname
"""


@dataclass(frozen=True)
class Catalog:
    """The tags, in table-name order, and the matching tables the role may not read."""

    tags: tuple[Tag, ...]
    unreadable: tuple[str, ...] = ()


class Tags(Pool):
    """The tag catalog of :class:`CatalogSpec` (or of the configured variables)."""

    @on_db_loop
    async def tag_catalog(self, spec: CatalogSpec | None, variables: Sequence[Variable]) -> Catalog:
        """The tags ``spec`` finds, each configured variable's settings winning over the
        metadata table's; without ``spec``, the configured variables."""
        configured = {v.table: v for v in variables}
        if spec is None:
            return Catalog(tuple(Tag.of_variable(v) for v in variables))
        async with self.connection() as conn:
            found = await (await conn.execute(_CANDIDATES)).fetchall()
            meta = await self._metadata(conn, spec.metadata) if spec.metadata else {}
        tags, unreadable = [], []
        for schema, name, readable in found:
            if not spec.matches((name, f"{schema}.{name}")):
                continue
            if not readable:
                unreadable.append(name)
            elif name in configured:
                about = meta.get(name)
                tags.append(Tag.of_variable(configured[name], (about[4] or "") if about else ""))
            else:
                tags.append(_from_metadata(name, meta.get(name)))
        return Catalog(tuple(tags), tuple(unreadable))

    async def _metadata(self, conn, name: str) -> dict[str, tuple]:
        """The metadata table's rows by tag; its columns are exactly those of the issue."""
        parts = name.split(".", 1) if "." in name and "/" not in name else [name]
        query = sql.SQL(
            "SELECT tag, label, unit, low, high, description FROM {} WHERE tag IS NOT NULL"
        ).format(sql.Identifier(*parts))
        try:
            rows = await (await conn.execute(query)).fetchall()
        except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn,
                psycopg.errors.InsufficientPrivilege) as exc:  # fmt: skip
            raise ConfigError(
                f"[catalog] metadata table {name!r}: {error_line(exc)} (its columns are tag, "
                "label, unit, low, high, description)"
            ) from None
        return {row[0]: row[1:] for row in rows}


def _limit(value: object) -> float | None:
    if value is None:
        return None
    value = float(value)  # type: ignore[arg-type]
    return value if math.isfinite(value) else None


def _from_metadata(table: str, meta: tuple | None) -> Tag:
    if meta is None:
        return Tag(key=table, table=table, label=table)
    label, unit, low, high, description = meta
    return Tag(
        key=table, table=table, label=label or table, unit=unit or "", low=_limit(low),
        high=_limit(high), description=description or "",
    )  # fmt: skip

"""What the database's catalog says of the configured tables: what ``trending-panel check``
asks (the server, the role and each table), and the column and index rules the dashboard
shares with it.

Catalog queries only (and ``min``/``max``/a count past the clock's horizon on each table),
over one plain psycopg connection in the dashboard's own read-only session; identifiers via
``sql.Identifier``, values as parameters. The dashboard itself never runs these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from psycopg import sql

from trending_panel.core.variables import Variable

_NUMERIC_TYPES = ("double precision", "real", "numeric", "integer", "bigint", "smallint")

#: The btree index whose first column is ``time`` of the table with oid ``%(oid)s``.
_TIME_INDEX = (
    "SELECT i.relname FROM pg_catalog.pg_index x"
    " JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid"
    " JOIN pg_catalog.pg_am am ON am.oid = i.relam"
    " JOIN pg_catalog.pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0]"
    " WHERE x.indrelid = {oid} AND am.amname = 'btree' AND a.attname = 'time'"
)

#: Of the tables named in ``%s`` (an array), those without such an index.
UNINDEXED = (
    "SELECT c.relname FROM pg_catalog.pg_class c"
    " WHERE c.relname = ANY(%s) AND c.relkind IN ('r', 'p', 'm')"
    " AND pg_catalog.pg_table_is_visible(c.oid)"
    f" AND NOT EXISTS ({_TIME_INDEX.format(oid='c.oid')})"
)


def create_time_index(table: str) -> str:
    """The statement that gives ``table`` the index the dashboard needs."""
    return (
        sql.SQL("CREATE INDEX ON {} ({});")
        .format(sql.Identifier(table), sql.Identifier("time"))
        .as_string(None)
    )


def column_problem(time_type: str | None, value_type: str | None) -> str | None:
    """Why a table's columns (their ``format_type``) cannot be read as a trend, or None."""
    if time_type != "timestamp without time zone":
        return f"column time is {time_type or 'missing'}, expected timestamp without time zone"
    if value_type is None or not value_type.startswith(_NUMERIC_TYPES):
        return f"column value is {value_type or 'missing'}, expected a number"
    return None


@dataclass
class Server:
    version: str
    timezone: str
    user: str
    superuser: bool
    application_name: str


@dataclass
class Table:
    """One configured table as the database has it (None/empty where it could not tell)."""

    table: str
    quoted: str = ""  #: the name as SQL spells it (quoted)
    exists: bool = False
    readable: bool = False
    columns: dict[str, str] = field(default_factory=dict)  #: time/value → format_type
    column_problem: str | None = None
    estimate: int | None = None  #: rows, from the planner's statistics (None: not analyzed)
    time_index: str | None = None  #: a btree index whose first column is ``time``
    create_index: str = ""  #: the statement that would make one
    oldest: datetime | None = None
    newest: datetime | None = None  #: the newest not beyond the horizon
    future: int = 0  #: rows dated beyond the clock's horizon
    first_future: datetime | None = None
    writable: list[str] = field(default_factory=list)  #: privileges beyond SELECT


def server(conn: psycopg.Connection) -> Server:
    row = conn.execute(
        "SELECT current_setting('server_version'), current_setting('TimeZone'), current_user,"
        " (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user),"
        " current_setting('application_name')"
    ).fetchone()
    assert row is not None
    return Server(*row)


def table(conn: psycopg.Connection, var: Variable, horizon: datetime) -> Table:
    """Everything ``check`` says of ``var``'s table; stops at the first thing that fails."""
    ident = sql.Identifier(var.table)
    out = Table(var.table, quoted=ident.as_string(conn))
    out.create_index = create_time_index(var.table)
    row = conn.execute(
        "SELECT c.oid, has_table_privilege(c.oid, 'SELECT'), c.reltuples::bigint,"
        " array(SELECT p FROM unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p"
        "       WHERE has_table_privilege(c.oid, p))"
        " FROM pg_catalog.pg_class c"
        " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND c.relname = %s"
        " AND pg_catalog.pg_table_is_visible(c.oid)",
        (var.table,),
    ).fetchone()
    if row is None:
        return out
    oid, out.readable, estimate, out.writable = row
    out.exists = True
    out.estimate = estimate if estimate >= 0 else None
    cols = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_catalog.pg_attribute"
        " WHERE attrelid = %s AND attname IN ('time', 'value') AND NOT attisdropped",
        (oid,),
    ).fetchall()
    out.columns = dict(cols)
    out.column_problem = column_problem(out.columns.get("time"), out.columns.get("value"))
    index = conn.execute(
        _TIME_INDEX.format(oid="%s") + " ORDER BY i.relname LIMIT 1", (oid,)
    ).fetchone()
    out.time_index = index[0] if index else None
    if not out.readable or out.column_problem:
        return out
    # Each of these is an index probe when there is one (else a pass over the table).
    out.oldest, out.newest = conn.execute(
        sql.SQL(
            "SELECT (SELECT min(time) FROM {t}), (SELECT max(time) FROM {t} WHERE time <= %s)"
        ).format(t=ident),
        (horizon,),
    ).fetchone()  # type: ignore[misc]
    out.future, out.first_future = conn.execute(
        sql.SQL("SELECT count(*), min(time) FROM {} WHERE time > %s").format(ident), (horizon,)
    ).fetchone()  # type: ignore[misc]
    return out

"""``trending-panel check``: the configuration tested end to end, one line per step.

Grafana's "Save & test" for this dashboard: it connects as ``serve`` would (the same
settings, the same read-only session), then asks the server and each configured table what
the dashboard needs, and ends with a verdict. Exit code 0 when the dashboard can work
(warnings allowed), 1 when it cannot; a configuration that does not even parse exits 2
before this runs. ``--json`` gives the same as one object for scripts and monitoring.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

import psycopg

from trending_panel.core.errors import error_line
from trending_panel.core.settings import Settings
from trending_panel.core.timewindow import format_time
from trending_panel.db import catalog
from trending_panel.db import rollup as rollup_db
from trending_panel.db.diagnosis import explain, scrub, where

OK, WARN, FAIL = "OK", "WARN", "FAIL"


@dataclass
class Step:
    step: str  #: what was checked: "connect", "server", "role", "table"…
    status: str  #: OK, WARN or FAIL
    detail: str  #: what was found
    fix: str = ""  #: what to do about a WARN or FAIL
    table: str | None = None
    cause: str | None = None  #: the diagnosis's key of a failed connection


@dataclass
class Report:
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(s.status == FAIL for s in self.steps)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    @property
    def verdict(self) -> str:
        fails = sum(s.status == FAIL for s in self.steps)
        warns = sum(s.status == WARN for s in self.steps)
        if fails:
            return (
                f"FAIL: the dashboard cannot work ({_n(fails, 'problem')}, {_n(warns, 'warning')})"
            )
        if warns:
            return f"OK: the dashboard can work ({_n(warns, 'warning')})"
        return "OK: the dashboard can work"

    def add(self, *args: object, **kwargs: object) -> Step:
        step = Step(*args, **kwargs)  # type: ignore[arg-type]
        self.steps.append(step)
        return step

    def text(self) -> str:
        lines = []
        for s in self.steps:
            what = f"{s.step} {s.table}" if s.table else s.step
            lines.append(f"{s.status:<4} {what}: {s.detail}")
            if s.fix:
                lines.append(f"     → {s.fix}")
        lines.append(self.verdict)
        return "\n".join(lines) + "\n"

    def json(self, settings: Settings) -> str:
        return json.dumps(
            {
                "ok": self.ok,
                "exit_code": self.exit_code,
                "verdict": self.verdict,
                "target": {
                    "host": settings.host,
                    "port": settings.port,
                    "database": settings.dbname,
                    "user": settings.user,
                },
                "steps": [asdict(s) for s in self.steps],
            },
            indent=2,
        )


def _n(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def run(settings: Settings) -> Report:
    """Check ``settings`` against its database (blocking: a command, not the server)."""
    report = Report()
    began = time.monotonic()
    try:
        conn = psycopg.connect(settings.conninfo(read_only=True), autocommit=True)
    except psycopg.Error as exc:
        d = explain(exc, settings)
        report.add("connect", FAIL, d.summary, d.fix, cause=d.cause)
        return report
    with conn:
        ms = (time.monotonic() - began) * 1000
        report.add(
            "connect",
            OK,
            f'{where(settings)}, database "{settings.dbname}" as "{settings.user}" ({ms:.0f} ms)',
        )
        try:
            _check(conn, settings, report)
        except psycopg.Error as exc:  # the connection lost, a statement timeout…
            d = explain(exc, settings)
            report.add("query", FAIL, scrub(error_line(exc), settings), d.fix)
    return report


def _check(conn: psycopg.Connection, settings: Settings, report: Report) -> None:
    srv = catalog.server(conn)
    report.add(
        "server",
        OK,
        f"PostgreSQL {srv.version}, time zone {srv.timezone}; timestamps read as "
        f"{settings.timezone} (TRENDING_TIMEZONE), connected as application "
        f'"{srv.application_name}"',
    )
    _check_replication(conn, report)
    writes: list[str] = []
    for var in settings.variables:
        t = catalog.table(conn, var, settings.horizon())
        name = var.table
        if not t.exists:
            report.add("table", FAIL, "not found", _not_found_fix(var.table), table=name)
            continue
        if not t.readable:
            report.add(
                "table", FAIL, f'no SELECT permission for "{settings.user}"',
                f'GRANT SELECT ON {t.quoted} TO "{settings.user}";', table=name,
            )  # fmt: skip
            continue
        report.add("table", OK, "exists, SELECT permitted", table=name)
        if t.column_problem:
            report.add(
                "table", FAIL, t.column_problem,
                "the dashboard reads time (timestamp without time zone) and value (a number)",
                table=name,
            )  # fmt: skip
            continue
        report.add(
            "table", OK, f"columns time {t.columns['time']}, value {t.columns['value']}", table=name
        )
        estimate = (
            f"about {t.estimate:,} rows"
            if t.estimate is not None
            else "row count not estimated yet (never analyzed)"
        )
        if t.time_index:
            report.add("table", OK, f"{estimate}; btree index {t.time_index} on time", table=name)
        else:
            report.add(
                "table", WARN, f"{estimate}; no btree index on time: every poll reads the "
                "whole table", f"run: {t.create_index}", table=name,
            )  # fmt: skip
        if t.newest is None and t.oldest is None:
            report.add("table", WARN, "empty: nothing to show yet", table=name)
        else:
            span = f"oldest {_time(t.oldest)}, newest {_time(t.newest)}"
            report.add("table", OK, span, table=name)
        if t.future:
            rows = "1 row" if t.future == 1 else f"{t.future:,} rows"
            report.add(
                "table", WARN, f"{rows} dated in the future (from {_time(t.first_future)}, beyond "
                f"the clock plus TRENDING_FUTURE_TOLERANCE): not used as live data",
                "check the clock of whatever writes this table", table=name,
            )  # fmt: skip
        writes += [f"{p} on {name}" for p in t.writable]
    if srv.superuser:
        report.add(
            "role", WARN, f'"{srv.user}" is a superuser',
            "connect with a role that may only read the process tables",
        )  # fmt: skip
    elif writes:
        report.add(
            "role", WARN, f'"{srv.user}" can write: {", ".join(writes)}',
            "the dashboard only reads: give it a role with SELECT alone",
        )  # fmt: skip
    else:
        report.add("role", OK, f'"{srv.user}" can only read the configured tables')
    _check_rollup(conn, settings, report)


def _check_replication(conn: psycopg.Connection, report: Report) -> None:
    """On a streaming standby: how far its replay is behind what it received (the primary's
    rows and the rollup reach the dashboard that much later)."""
    row = conn.execute(
        "SELECT pg_is_in_recovery(), pg_last_wal_receive_lsn() IS NOT DISTINCT FROM"
        " pg_last_wal_replay_lsn(),"
        " extract(epoch FROM now() - pg_last_xact_replay_timestamp())::double precision"
    ).fetchone()
    if row is None or not row[0]:
        return
    _, replayed_all, since = row
    lag = 0.0 if replayed_all else (since or 0.0)
    detail = f"a hot standby, {lag:.1f} s behind its primary"
    if since is not None:
        detail += f" (last transaction replayed {since:,.1f} s ago)"
    if lag > ROLLUP_STALE_S:
        report.add("replication", WARN, detail, "check the standby's WAL receiver and its primary")
    else:
        report.add("replication", OK, detail)


#: The rollup is stale when a tag is further behind its table than this, or the service's
#: heartbeat older.
ROLLUP_STALE_S = 60.0


def _check_rollup(conn: psycopg.Connection, settings: Settings, report: Report) -> None:
    """The shared rollup (``trending-panel rollup``): OK when caught up, WARN when stale or
    missing (the dashboard then summarises in memory), FAIL when it cannot be read."""
    schema = settings.rollup_schema
    found = conn.execute(
        "SELECT has_schema_privilege(oid, 'USAGE') FROM pg_catalog.pg_namespace WHERE nspname = %s",
        (schema,),
    ).fetchone()
    if found is None:
        report.add(
            "rollup", WARN, f'no rollup schema "{schema}": dashboards summarise in memory',
            "start `trending-panel rollup` (one per site) to share the summary",
        )  # fmt: skip
        return
    grant = (
        f'GRANT USAGE ON SCHEMA "{schema}" TO "{settings.user}"; GRANT SELECT ON ALL TABLES '
        f'IN SCHEMA "{schema}" TO "{settings.user}";'
    )
    if not found[0]:
        report.add("rollup", FAIL, f'no USAGE permission on schema "{schema}"', grant)
        return
    try:
        with conn.transaction():
            row = conn.execute(rollup_db.health_query(schema)).fetchone()
    except psycopg.errors.InsufficientPrivilege:
        report.add("rollup", FAIL, f'cannot read the rollup in "{schema}"', grant)
        return
    except psycopg.errors.UndefinedTable:
        report.add(
            "rollup", WARN, f'schema "{schema}" holds no rollup yet',
            "start `trending-panel rollup`: it creates its tables",
        )  # fmt: skip
        return
    if row is None:
        report.add("rollup", WARN, "the rollup service has never run", "start it")
        return
    fmt, beat_s, service_error, tags, unbuilt, lag, worst, failed, last_error = row
    problems = []
    if beat_s is not None and beat_s > ROLLUP_STALE_S:
        problems.append(f"the service's last heartbeat was {beat_s:,.0f} s ago")
    if service_error:
        problems.append(f"the service's last error: {service_error}")
    if lag is not None and lag > ROLLUP_STALE_S:
        problems.append(f"{worst} last caught up with its table {lag:,.0f} s ago")
    if unbuilt:
        problems.append(f"{unbuilt} of {tags} tags still being built")
    if failed:
        problems.append(f"{failed} tags failed, last {last_error}")
    if problems:
        report.add(
            "rollup", WARN, "stale: " + "; ".join(problems),
            "see the rollup service's log (`trending-panel rollup`)",
        )  # fmt: skip
        return
    behind = f", at most {lag:.1f} s behind" if lag is not None else ""
    report.add("rollup", OK, f'"{schema}": {tags} tags caught up{behind} (format {fmt})')


def _not_found_fix(table: str) -> str:
    return (
        f"check the table name in TRENDING_CONFIG (or the default {table!r}), POSTGRES_DB, "
        "and the role's search_path"
    )


def _time(t: object) -> str:
    return format_time(t) if t is not None else "—"  # type: ignore[arg-type]

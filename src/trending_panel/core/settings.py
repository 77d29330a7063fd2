"""Settings from the environment, validated once at start-up.

Connection parameters come only from ``POSTGRES_HOST``, ``POSTGRES_PORT``, ``POSTGRES_USER``,
``POSTGRES_PASSWORD`` and ``POSTGRES_DB``. The conninfo string is built with psycopg's
``make_conninfo`` from keyword arguments, so a password may hold any character (spaces,
quotes, ``@``, ``#``, backslashes) without escaping by hand.

Behaviour knobs are optional ``TRENDING_*`` variables with documented defaults.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from psycopg.conninfo import make_conninfo

from trending_panel.core.errors import ConfigError, SettingsError
from trending_panel.core.events import EventsSpec
from trending_panel.core.tags import CatalogSpec
from trending_panel.core.timewindow import parse_duration
from trending_panel.core.variable_file import load_config, load_events
from trending_panel.core.variables import VARIABLES, Variable

REQUIRED = ("POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB")
#: Optional knobs: settings field → its environment variable (durations like ``30s``, ``5m``).
DURATIONS = {
    "gap": "TRENDING_GAP",
    "poll_interval": "TRENDING_POLL",
    "lookback": "TRENDING_LOOKBACK",
    "summary_bucket": "TRENDING_SUMMARY_BUCKET",
    "future_tolerance": "TRENDING_FUTURE_TOLERANCE",
    "poll_timeout": "TRENDING_POLL_TIMEOUT",
    "query_timeout": "TRENDING_QUERY_TIMEOUT",
    "export_timeout": "TRENDING_EXPORT_TIMEOUT",
}
#: ... and the positive whole numbers.
COUNTS = {
    "connect_timeout": "TRENDING_CONNECT_TIMEOUT",
    "max_rows": "TRENDING_MAX_ROWS",
    "max_loads": "TRENDING_MAX_LOADS",
    "max_exports": "TRENDING_MAX_EXPORTS",
    "summary_mb": "TRENDING_SUMMARY_MB",
}


@dataclass(frozen=True)
class Settings:
    """Validated, immutable configuration. ``repr`` never shows the password."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    dbname: str
    #: Zone the naive database timestamps are written in (only used to label axes and to
    #: interpret ISO times with an offset in URLs / CLI arguments).
    timezone: str = "UTC"
    #: Two rows further apart than this are an outage: the line is broken, never bridged.
    gap: timedelta = timedelta(minutes=5)
    #: How often the process-wide live feed asks the database for new rows.
    poll_interval: timedelta = timedelta(milliseconds=500)
    #: Rows up to this much older than the newest seen row are still picked up live.
    lookback: timedelta = timedelta(seconds=60)
    #: Seconds to wait for a database connection before reporting the database as down.
    connect_timeout: int = 5
    #: How the dashboard's sessions are named in ``pg_stat_activity`` (libpq's PGAPPNAME
    #: overrides it).
    application_name: str = "trending-panel"
    #: Width of the in-memory summary's buckets: wide windows are drawn from them. Smaller
    #: buckets serve narrower windows from memory and cost memory in proportion.
    summary_bucket: timedelta = timedelta(minutes=1)
    #: Rows dated later than the wall clock plus this are distrusted (a PLC clock set
    #: wrong): they anchor no relative window, are not the newest sample, and are reported.
    future_tolerance: timedelta = timedelta(minutes=5)
    #: A poll of the live feed that takes longer counts as the database not answering.
    poll_timeout: timedelta = timedelta(seconds=3)
    #: Deadline of a window load (and the server-side ``statement_timeout`` of the
    #: dashboard's queries); a CSV export fails when no block arrives for this long.
    query_timeout: timedelta = timedelta(seconds=30)
    #: The server-side limit of one CSV export's ``COPY`` (a whole year can take minutes).
    export_timeout: timedelta = timedelta(minutes=15)
    #: Rows a single read may bring into memory per variable; a wider read is refused.
    max_rows: int = 5_000_000
    #: Window loads (per process) that may read the database at once; more wait their turn.
    max_loads: int = 4
    #: CSV exports (per process) that may run at once; more are refused with 503.
    max_exports: int = 2
    #: Memory the in-memory summary may hold (MB): tags nobody shows go first, least
    #: recently shown first; a tag that does not fit is drawn from the database.
    summary_mb: int = 256
    #: The configured variables and their tables: the spec's four, or ``TRENDING_CONFIG``'s
    #: ``[[variables]]`` (none when it has a ``[catalog]`` alone: its tags are the pages').
    variables: tuple[Variable, ...] = VARIABLES
    #: ``TRENDING_CONFIG``'s ``[catalog]``: which tables are tags (None: the variables only).
    catalog: CatalogSpec | None = None
    #: ``TRENDING_CONFIG``'s ``[events]``: the batches and phases table (None: no batches).
    events: EventsSpec | None = None
    #: ``TRENDING_ROLLUP_SCHEMA``: the schema of the shared rollup (``trending-panel rollup``).
    rollup_schema: str = "trending_rollup"
    #: ``TRENDING_DISPLAYS``: the folder of saved displays (``NAME.toml``), or None.
    displays: str | None = None

    @functools.cached_property
    def by_key(self) -> dict[str, Variable]:
        return {v.key: v for v in self.variables}

    @property
    def tzinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def now(self) -> datetime:
        """The current wall time as the database writes it: naive, in :attr:`timezone`."""
        return datetime.now(self.tzinfo).replace(tzinfo=None)

    def horizon(self) -> datetime:
        """The latest sample time believed now: later rows come from a clock set wrong."""
        return self.now() + self.future_tolerance

    def conninfo(self, *, read_only: bool = False) -> str:
        """libpq conninfo built from keywords (quoting handled by psycopg).

        TCP keepalives find a silently dead peer; with ``read_only`` every transaction of the
        session is read-only (``default_transaction_read_only``, defence in depth beside a
        read-only role) and no statement runs longer than :attr:`query_timeout`.
        """
        options = {}
        if read_only:
            ms = int(self.query_timeout.total_seconds() * 1000)
            options["options"] = f"-c default_transaction_read_only=on -c statement_timeout={ms}"
        return make_conninfo(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.dbname,
            connect_timeout=self.connect_timeout,
            application_name=self.application_name,
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=3,
            keepalives_count=3,
            **options,
        )

    def to_env(self) -> dict[str, str]:
        """The ``POSTGRES_*`` variables that reproduce this connection (includes the password:
        for handing to a child process, never for logging)."""
        return {
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,
            "POSTGRES_DB": self.dbname,
        }

    def describe(self) -> str:
        """Where we connect, safe to log (no password)."""
        return f"{self.user}@{self.host}:{self.port}/{self.dbname}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the environment; raise :class:`SettingsError` naming the problem."""
        env = os.environ if env is None else env
        missing = [name for name in REQUIRED if name not in env]
        if missing:
            raise SettingsError(
                f"missing environment variable(s): {', '.join(missing)} "
                "(see local.env for an example)"
            )
        for name in ("POSTGRES_HOST", "POSTGRES_USER", "POSTGRES_DB"):
            if not env[name].strip():
                raise SettingsError(f"{name} is empty")
        port_text = env["POSTGRES_PORT"].strip()
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise SettingsError(
                f"POSTGRES_PORT must be a TCP port number 1-65535, got {env['POSTGRES_PORT']!r}"
            )
        tz = env.get("TRENDING_TIMEZONE", "UTC").strip() or "UTC"
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError(
                f"TRENDING_TIMEZONE {tz!r} is not an IANA time zone (e.g. UTC, Europe/Berlin)"
            ) from exc
        variables, catalog, events = VARIABLES, None, None
        if path := env.get("TRENDING_CONFIG", "").strip():
            try:
                variables, catalog = load_config(path)
                events = load_events(path)
            except ConfigError as exc:
                raise SettingsError(str(exc)) from None
        displays = env.get("TRENDING_DISPLAYS", "").strip() or None
        if displays is not None and not os.path.isdir(displays):
            raise SettingsError(f"TRENDING_DISPLAYS {displays!r} is not a folder")
        if displays is not None and not os.access(displays, os.R_OK | os.X_OK):
            raise SettingsError(f"TRENDING_DISPLAYS {displays!r} cannot be read")
        rollup_schema = env.get("TRENDING_ROLLUP_SCHEMA", "").strip() or cls.rollup_schema
        if len(rollup_schema.encode()) > 63 or "\x00" in rollup_schema:
            raise SettingsError(
                f"TRENDING_ROLLUP_SCHEMA {rollup_schema[:80]!r}: a PostgreSQL name of at most "
                "63 bytes"
            )
        # libpq's own variables (PGSSLMODE, PGSSLROOTCERT, PGSERVICE…) reach it untouched;
        # the two the dashboard sets itself take libpq's variable when there is one.
        counts = {f: _int(env, name, getattr(cls, f)) for f, name in COUNTS.items()}
        if not env.get("TRENDING_CONNECT_TIMEOUT", "").strip():
            counts["connect_timeout"] = _int(env, "PGCONNECT_TIMEOUT", cls.connect_timeout)
        return cls(
            variables=variables,
            catalog=catalog,
            displays=displays,
            events=events,
            rollup_schema=rollup_schema,
            host=env["POSTGRES_HOST"],
            port=int(port_text),
            user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"],
            dbname=env["POSTGRES_DB"],
            timezone=tz,
            **{f: _duration(env, name, getattr(cls, f)) for f, name in DURATIONS.items()},
            application_name=env.get("PGAPPNAME", "").strip() or cls.application_name,
            **counts,
        )


def _duration(env: Mapping[str, str], name: str, default: timedelta) -> timedelta:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from exc
    if value <= timedelta(0):
        raise SettingsError(f"{name} must be positive, got {text!r}")
    return value


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) == 0:
        raise SettingsError(f"{name} must be a positive whole number, got {text!r}")
    return int(text)

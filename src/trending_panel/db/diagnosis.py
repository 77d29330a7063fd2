"""Why the database cannot be used, in words an operator can act on.

libpq and the server say what went wrong (``FATAL: password authentication failed for user
"reader"``, ``Connection refused``, ``timeout expired``…) inside a message written for
developers. :func:`explain` turns a connection failure into a :class:`Diagnosis`: a stable
cause key (for scripts and tests), a one-line summary, what to check, and whether trying
again can help. The CLI, ``trending-panel check``, the page and the log all speak through it.
Nothing here ever contains the password: libpq does not print it, and :func:`scrub` removes
it from any text that might.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from trending_panel.core.errors import TrendingError
from trending_panel.core.settings import Settings

#: Seconds between attempts when trying again cannot help (a wrong password, a missing
#: database): the dashboard still looks, for a fix made without restarting it, but does not
#: hammer the server (failed logins fill its log, and may lock the role or the address out).
SLOW_RETRY_S = 30.0


@dataclass(frozen=True)
class Diagnosis:
    """What failed, what to check, and whether trying again can help."""

    cause: str  #: stable key, e.g. "auth_failed", "refused", "timeout"
    summary: str  #: what failed, one line
    fix: str  #: what to check or change
    retry: bool  #: trying again can help (the problem is not in the configuration)

    def line(self) -> str:
        return f"{self.summary}; {self.fix}"


class CannotConnect(psycopg.OperationalError, TrendingError):
    """A connection attempt failed; the message is the diagnosis (what failed; what to check).
    A psycopg ``OperationalError``, so whatever handles connection errors handles this."""

    def __init__(self, diagnosis: Diagnosis) -> None:
        super().__init__(diagnosis.line())
        self.diagnosis = diagnosis


def where(settings: Settings) -> str:
    """``host:port`` (or the socket directory) the settings point at."""
    if settings.host.startswith("/"):
        return f"socket {settings.host}/.s.PGSQL.{settings.port}"
    return f"{settings.host}:{settings.port}"


#: Shorter passwords are not scrubbed from messages: a one-letter password would blank that
#: letter everywhere (libpq never prints the password; this guards against what might).
SCRUB_MIN = 4


def scrub(text: str, settings: Settings) -> str:
    """``text`` without the password (were any part of the stack to echo it)."""
    if len(settings.password) >= SCRUB_MIN:
        text = text.replace(settings.password, "***")
    return text


def _quoted(pattern: str, text: str) -> str | None:
    m = re.search(pattern, text)
    return m.group(1) if m else None


@dataclass(frozen=True)
class _Seen:
    """A failure's message as the rules read it."""

    raw: str  #: the message, the password scrubbed
    text: str  #: the same, lower case
    sqlstate: str
    at: str  #: where the settings point
    settings: Settings


def _has(*words: str) -> Callable[[_Seen], bool]:
    return lambda seen: any(w in seen.text for w in words)


def _found(pattern: str) -> Callable[[_Seen], re.Match | None]:
    return lambda seen: re.search(pattern, seen.raw)


@dataclass(frozen=True)
class _Rule:
    """When ``matches`` (a truth, or a regex match handed on), the failure is ``cause``."""

    matches: Callable[[_Seen], object]
    cause: str
    summary: Callable[[_Seen, Any], str]
    fix: Callable[[_Seen, Any], str]
    retry: bool


def _host(seen: _Seen) -> str:
    """The host name libpq could not resolve (else the configured one)."""
    return _quoted(r"host(?: name)? ['\"]([^'\"]+)['\"]", seen.raw) or seen.settings.host


def _ssl_word(seen: _Seen) -> str:
    return " without SSL" if "ssl off" in seen.text or "no encryption" in seen.text else ""


#: libpq's messages (and SQLSTATEs) → what failed and what to do, in order: the first rule
#: that matches decides; nothing matching is "other".
RULES: tuple[_Rule, ...] = (
    _Rule(
        lambda s: "password authentication failed" in s.text or s.sqlstate == "28P01",
        "auth_failed",
        lambda s, _: f'authentication failed for user "{s.settings.user}" at {s.at}',
        lambda s, _: "check POSTGRES_USER and POSTGRES_PASSWORD (the server refused them)",
        retry=False,
    ),
    _Rule(
        _has("no password supplied", "password is required"),
        "auth_failed",
        lambda s, _: f'the server asks a password of user "{s.settings.user}" and none was given',
        lambda s, _: "set POSTGRES_PASSWORD",
        retry=False,
    ),
    _Rule(
        _has("is not permitted to log in"),
        "login_not_permitted",
        lambda s, _: f'role "{s.settings.user}" is not permitted to log in at {s.at}',
        lambda s, _: (
            f"ask the database administrator for LOGIN on it (ALTER ROLE "
            f'"{s.settings.user}" LOGIN), or use a role that has it'
        ),
        retry=False,
    ),
    _Rule(
        _found(r'role "([^"]*)" does not exist'),
        "auth_failed",
        lambda s, m: f'role "{m.group(1)}" does not exist at {s.at}',
        lambda s, _: "check POSTGRES_USER",
        retry=False,
    ),
    _Rule(
        _found(r'database "([^"]*)" does not exist'),
        "database_missing",
        lambda s, m: f'database "{m.group(1)}" does not exist at {s.at}',
        lambda s, _: "check POSTGRES_DB (the server has no database of that name)",
        retry=False,
    ),
    _Rule(
        _has("pg_hba.conf"),
        "not_allowed",
        lambda s, _: (
            f'the server does not accept user "{s.settings.user}" for database '
            f'"{s.settings.dbname}" from this host{_ssl_word(s)} (pg_hba.conf)'
        ),
        lambda s, _: (
            "ask the database administrator to allow it in pg_hba.conf"
            + (", or connect with SSL (PGSSLMODE=require)" if _ssl_word(s) else "")
        ),
        retry=False,
    ),
    _Rule(
        lambda s: (
            _has("too many clients", "too many connections", "connection slots are reserved")(s)
            or s.sqlstate == "53300"
        ),
        "too_many_connections",
        lambda s, _: f"the server at {s.at} has no free connection (too many connections)",
        lambda s, _: (
            "if it lasts, ask the database administrator about max_connections or "
            "the role's connection limit"
        ),
        retry=True,
    ),
    _Rule(
        _has("starting up", "shutting down", "in recovery mode"),
        "starting",
        lambda s, _: f"the server at {s.at} is starting up or shutting down",
        lambda s, _: "wait until it accepts connections",
        retry=True,
    ),
    _Rule(
        _has(
            "could not translate host name",
            "failed to resolve host",
            "name or service not known",
            "nodename nor servname",
            "temporary failure in name resolution",
        ),
        "host_unknown",
        lambda s, _: f'host name "{_host(s)}" not found',
        lambda s, _: "check POSTGRES_HOST (and this machine's DNS)",
        retry=True,
    ),
    _Rule(
        lambda s: (
            "connection refused" in s.text
            or ("no such file or directory" in s.text and ".s.pgsql" in s.text)
        ),
        "refused",
        lambda s, _: f"connection refused at {s.at}: no PostgreSQL listens there",
        lambda s, _: "check POSTGRES_HOST and POSTGRES_PORT, and that the server runs",
        retry=True,
    ),
    _Rule(
        _has("did not answer"),  # the live feed's own deadline on a connected session
        "timeout",
        lambda s, _: f"{s.at} does not answer ({_detail(s.raw)})",
        lambda s, _: "the server may be hung, or the network to it silently broken",
        retry=True,
    ),
    _Rule(
        _has("timeout expired", "timed out"),
        "timeout",
        lambda s, _: f"no answer from {s.at} within {s.settings.connect_timeout} s (timed out)",
        lambda s, _: "check POSTGRES_HOST, POSTGRES_PORT and the firewall between here and there",
        retry=True,
    ),
    _Rule(
        _has("invalid response to ssl negotiation", "expected authentication request"),
        "not_postgres",
        lambda s, _: f"something answered at {s.at}, but not as PostgreSQL does",
        lambda s, _: "check POSTGRES_HOST and POSTGRES_PORT (another service listens there)",
        retry=False,
    ),
    _Rule(
        _has("ssl", "certificate", "gssapi"),
        "ssl",
        lambda s, _: f"SSL negotiation with {s.at} failed: {_detail(s.raw)}",
        lambda s, _: (
            "check PGSSLMODE (and PGSSLROOTCERT, PGSSLCERT, PGSSLKEY) against what "
            "the server requires"
        ),
        retry=False,
    ),
    _Rule(
        _has("network is unreachable", "no route to host"),
        "unreachable",
        lambda s, _: f"{s.at} is unreachable from here ({_detail(s.raw)})",
        lambda s, _: "check POSTGRES_HOST and the network",
        retry=True,
    ),
)


def explain(exc: BaseException, settings: Settings) -> Diagnosis:
    """The diagnosis of a failure to connect (or of a connection lost): the first of
    :data:`RULES` that matches its message."""
    raw = scrub(str(exc), settings)
    seen = _Seen(raw, raw.lower(), getattr(exc, "sqlstate", None) or "", where(settings), settings)
    for rule in RULES:
        if found := rule.matches(seen):
            return Diagnosis(
                rule.cause, rule.summary(seen, found), rule.fix(seen, found), retry=rule.retry
            )
    return Diagnosis(
        "other",
        f"cannot use the database at {seen.at}: {_detail(raw)}",
        "see the database server's log for more",
        retry=True,
    )


def _detail(raw: str) -> str:
    """The informative part of a libpq message (after "… failed:" and "FATAL:")."""
    line = raw.strip().splitlines()[0] if raw.strip() else "unknown error"
    line = re.sub(r"^connection (?:failed: )?(?:to server (?:at|on) .*? failed: )?", "", line)
    line = re.sub(r"^connection failed: ", "", line)
    return re.sub(r"^(FATAL|ERROR):\s+", "", line).strip()

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
from dataclasses import dataclass

import psycopg

from .settings import Settings

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


class CannotConnect(psycopg.OperationalError):
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


def explain(exc: BaseException, settings: Settings) -> Diagnosis:
    """The diagnosis of a failure to connect (or of a connection lost)."""
    raw = scrub(str(exc), settings)
    text = raw.lower()
    sqlstate = getattr(exc, "sqlstate", None) or ""
    at = where(settings)
    user, db = settings.user, settings.dbname
    if "password authentication failed" in text or sqlstate == "28P01":
        return Diagnosis(
            "auth_failed",
            f'authentication failed for user "{user}" at {at}',
            "check POSTGRES_USER and POSTGRES_PASSWORD (the server refused them)",
            retry=False,
        )
    if "no password supplied" in text or "password is required" in text:
        return Diagnosis(
            "auth_failed",
            f'the server asks a password of user "{user}" and none was given',
            "set POSTGRES_PASSWORD",
            retry=False,
        )
    if "is not permitted to log in" in text:
        return Diagnosis(
            "login_not_permitted",
            f'role "{user}" is not permitted to log in at {at}',
            f'ask the database administrator for LOGIN on it (ALTER ROLE "{user}" LOGIN), '
            "or use a role that has it",
            retry=False,
        )
    if m := re.search(r'role "([^"]*)" does not exist', raw):
        return Diagnosis(
            "auth_failed",
            f'role "{m.group(1)}" does not exist at {at}',
            "check POSTGRES_USER",
            retry=False,
        )
    if m := re.search(r'database "([^"]*)" does not exist', raw):
        return Diagnosis(
            "database_missing",
            f'database "{m.group(1)}" does not exist at {at}',
            "check POSTGRES_DB (the server has no database of that name)",
            retry=False,
        )
    if "pg_hba.conf" in text:
        ssl = " without SSL" if "ssl off" in text or "no encryption" in text else ""
        return Diagnosis(
            "not_allowed",
            f'the server does not accept user "{user}" for database "{db}" from this '
            f"host{ssl} (pg_hba.conf)",
            "ask the database administrator to allow it in pg_hba.conf"
            + (", or connect with SSL (PGSSLMODE=require)" if ssl else ""),
            retry=False,
        )
    if (
        "too many clients" in text
        or "too many connections" in text
        or sqlstate == "53300"
        or ("connection slots are reserved" in text)
    ):
        return Diagnosis(
            "too_many_connections",
            f"the server at {at} has no free connection (too many connections)",
            "if it lasts, ask the database administrator about max_connections or the role's "
            "connection limit",
            retry=True,
        )
    if "starting up" in text or "shutting down" in text or "in recovery mode" in text:
        return Diagnosis(
            "starting",
            f"the server at {at} is starting up or shutting down",
            "wait until it accepts connections",
            retry=True,
        )
    if (
        "could not translate host name" in text
        or "failed to resolve host" in text
        or "name or service not known" in text
        or "nodename nor servname" in text
        or "temporary failure in name resolution" in text
    ):
        host = _quoted(r"host(?: name)? ['\"]([^'\"]+)['\"]", raw) or settings.host
        return Diagnosis(
            "host_unknown",
            f'host name "{host}" not found',
            "check POSTGRES_HOST (and this machine's DNS)",
            retry=True,
        )
    if "connection refused" in text or ("no such file or directory" in text and ".s.pgsql" in text):
        return Diagnosis(
            "refused",
            f"connection refused at {at}: no PostgreSQL listens there",
            "check POSTGRES_HOST and POSTGRES_PORT, and that the server runs",
            retry=True,
        )
    if "did not answer" in text:  # the live feed's own deadline on a connected session
        return Diagnosis(
            "timeout",
            f"{at} does not answer ({_detail(raw)})",
            "the server may be hung, or the network to it silently broken",
            retry=True,
        )
    if "timeout expired" in text or "timed out" in text:
        return Diagnosis(
            "timeout",
            f"no answer from {at} within {settings.connect_timeout} s (timed out)",
            "check POSTGRES_HOST, POSTGRES_PORT and the firewall between here and there",
            retry=True,
        )
    if "invalid response to ssl negotiation" in text or "expected authentication request" in text:
        return Diagnosis(
            "not_postgres",
            f"something answered at {at}, but not as PostgreSQL does",
            "check POSTGRES_HOST and POSTGRES_PORT (another service listens there)",
            retry=False,
        )
    if "ssl" in text or "certificate" in text or "gssapi" in text:
        return Diagnosis(
            "ssl",
            f"SSL negotiation with {at} failed: {_detail(raw)}",
            "check PGSSLMODE (and PGSSLROOTCERT, PGSSLCERT, PGSSLKEY) against what the "
            "server requires",
            retry=False,
        )
    if "network is unreachable" in text or "no route to host" in text:
        return Diagnosis(
            "unreachable",
            f"{at} is unreachable from here ({_detail(raw)})",
            "check POSTGRES_HOST and the network",
            retry=True,
        )
    return Diagnosis(
        "other",
        f"cannot use the database at {at}: {_detail(raw)}",
        "see the database server's log for more",
        retry=True,
    )


def _detail(raw: str) -> str:
    """The informative part of a libpq message (after "… failed:" and "FATAL:")."""
    line = raw.strip().splitlines()[0] if raw.strip() else "unknown error"
    line = re.sub(r"^connection (?:failed: )?(?:to server (?:at|on) .*? failed: )?", "", line)
    line = re.sub(r"^connection failed: ", "", line)
    return re.sub(r"^(FATAL|ERROR):\s+", "", line).strip()

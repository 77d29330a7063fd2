"""The project's own exceptions, under one base, and one way to say an error in a line.

Each says what went wrong in words meant for the person who reads it (the header, the CLI's
stderr, the log); catching :class:`TrendingError` catches every failure the project itself
reports. A failed connection (:class:`~trending_panel.db.diagnosis.CannotConnect`) is also a
psycopg ``OperationalError``, so that handlers of connection errors handle it too.
"""

from __future__ import annotations


class TrendingError(Exception):
    """Anything trending-panel reports as a failure of its own."""


class ConfigurationError(TrendingError, ValueError):
    """The environment or a configuration file is malformed (the message names it)."""


class TooManyRows(TrendingError):
    """A read would bring more rows into memory than one request may (``max_rows``)."""


class Busy(TrendingError):
    """Every slot for that kind of work is taken (the message says what to do)."""


class NotAnswering(TrendingError):
    """A poll got no answer within its deadline: the database hangs or the network is cut."""


class ExportStalled(TrendingError):
    """The database stopped sending an export's rows."""


class ExportTooLarge(TrendingError):
    """A CSV to be held in memory would exceed its bound (the notebook's download)."""


class BadRequest(TrendingError, ValueError):
    """A query the CSV route refuses; the message is sent to the client."""


def error_line(exc: BaseException) -> str:
    """An error in one line, for a log record or the status line."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class SettingsError(ConfigurationError):
    """A configuration problem; the message names the variable and what is wrong with it."""


class ConfigError(ConfigurationError):
    """The configuration file cannot be used; the message names the entry and the problem."""


class EventsUnusable(TrendingError):
    """The events table cannot be read as batches (missing, unreadable, wrong columns)."""

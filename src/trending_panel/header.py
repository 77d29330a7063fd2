"""The page's header as HTML: a value card per variable and the status line.

Pure functions of the dashboard's state (the feed's newest rows and connection status, and the
notes the session collected), so the dashboard keeps the state and this module the words.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from .catalog import create_time_index
from .diagnosis import SLOW_RETRY_S, Diagnosis
from .feed import LiveFeed
from .settings import Settings
from .store import Row
from .timewindow import format_time
from .variables import Variable


def cards_html(
    variables: Iterable[Variable], latest: Mapping[str, Row], now: datetime, gap: timedelta
) -> str:
    """One card per variable: the newest value with its unit, its time and age; orange when
    quiet for longer than ``gap``, red when beyond an alarm limit (and which)."""
    cards = []
    for var in variables:
        row = latest.get(var.key)
        classes, alarm = "", ""
        if row is None:
            value, when = "—", "no data"
        else:
            t, v = row
            value = "NULL" if v is None else ("NaN" if v != v else f"{v:.{var.decimals}f}")
            when = f"{format_time(t)} ({age(now - t)})"
            # By exception a quiet sensor is normal, up to the outage limit.
            if now - t > gap:
                classes = " tp-stale"
            if (broken := limit_broken(var, v)) is not None:
                classes += " tp-alarm"
                alarm = f'<div class="tp-limit">{html.escape(broken)}</div>'
        unit = html.escape(var.unit)
        cards.append(
            f'<div class="tp-card{classes}" data-key="{var.key}" style="border-left:4px solid '
            f'{var.color}"><div class="tp-label">{html.escape(var.label)}</div>'
            f'<div class="tp-value"><span class="tp-number">{value}</span> '
            f'<span class="tp-unit">{unit}</span></div>'
            f'<div class="tp-time">{html.escape(when)}</div>{alarm}</div>'
        )
    return f'<div class="tp-cards">{"".join(cards)}</div>'


def status_html(
    feed: LiveFeed,
    by_key: Mapping[str, Variable],
    now: datetime,
    notes: Iterable[tuple[str, str]] = (),
) -> str:
    """The connection state and since when no data arrives, the newest sample's age, rows
    dated ahead of the clock, then the session's ``notes`` (CSS class, text)."""
    newest = max((r[0] for r in feed.latest.values()), default=None)
    parts = []
    if feed.status == "live":
        parts.append('<span class="tp-dot tp-live">●</span> Live')
    elif feed.status == "retrying":
        since, quiet = "?", ""
        if feed.down_since is not None:
            since = feed.down_since.strftime("%H:%M:%S UTC")
            quiet = f" ({span_text(datetime.now(UTC) - feed.down_since)})"
        what = "Database unavailable" if not feed.reachable else "Database error"
        diagnosis = feed.diagnosis
        if diagnosis is not None and not diagnosis.retry:
            # Nothing gets better by waiting: say what to fix.
            parts.append(
                f'<span class="tp-dot tp-down">●</span> Cannot connect: '
                f'<span class="tp-cause" data-cause="{diagnosis.cause}">'
                f"{html.escape(diagnosis.summary)}</span>; {html.escape(diagnosis.fix)} "
                f"(no data since {since}{quiet}; checked again every {SLOW_RETRY_S:g} s)"
            )
        else:
            cause = f' data-cause="{diagnosis.cause}"' if diagnosis is not None else ""
            parts.append(
                f'<span class="tp-dot tp-down">●</span> {what}: no data since {since}{quiet}, '
                f'retrying (<span class="tp-cause"{cause}>{html.escape(feed.error)}</span>)'
            )
    else:
        parts.append('<span class="tp-dot">●</span> Connecting…')
    if newest is not None:
        parts.append(f"newest sample {format_time(newest)} ({age(now - newest)})")
    for key, (n, first, last) in feed.future.items():
        table = html.escape(by_key[key].table) if key in by_key else html.escape(key)
        parts.append(
            f'<span class="tp-msg tp-future">{table}: {rows_dated(n, first, last)}, '
            "ahead of the clock: not used as live data (a clock set wrong?)</span>"
        )
    for table in feed.unindexed:
        parts.append(
            f'<span class="tp-msg tp-slow">{html.escape(table)}: no index on time, so every '
            f"poll reads the whole table (ask for: {html.escape(create_time_index(table))})</span>"
        )
    for css, text in notes:
        parts.append(f'<span class="{css}">{html.escape(text)}</span>' if css else text)
    return '<div class="tp-status">' + " · ".join(parts) + "</div>"


def diagnosis_html(diagnosis: Diagnosis, settings: Settings) -> str:
    """The page in place of the trends while the database cannot be used: what failed, what
    to check, and what the dashboard connects to (never the password), for an operator to
    pass on."""
    target = (
        f"host {settings.host}, port {settings.port}, database {settings.dbname}, "
        f"user {settings.user}"
    )
    again = (
        "It keeps trying and shows the trends as soon as it connects."
        if diagnosis.retry
        else f"This will not pass by waiting; it checks again every {SLOW_RETRY_S:g} s."
    )
    return (
        f'<div class="tp-diagnosis" data-cause="{diagnosis.cause}">'
        "<h3>The dashboard cannot use its database</h3>"
        f"<p><b>What failed:</b> {html.escape(diagnosis.summary)}</p>"
        f"<p><b>What to do:</b> {html.escape(diagnosis.fix)}</p>"
        f"<p>It connects to {html.escape(target)} (POSTGRES_* settings). {again} "
        "<code>trending-panel check</code> on the server tests the whole configuration.</p>"
        "</div>"
    )


def rows_dated(n: int, first: datetime, last: datetime) -> str:
    """``1 row dated T`` or ``N rows dated T1 to T2``."""
    if n == 1:
        return f"1 row dated {format_time(first)}"
    return f"{n:,} rows dated {format_time(first)} to {format_time(last)}"


def limit_broken(var: Variable, value: float | None) -> str | None:
    """Which alarm limit ``value`` is beyond, in words (None: within, or no number)."""
    if value is None or value != value:
        return None
    if var.high is not None and value > var.high:
        return f"above high limit {var.high:.{var.decimals}f}"
    if var.low is not None and value < var.low:
        return f"below low limit {var.low:.{var.decimals}f}"
    return None


def span_text(delta: timedelta) -> str:
    seconds = abs(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def age(delta: timedelta) -> str:
    """How old a sample is; a sample dated after this clock says so, never "0 s ago"."""
    if delta < timedelta(seconds=-0.5):
        return f"{span_text(delta)} ahead of this clock"
    return f"{span_text(max(delta, timedelta(0)))} ago"


#: Colours that read on the light and the dark theme alike (text inherits the theme's).
CSS = """
.tp-title{margin:4px 0 0 0;font-family:sans-serif}
.tp-status{font-family:sans-serif;font-size:13px;opacity:.9}
.tp-dot{font-size:14px}.tp-live{color:#2ca02c}.tp-down{color:#e5484d}
.tp-msg{color:#d97706}.tp-note{opacity:.8;font-style:italic}.tp-changed{color:#3b82f6}
.tp-cards{display:flex;gap:10px;flex-wrap:wrap;font-family:sans-serif}
.tp-card{padding:4px 12px;background:rgba(127,127,127,.08);min-width:160px}
.tp-label{font-size:12px;opacity:.75}.tp-number{font-size:22px;font-weight:600}
.tp-unit{font-size:14px;opacity:.75}.tp-time{font-size:11px;opacity:.65}
.tp-stale .tp-number,.tp-stale .tp-time{color:#d97706;opacity:1}
.tp-alarm{background:rgba(229,72,77,.18)}.tp-alarm .tp-number{color:#e5484d}
.tp-limit{font-size:11px;font-weight:600;color:#e5484d}
.tp-diagnosis{font-family:sans-serif;font-size:14px;padding:8px 16px;margin:12px 0;
 border-left:4px solid #e5484d;background:rgba(229,72,77,.10)}
.tp-diagnosis h3{margin:4px 0 8px 0;font-size:17px}.tp-diagnosis p{margin:6px 0}
"""

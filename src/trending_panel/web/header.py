"""The page's header as HTML: a value card per variable and the status line.

Pure functions of the dashboard's state (the feed's newest rows and connection status, and the
notes the session collected), so the dashboard keeps the state and this module the words.

A sample's age ("12 s ago") is counted on in the browser (``ages.js``): each age is a span
with the sample's time, and the card or status line says when it was written (the server's
clock). The text is sent again when something else in it changes (:func:`unaged`), not each
second; a sensor quiet for minutes costs its viewers nothing.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from trending_panel.core.rows import Row
from trending_panel.core.settings import Settings
from trending_panel.core.timewindow import format_time, rows_dated
from trending_panel.core.variables import Variable
from trending_panel.db.catalog import create_time_index
from trending_panel.db.diagnosis import SLOW_RETRY_S, Diagnosis
from trending_panel.live.feed import LiveFeed
from trending_panel.web.notes import Note


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
            when = f"{html.escape(format_time(t))} ({age_html(t, now)})"
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
            f'<div class="tp-time">{when}</div>{alarm}</div>'
        )
    return f'<div class="tp-cards" data-now="{epoch_ms(now)}">{"".join(cards)}</div>'


def status_html(
    feed: LiveFeed,
    by_key: Mapping[str, Variable],
    now: datetime,
    notes: Iterable[Note] = (),
) -> str:
    """The connection state and since when no data arrives, the newest sample of the page's
    tags (``by_key``) and its age, rows dated ahead of the clock, then the session's
    ``notes``."""
    latest = feed.latest
    tables = {v.table for v in by_key.values()}
    newest = max((latest[k][0] for k in by_key if k in latest), default=None)
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
        parts.append(f"newest sample {format_time(newest)} ({age_html(newest, now)})")
    for key, (n, first, last) in feed.future.items():
        if key not in by_key:
            continue  # another page's tag
        table = html.escape(by_key[key].table)
        parts.append(
            f'<span class="tp-msg tp-future">{table}: {rows_dated(n, first, last)}, '
            "ahead of the clock: not used as live data (a clock set wrong?)</span>"
        )
    slow = [
        f"{table}: no index on time, so every poll reads the whole table (ask for: "
        f"{create_time_index(table)})"
        for table in feed.unindexed
        if table in tables
    ]
    if len(slow) == 1:
        parts.append(f'<span class="tp-msg tp-slow">{html.escape(slow[0])}</span>')
    elif slow:  # one line for all of them, the statements to ask for in its tooltip
        parts.append(
            _more("tp-msg tp-slow", f"{len(slow)} tables without an index on time: every poll "
                  "reads them whole (hover for the statements to ask for)", "\n".join(slow))
        )  # fmt: skip
    for note in notes:
        css = NOTE_CLASS[note.kind]
        if note.detail:
            parts.append(_more(css, note.text, note.detail))
        else:
            text = html.escape(note.text)
            parts.append(f'<span class="{css}">{text}</span>' if css else text)
    return f'<div class="tp-status" data-now="{epoch_ms(now)}">' + " · ".join(parts) + "</div>"


def _more(css: str, text: str, detail: str) -> str:
    """A status-line part whose particulars are in its tooltip (and for screen readers)."""
    return (
        f'<span class="{css} tp-more" tabindex="0" title="{html.escape(detail)}" '
        f'aria-label="{html.escape(text)}: {html.escape(detail)}">{html.escape(text)}</span>'
    )


#: How each kind of a session's note looks in the status line.
NOTE_CLASS = {"problem": "tp-msg", "note": "tp-note", "changed": "tp-changed", "busy": ""}


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


def limit_broken(var: Variable, value: float | None) -> str | None:
    """Which alarm limit ``value`` is beyond, in words (None: within, or no number)."""
    if value is None or value != value:
        return None
    if var.high is not None and value > var.high:
        return f"above high limit {var.high:.{var.decimals}f}"
    if var.low is not None and value < var.low:
        return f"below low limit {var.low:.{var.decimals}f}"
    return None


def epoch_ms(t: datetime) -> int:
    """``t`` in ms since 1970 on its own clock (a naive time, as the tables' rows are, is
    counted as if it were UTC: only differences of such times are ever used)."""
    if t.tzinfo is not None:
        return round(t.timestamp() * 1000)
    return round((t - _EPOCH) / timedelta(milliseconds=1))


_EPOCH = datetime(1970, 1, 1)


def age_html(t: datetime, now: datetime) -> str:
    """The age of a sample of time ``t`` at ``now``, as a span the browser counts on."""
    return f'<span class="tp-age" data-t="{epoch_ms(t)}">{age(now - t)}</span>'


#: What changes with the clock alone: an age's words, and when the text was written.
_CLOCKED = re.compile(r'(<span class="tp-age" data-t="-?\d+">)[^<]*(</span>)| data-now="-?\d+"')


def unaged(text: str) -> str:
    """``text`` without what the clock alone changes: equal for two renderings that differ
    only by the ages the browser counts on by itself."""
    return _CLOCKED.sub(lambda m: (m.group(1) + m.group(2)) if m.group(1) else "", text)


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
CSS = (Path(__file__).parent / "header.css").read_text()

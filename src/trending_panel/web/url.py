"""The page's URL: the window it asks for when the page opens, and the window shown written
back into it (so a view can be shared by link), and the CSV route's URL for that window.

Functions of a session's parameters; the URL is never trusted: what makes no window is
refused with a sentence the header shows, and the default window is used.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import panel as pn

from trending_panel.core.timewindow import TimeWindow, format_time, parse_time, query_text

if TYPE_CHECKING:
    from trending_panel.web.session import Session


def window_asked(zone: tzinfo) -> tuple[dict, str]:
    """The session parameters the page's URL asks for (``window``, ``start``, ``end``,
    ``ref``), or none and why (shown; the default is used)."""
    args = getattr(pn.state, "session_args", None) or {}
    out: dict = {}
    try:
        ref = query_text(args, ("ref",)).get("ref")
        if ref:
            out["ref"] = parse_time(ref, zone)
    except ValueError as exc:
        return {}, f"Ignored the URL's reference: {exc}"
    try:
        query = query_text(args, ("window", "start", "end"))
        if not query:
            return out, ""
        window = TimeWindow.from_query(query, zone)
    except ValueError as exc:
        return out, f"Ignored the URL's window: {exc}"
    if window.is_relative:
        return {**out, "window": window.preset}, ""
    return {**out, "window": "custom", "start": window.start, "end": window.end}, ""


def write_back(session: Session) -> None:
    """The window shown (and the golden batch's start) into the page's URL."""
    location = pn.state.location
    if location is None:
        return
    try:
        query = session.time_window.to_query()
    except ValueError:
        return
    if session.ref is not None:
        query["ref"] = format_time(session.ref)
    location.search = "?" + urlencode(query)


def csv_url(session: Session) -> str:
    """The export route's URL for the window and variables shown ('' without a route)."""
    if session.export_url is None:
        return ""
    try:
        query = session.time_window.to_query()
    except ValueError:
        query = {}
    query["variables"] = ",".join(session.variables)
    return f"{session.export_url}?{urlencode(query)}"

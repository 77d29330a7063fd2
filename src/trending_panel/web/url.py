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

from trending_panel.core import pens
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


def _raw_query() -> str:
    """The page's query string as the browser sent it (percent-encoding intact: ``?pens=``
    separates keys by ``,`` and ``;`` and encodes each key on its own)."""
    context = getattr(pn.state.curdoc, "session_context", None)
    request = getattr(context, "request", None)
    query = getattr(request, "query", None) if request is not None else None
    return query if isinstance(query, str) else ""


def pens_asked() -> tuple[list[list[str]] | None, str]:
    """The trends of pens the URL asks for (``?pens=a,b;c``, or ``?variables=a,b``: one trend
    each), None when it asks for none, and why it was refused (shown; the default is used)."""
    args = getattr(pn.state, "session_args", None) or {}
    try:
        asked = query_text(args, ("pens", "variables"), limit=8000)
    except ValueError as exc:
        return None, f"Ignored the URL's pens: {exc}"
    if "pens" in asked:
        raw = [part[len("pens=") :] for part in _raw_query().split("&") if part.startswith("pens=")]
        text = (
            raw[0].replace("+", "%20")
            if raw
            else pens.to_text([trend.split(",") for trend in asked["pens"].split(";")])
        )
        try:
            return pens.parse(text), ""
        except ValueError as exc:
            return None, f"Ignored the URL's pens: {exc}"
    if "variables" in asked:
        return [[key] for key in asked["variables"].split(",") if key.strip()], ""
    return None, ""


def display_asked() -> str | None:
    """The display ``?display=NAME`` asks for (None: none asked, or not readable text)."""
    args = getattr(pn.state, "session_args", None) or {}
    try:
        return query_text(args, ("display",), limit=200).get("display")
    except ValueError:
        return None


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
    search = "?" + urlencode(query)
    if session.plan.display is not None:
        search += "&" + urlencode({"display": session.plan.display})
    elif session.plan.asked:  # separators as they are, each key encoded (see pens.to_text)
        search += "&pens=" + pens.to_text(session.trends)
    location.search = search


def page_link(session: Session, trends: list[list[str]] | None = None, **extra: str) -> str:
    """A link to this page's window (and golden batch) with ``trends`` of pens (``?pens=``)
    or the ``extra`` parameters (``display=NAME``): how the tag panel adds, removes and
    moves pens and opens displays."""
    try:
        query = session.time_window.to_query()
    except ValueError:
        query = {}
    if session.ref is not None:
        query["ref"] = format_time(session.ref)
    query.update(extra)
    link = "?" + urlencode(query)
    if trends is not None:
        link += ("&" if query else "") + "pens=" + pens.to_text([t for t in trends if t])
    return link


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

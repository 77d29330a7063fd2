"""The page's URL: the window it asks for when the page opens, and the window shown written
back into it (so a view can be shared by link), and the CSV route's URL for that window.

Functions of a session's parameters; the URL is never trusted: what makes no window is
refused with a sentence the header shows, and the default window is used.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import panel as pn

from trending_panel.core import compare, pens
from trending_panel.core.timewindow import TimeWindow, format_time, parse_time, query_text

if TYPE_CHECKING:
    from trending_panel.live.batch_list import BatchList
    from trending_panel.web.session import Session


def window_asked(zone: tzinfo, batches: BatchList | None = None) -> tuple[dict, str]:
    """The session parameters the page's URL asks for (``window``, ``start``, ``end``,
    ``ref``; ``?batch=ID``: that batch's span), or none and why (shown; the default is
    used)."""
    args = getattr(pn.state, "session_args", None) or {}
    out: dict = {}
    try:
        batch = query_text(args, ("batch",)).get("batch")
    except ValueError as exc:
        return out, f"Ignored the URL's batch: {exc}"
    if batch:
        return batch_window(batch, batches)
    try:
        ref = query_text(args, ("ref",)).get("ref")
        if ref:
            out["ref"] = _reference(ref, zone, batches)
    except ValueError as exc:
        return {}, f"Ignored the URL's reference: {exc}"
    try:
        query = query_text(args, ("window", "start", "end"))
        if not query:
            return out, ""
        window = TimeWindow.from_query(query, zone)
    except ValueError as exc:
        return out, f"Ignored the URL's window: {exc}"
    if window.preset is not None:
        return {**out, "window": window.preset}, ""
    return {**out, "window": "custom", "start": window.start, "end": window.end,
            "live_end": window.live_end}, ""  # fmt: skip


def _reference(text: str, zone: tzinfo, batches: BatchList | None) -> datetime:
    """``?ref=``: a start time, or a batch's id (its start)."""
    try:
        return parse_time(text, zone)
    except ValueError:
        found = batches.batches.get(text) if batches is not None and batches.enabled else None
        if found is None:
            raise
        return found.start


def compare_asked() -> tuple[list[str], str | None, str]:
    """The batches ``?compare=ID1,ID2`` asks to compare (none: not a comparison), the phase
    ``?align=`` aligns them on (None: their starts), and why they were refused (shown)."""
    args = getattr(pn.state, "session_args", None) or {}
    try:
        asked = query_text(args, ("compare", "align"), limit=2000)
        if "compare" not in asked:
            return [], None, ""
        ids = compare.parse_ids(asked["compare"])
    except ValueError as exc:
        return [], None, f"Ignored the URL's comparison: {exc}"
    return ids, (asked.get("align") or "").strip() or None, ""


def compare_link(ids: list[str], align: str | None, session: Session | None = None) -> str:
    """A link to the comparison of ``ids`` (on ``session``'s pens when it asked for some)."""
    query = {"compare": ",".join(ids)} if ids else {}
    if ids and align:
        query["align"] = align
    parts = [urlencode(query)] if query else []
    if session is not None and session.plan.display is not None:
        parts.append(urlencode({"display": session.plan.display}))
    elif session is not None and session.plan.asked:
        parts.append("pens=" + pens.to_text(session.trends))
    return "?" + "&".join(parts)


def compare_csv_url(session: Session) -> str | None:
    """The export route's URL for the comparison shown (None: no route, a notebook)."""
    if session.export_url is None or not session.compare_ids:
        return None
    query = {"compare": ",".join(session.compare_ids), "variables": ",".join(session.by_key)}
    if session.align:
        query["align"] = session.align
    return f"{session.export_url}?{urlencode(query)}"


def batch_asked() -> str | None:
    """The batch ``?batch=ID`` asks for (None: none, or not readable text)."""
    args = getattr(pn.state, "session_args", None) or {}
    try:
        return query_text(args, ("batch",)).get("batch") or None
    except ValueError:
        return None


def batch_window(batch_id: str, batches: BatchList | None) -> tuple[dict, str]:
    """The window of the batch ``batch_id`` (a running one's until now), or why not."""
    if batches is None or not batches.enabled:
        return {}, "Ignored the URL's batch: this site names no events table ([events])"
    if getattr(pn.state.curdoc, "session_context", None) is None:  # a notebook: read them now
        batches.load_now(batches.settings.connect_timeout + 5)
    found = batches.batches.get(batch_id)
    if found is None:
        why = batches.error or f"no batch {batch_id[:80]!r}"
        return {}, f"Ignored the URL's batch: {why}"
    start, end = found.span(batches.settings.now())
    # A running batch's window follows its live data (``?start=…&end=now`` once written back).
    return {"window": "custom", "start": start, "end": end, "live_end": found.running}, ""


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


def ranges_asked() -> tuple[dict[int, tuple[float | None, float | None]], str]:
    """The fixed y-ranges the URL asks for, by trend number (``?y1min=30&y1max=40``: trend 1
    from 30 to 40; one end alone fixes that end), and why any was refused (shown)."""
    args = getattr(pn.state, "session_args", None) or {}
    names = tuple(f"y{i}{end}" for i in range(1, pens.MAX_TRENDS + 1) for end in ("min", "max"))
    try:
        asked = query_text(args, names, limit=40)
    except ValueError as exc:
        return {}, f"Ignored a y-range: {exc}"
    out: dict[int, tuple[float | None, float | None]] = {}
    for i in range(1, pens.MAX_TRENDS + 1):
        ends = []
        for end in ("min", "max"):
            text = asked.get(f"y{i}{end}", "").strip()
            try:
                value = float(text) if text else None
            except ValueError:
                return {}, f"Ignored the y-ranges: y{i}{end} {text[:20]!r} is not a number"
            if value is not None and not math.isfinite(value):
                return {}, f"Ignored the y-ranges: y{i}{end} must be finite"
            ends.append(value)
        if ends[0] is not None and ends[1] is not None and ends[0] >= ends[1]:
            return {}, f"Ignored the y-ranges: trend {i}'s minimum must be below its maximum"
        if ends != [None, None]:
            out[i] = (ends[0], ends[1])
    return out, ""


def colours_asked() -> tuple[list[str], str]:
    """The pens' colours the URL asks for (``?colors=%23d62728&colors=…``, in the pens'
    order, ``#rrggbb``), and why they were refused (shown)."""
    args = getattr(pn.state, "session_args", None) or {}
    values = args.get("colors") or []
    out = []
    for raw in values[: pens.MAX_TRENDS * pens.MAX_PENS]:
        text = raw.decode("utf-8", "replace").strip()
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", text):
            return [], f"Ignored the colours: {text[:20]!r} is not #rrggbb"
        out.append(text.lower())
    return out, ""


def range_query(session: Session) -> dict[str, str]:
    """The page's fixed y-ranges as URL parameters (``y1min`` …), by trend number."""
    out = {}
    for i, trend in enumerate(session.trends, 1):
        low, high = (session.plan.ranges or {}).get(trend[0], (None, None))
        if low is not None:
            out[f"y{i}min"] = f"{low:g}"
        if high is not None:
            out[f"y{i}max"] = f"{high:g}"
    return out


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
    if session.plan.typed_ranges:
        search += "&" + urlencode(range_query(session))
    if session.plan.typed_colours:
        search += "&" + urlencode([("colors", v.color) for v in session.all_variables])
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
    if session.compare_ids:  # a comparison stays one when its pens change
        query = {"compare": ",".join(session.compare_ids)}
        if session.align:
            query["align"] = session.align
    query.update(extra)
    link = "?" + urlencode(query)
    if trends is not None:
        link += ("&" if query else "") + "pens=" + pens.to_text([t for t in trends if t])
    return link


def page_fields(session: Session, without: int) -> list[tuple[str, str]]:
    """This page's URL parameters but trend number ``without``'s y-range: the hidden fields
    of the form that sets that trend's range (a browser's form encodes ``?pens=`` whole; the
    page reads it back either way)."""
    try:
        fields = list(session.time_window.to_query().items())
    except ValueError:
        fields = []
    if session.ref is not None:
        fields.append(("ref", format_time(session.ref)))
    if session.plan.display is not None:
        fields.append(("display", session.plan.display))
    else:
        fields.append(("pens", pens.to_text(session.trends)))
    own = (f"y{without}min", f"y{without}max")
    fields.extend((k, v) for k, v in range_query(session).items() if k not in own)
    if session.plan.typed_colours and without:
        fields.extend(("colors", v.color) for v in session.all_variables)
    return fields


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

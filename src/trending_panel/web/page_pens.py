"""Which pens a page shows, on which trends: from the URL (``?pens=``, ``?variables=``), from
the notebook's arguments, or the default (the configured variables, else the first tags).

Never every tag: at most :data:`~trending_panel.core.pens.MAX_TRENDS` trends, whatever the
catalog holds or the URL asks. Tags are looked up in the process's tag list (in memory).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from trending_panel.core import pens
from trending_panel.core.variables import PALETTE, Variable
from trending_panel.live.tag_list import TagList


@dataclass(frozen=True)
class Page:
    """The pens of a page: its variables (in the order drawn), its trends (keys) and what
    was asked and could not be shown, in words."""

    variables: tuple[Variable, ...]
    trends: tuple[tuple[str, ...], ...]
    problem: str = ""


def page_of(tags: TagList, asked: list[list[str]] | None) -> Page:
    """The page for ``asked`` trends of keys (None: the default page)."""
    notes: list[str] = []
    if asked is None:
        asked = [[key] for key in tags.default_keys()]
    wanted: list[list[Variable]] = []
    unknown: list[str] = []
    for trend in asked:
        found = []
        for key in trend:
            var = tags.get(key)
            if var is None and ("," in key or ";" in key):
                # The whole value percent-encoded, separators too: read it once more.
                for part in (k for t in pens.parse(key) for k in t):
                    var = tags.get(part)
                    if var is None:
                        unknown.append(part)
                    else:
                        found.append(var)
                continue
            if var is None:
                unknown.append(key)
            else:
                found.append(var)
        if found:
            wanted.append(found)
    if unknown:
        shown = ", ".join(unknown[:5]) + (" …" if len(unknown) > 5 else "")
        loading = "" if tags.loaded else " (the tag catalog is still being read)"
        notes.append(f"No such tag: {shown}{loading}")
    if not wanted and asked:
        wanted = [[v] for v in (tags.get(k) for k in tags.default_keys()) if v is not None]
    by_key = {v.key: v for trend in wanted for v in trend}
    arranged = pens.arrange([[v.key for v in t] for t in wanted], lambda k: by_key[k].unit)
    notes.extend(arranged.notes)
    configured = {v.key for v in tags.settings.variables}
    variables, colour = [], 0
    for key in arranged.keys:
        var = by_key[key]
        if key not in configured:  # a tag's colour is its place on the page
            var = replace(var, color=PALETTE[colour % len(PALETTE)])
            colour += 1
        variables.append(var)
    return Page(tuple(variables), arranged.trends, "; ".join(notes))

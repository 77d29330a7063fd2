"""Which pens a page shows, on which trends: from the URL (``?pens=``, ``?variables=``,
``?display=``), from the notebook's arguments, or the default (the displays' ``default.toml``,
else the configured variables, else the first tags).

Never every tag: at most :data:`~trending_panel.core.pens.MAX_TRENDS` trends, whatever the
catalog holds or the URL asks. Tags are looked up in the process's tag list (in memory).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

import panel as pn

from trending_panel.core import pens
from trending_panel.core.displays import DEFAULT, Display, Displays
from trending_panel.core.errors import ConfigError
from trending_panel.core.variables import PALETTE, Variable
from trending_panel.live.tag_list import TagList
from trending_panel.web import url


@dataclass(frozen=True)
class Page:
    """The pens of a page: its variables (in the order drawn), its trends (keys) and what
    was asked and could not be shown, in words."""

    variables: tuple[Variable, ...]
    trends: tuple[tuple[str, ...], ...]
    problem: str = ""
    #: Fixed y-ranges (min, max; None for automatic) by trend (its first pen's key).
    ranges: dict[str, tuple[float | None, float | None]] | None = None
    #: The display it was opened from (None: the URL's pens, or the default).
    display: str | None = None
    #: Its pens were asked for (``?pens=``, a notebook's): the URL written back names them.
    asked: bool = False
    #: Some y-range came from the URL (``?y1min=``…): the URL written back keeps them.
    typed_ranges: bool = False
    #: The pens' colours came from the URL (``?colors=``): the URL written back keeps them.
    typed_colours: bool = False


def display_asked(displays: Displays | None, name: str | None) -> tuple[Display | None, str]:
    """The display ``?display=`` names, or ``default.toml`` when nothing is asked and there is
    one; None and why not (shown) when it cannot be opened."""
    if displays is None:
        return None, (f"Ignored display {name[:40]!r}: TRENDING_DISPLAYS is not set" if name
                      else "")  # fmt: skip
    if name is None:
        if not displays.exists(DEFAULT):
            return None, ""
        name = DEFAULT
    try:
        return displays.load(name), ""
    except (ConfigError, ValueError) as exc:
        return None, f"Could not open the display: {exc}"


def page_of(tags: TagList, asked: list[list[str]] | None, display: Display | None = None) -> Page:
    """The page for ``asked`` trends of keys, else ``display``'s, else the default page."""
    notes: list[str] = []
    fixed: dict[str, tuple[float | None, float | None]] = {}
    chosen: dict[str, str] = {}  #: a display's colours by pen
    from_display = asked is None and display is not None
    if from_display:
        asked = [list(t.pens) for t in display.trends]
        fixed = {t.pens[0]: t.y_range for t in display.trends if t.y_range != (None, None)}
        chosen = {k: c for t in display.trends for k, c in zip(t.pens, t.colors, strict=False)}
    if asked is None:
        asked = [[key] for key in tags.default_keys()]
    wanted: list[list[Variable]] = []
    unknown: list[str] = []
    seen: set[str] = set()
    for trend in asked:
        found = []
        for key in trend:
            var = tags.get(key)
            if var is None:
                unknown.append(key)
            elif key not in seen:  # a pen is drawn once, where it is first asked
                seen.add(key)
                found.append(var)
        if found:
            wanted.append(found)
    if unknown:
        shown = ", ".join(unknown[:5]) + (" …" if len(unknown) > 5 else "")
        loading = "" if tags.loaded else " (the tag catalog is still being read)"
        notes.append(f"No such tag: {shown}{loading}")
    if not wanted:  # nothing known asked (or nothing at all): the default page
        wanted = [[v] for v in (tags.get(k) for k in tags.default_keys()) if v is not None]
    by_key = {v.key: v for trend in wanted for v in trend}
    arranged = pens.arrange([[v.key for v in t] for t in wanted], lambda k: by_key[k].unit)
    notes.extend(arranged.notes)
    configured = {v.key for v in tags.settings.variables}
    variables, colour = [], 0
    for key in arranged.keys:
        var = by_key[key]
        if key in chosen:
            var = replace(var, color=chosen[key])
        elif key not in configured:  # a tag's colour is its place on the page
            var = replace(var, color=PALETTE[colour % len(PALETTE)])
            colour += 1
        variables.append(var)
    ranges = {t[0]: fixed[t[0]] for t in arranged.trends if t[0] in fixed}
    name = display.name if from_display else None
    return Page(tuple(variables), arranged.trends, "; ".join(notes), ranges, name)


def page_for(
    tags: TagList, pens_given: list[list[str]] | None = None, display_name: str | None = None
) -> tuple[Page, str]:
    """The page a session shows: the ``pens_given`` (a notebook's) or the URL's pens, else
    the display named (by argument or ``?display=``) or ``default.toml``, else the default;
    with what was refused, in words (shown in the header)."""
    problems = []
    context = getattr(pn.state.curdoc, "session_context", None)
    if not tags.loaded and context is None:  # a notebook: read the catalog now, not later
        tags.load_now(tags.settings.connect_timeout + tags.settings.query_timeout.seconds)
    asked = pens_given
    if asked is None:
        asked, problem = url.pens_asked()
        problems.append(problem)
        if asked and len(asked) == 1 and len(asked[0]) == 1 and tags.get(asked[0][0]) is None:
            whole = asked[0][0]  # a form encodes the whole value, separators too: read it again
            if any(c in whole for c in ",;%"):
                with contextlib.suppress(ValueError):
                    asked = pens.parse(whole)
    display = None
    if asked is None:
        folder = tags.settings.displays
        name = display_name if display_name is not None else url.display_asked()
        display, problem = display_asked(Displays(folder) if folder else None, name)
        problems.append(problem)
    page = replace(page_of(tags, asked, display), asked=asked is not None)
    problems.append(page.problem)
    typed, problem = url.ranges_asked()
    problems.append(problem)
    if typed:  # by trend number, over the display's
        ranges = dict(page.ranges or {})
        for number, span in typed.items():
            if number <= len(page.trends):
                ranges[page.trends[number - 1][0]] = span
        page = replace(page, ranges=ranges, typed_ranges=True)
    colours, problem = url.colours_asked()
    problems.append(problem)
    if colours:  # by the pens' order (pens beyond the list keep theirs)
        recoloured = tuple(
            replace(v, color=colours[i]) if i < len(colours) else v
            for i, v in enumerate(page.variables)
        )
        page = replace(page, variables=recoloured, typed_colours=True)
    return page, "; ".join(p for p in problems if p)

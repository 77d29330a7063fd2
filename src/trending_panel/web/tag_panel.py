"""The sidebar's tags: *Search tags* over the catalog, the page's pens (remove, move between
trends), and the saved displays (open one, *Save display*).

Shown when the site has a ``[catalog]`` or a ``TRENDING_DISPLAYS`` folder; the four-table
default page keeps its sidebar. Changing the pens opens the page again with its new
``?pens=`` (a link: the window, the golden batch and the theme carry over, and the link can
be shared or bookmarked); each page builds its trends once, for the pens it shows.
The search runs in memory over the tag list (1-2 ms over 10,000 tags) and shows the first
:data:`SHOWN` matches with their count.
"""

from __future__ import annotations

import html
from pathlib import Path

import panel as pn
import panel_material_ui as pmui
import param

from trending_panel.core.displays import Display, Displays, TrendSpec, check_name
from trending_panel.web import url
from trending_panel.web.live_html import LiveHTML
from trending_panel.web.session import Session

CSS = (Path(__file__).parent / "tag_panel.css").read_text()
#: Matches listed under the search field (the count says how many there are).
SHOWN = 100


def results_html(session: Session, text: str) -> str:
    """The tags matching ``text``: key, label and unit, each a link that adds it as a pen."""
    if not text.strip():
        return ""
    found, total = session.hub.tags.search(text.strip(), SHOWN)
    if not found:
        return f'<div class="tp-count">No tag matches {html.escape(text.strip())!r}</div>'
    trends = [list(t) for t in session.trends]
    rows = []
    for tag in found:
        unit = f" ({html.escape(tag.unit)})" if tag.unit else ""
        label = f'<span class="tp-label">{html.escape(tag.label)}{unit}</span>'
        key = html.escape(tag.key)
        if tag.key in session.by_key:
            rows.append(f'<li><span class="tp-key">{key}</span> {label} <em>shown</em></li>')
        else:
            link = html.escape(url.page_link(session, [*trends, [tag.key]]))
            rows.append(
                f'<li><a class="tp-key" href="{link}" title="Add as a pen">{key}</a> {label}</li>'
            )
    more = f"the first {len(found)} of {total:,} matches" if total > len(found) else (
        f"{total} match{'es' if total != 1 else ''}")  # fmt: skip
    return f'<div class="tp-count">{more}</div><ul class="tp-tags tp-results">{"".join(rows)}</ul>'


def pens_html(session: Session) -> str:
    """The page's pens by trend, each with links to remove it or move it up or down."""
    trends = [list(t) for t in session.trends]
    total = sum(len(t) for t in trends)
    out = []
    for i, trend in enumerate(trends):
        items = []
        for key in trend:
            var = session.by_key[key]
            links = []
            if total > 1:
                rest = [[k for k in t if k != key] for t in trends]
                links.append(_link(session, rest, "×", "Remove this pen"))
            if i > 0:
                moved = [[k for k in t if k != key] for t in trends]
                moved[i - 1].append(key)
                links.append(_link(session, moved, "↑", "Move to the trend above"))
            if len(trend) > 1 or i < len(trends) - 1:
                moved = [[k for k in t if k != key] for t in trends]
                if i == len(trends) - 1:
                    moved.append([key])
                else:
                    moved[i + 1].append(key)
                links.append(_link(session, moved, "↓", "Move to the trend below"))
            items.append(
                f'<li><i class="tp-swatch" style="background:{var.color}"></i>'
                f'<span class="tp-key" title="{html.escape(var.title)}">{html.escape(key)}</span>'
                f" {''.join(links)}</li>"
            )
        out.append(
            f'<li class="tp-trend">Trend {i + 1}{_range_form(session, i + 1, trend[0])}'
            f"<ul>{''.join(items)}</ul></li>"
        )
    return f'<ul class="tp-pens">{"".join(out)}</ul>{_colour_form(session)}'


def _range_form(session: Session, number: int, name: str) -> str:
    """Trend ``number``'s y-range, typed: empty for automatic (a form that opens the page
    with ``?y<number>min=``/``max=``)."""
    low, high = (session.plan.ranges or {}).get(name, (None, None))
    hidden = _hidden(url.page_fields(session, number))
    low_text = "" if low is None else f"{low:g}"
    high_text = "" if high is None else f"{high:g}"
    return (
        f'<form class="tp-range" method="get" action="" aria-label="Trend {number} y-range">'
        f"{hidden}"
        f'<input name="y{number}min" inputmode="decimal" placeholder="min" size="5"'
        f' aria-label="Trend {number} minimum" value="{low_text}">'
        f'<span>–</span><input name="y{number}max" inputmode="decimal" placeholder="max"'
        f' size="5" aria-label="Trend {number} maximum" value="{high_text}">'
        '<button type="submit" title="Fix the y-range (empty: automatic)">Set</button></form>'
    )


def _colour_form(session: Session) -> str:
    """Each pen's colour, picked (a form that opens the page with ``?colors=``)."""
    hidden = _hidden(url.page_fields(session, 0))
    pickers = "".join(
        f'<input type="color" name="colors" value="{v.color}" title="{html.escape(v.key)}"'
        f' aria-label="Colour of {html.escape(v.key)}">'
        for v in session.all_variables
    )
    return (
        f'<form class="tp-colours" method="get" action="" aria-label="Pen colours">{hidden}'
        f'{pickers}<button type="submit" title="Draw the pens in these colours">Set colours'
        "</button></form>"
    )


def displays_html(session: Session, names: list[str]) -> str:
    """The saved displays, each a link that opens it (the one shown marked)."""
    if not names:
        return '<div class="tp-count">No display saved yet</div>'
    items = []
    for name in names:
        if name == session.plan.display:
            items.append(f"<li><strong>{html.escape(name)}</strong> (shown)</li>")
        else:
            link = html.escape(url.page_link(session, display=name))
            items.append(f'<li><a href="{link}">{html.escape(name)}</a></li>')
    return f'<ul class="tp-tags">{"".join(items)}</ul>'


def _hidden(fields: list[tuple[str, str]]) -> str:
    """``fields`` as a form's hidden inputs (the page's other URL parameters)."""
    return "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in fields
    )


def _link(session: Session, trends: list[list[str]], text: str, title: str) -> str:
    href = html.escape(url.page_link(session, trends))
    return f'<a class="tp-act" href="{href}" title="{title}" aria-label="{title}">{text}</a>'


class TagPanel(pn.viewable.Viewer):
    """Search tags, the page's pens, and the displays (in the sidebar)."""

    session = param.ClassSelector(class_=Session, constant=True)

    def __init__(self, session: Session, **params: object) -> None:
        super().__init__(session=session, **params)
        common = {"stylesheets": [CSS], "sizing_mode": "stretch_width", "margin": (2, 10)}
        self.search = pmui.TextInput(
            label="Search tags", placeholder="key, label or description", size="small",
            sizing_mode="stretch_width",
        )  # fmt: skip
        self.results = LiveHTML("", name="tag-results", **common)
        self.search.param.watch(self._typed, "value_input")
        self.pens = LiveHTML(pens_html(session), name="pens", **common)
        self.displays = Displays(session.settings.displays) if session.settings.displays else None
        self.display_list = LiveHTML("", name="displays", **common)
        self.display_name = pmui.TextInput(
            label="Display name", size="small", sizing_mode="stretch_width",
            value=session.plan.display or "",
        )  # fmt: skip
        self.save = pmui.Button(label="Save display", size="small", variant="outlined")
        self.saved = LiveHTML("", name="display-saved", **common)
        self.save.on_click(self._save)
        if self.displays is not None:
            self.display_list.object = displays_html(session, self.displays.names())
            if not self.displays.writable:
                self.save.disabled = True
                self.saved.object = '<div class="tp-count">The displays folder is read-only</div>'

    def _typed(self, event: param.parameterized.Event) -> None:
        self.results.object = results_html(self.session, event.new or "")

    def _save(self, _event: object) -> None:
        s = self.session
        try:
            name = check_name(self.display_name.value.strip())
            trends = tuple(
                TrendSpec(
                    t, *(s.plan.ranges or {}).get(t[0], (None, None)),
                    colors=tuple(s.by_key[k].color for k in t),
                )
                for t in s.trends
            )  # fmt: skip
            path = self.displays.save(Display(name, trends))  # type: ignore[union-attr]
        except (ValueError, OSError) as exc:
            self.saved.object = f'<div class="tp-error">Not saved: {html.escape(str(exc))}</div>'
            return
        self.saved.object = f'<div class="tp-count">Saved {html.escape(path.name)}</div>'
        self.display_list.object = displays_html(s, self.displays.names())  # type: ignore[union-attr]

    def __panel__(self) -> pn.viewable.Viewable:
        items = [self.search, self.results, self.pens]
        if self.displays is not None:
            items += [self.display_list, self.display_name, self.save, self.saved]
        return pn.Column(*items, sizing_mode="stretch_width", name="tag-panel")

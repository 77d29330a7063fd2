"""The sidebar's *Compare batches* (issue 20): pick up to eight batches and the phase to align
them on; a link opens their comparison (``?compare=ID1,ID2&align=PHASE``, on the page's pens),
and on a comparison another leads back to the trends.

Links, not server-side navigation: a comparison is a page of its own, its URL shareable.
"""

from __future__ import annotations

import html

import panel as pn
import panel_material_ui as pmui
import param

from trending_panel.core.compare import MAX_COMPARED
from trending_panel.core.events import Batch
from trending_panel.web import url
from trending_panel.web.batch_panel import label
from trending_panel.web.session import Session

CSS = """
:host{font-family:var(--bokeh-base-font,sans-serif);font-size:13px;line-height:18px}
a{color:inherit;text-decoration:none;border:1px solid currentColor;border-radius:4px;
 padding:3px 10px;display:inline-block;margin:2px 4px 2px 0}
span.tp-off{opacity:.8;font-size:12px}
"""
#: The align choice that means each batch's own start.
START = "Batch start"


class ComparePicker(pn.viewable.Viewer):
    """Batches to compare and the phase to align on, and the link that compares them."""

    session = param.ClassSelector(class_=Session, constant=True)

    def __init__(self, session: Session, **params: object) -> None:
        super().__init__(session=session, **params)
        self.batches = session.hub.batches
        self._by_label: dict[str, Batch] = {}
        self._seen = -1
        self.choice = pmui.MultiChoice(
            label=f"Compare batches (up to {MAX_COMPARED})", options=[], max_items=MAX_COMPARED,
            sizing_mode="stretch_width", name="compare-picker", searchable=True,
        )  # fmt: skip
        self.align = pmui.Select(
            label="Align on", options=[START], value=START, size="small",
            sizing_mode="stretch_width", name="compare-align",
        )  # fmt: skip
        self.link = pn.pane.HTML(
            "", stylesheets=[CSS], sizing_mode="stretch_width", name="compare-link", margin=(2, 10)
        )
        self.choice.param.watch(self._changed, "value")
        self.align.param.watch(self._changed, "value")
        self.refresh()
        session.on_tick(self.refresh)

    def refresh(self) -> bool:
        """The choices, when the process's batches changed since the last look."""
        if self.batches.version == self._seen:
            return False
        self._seen = self.batches.version
        found = self.batches.batches.batches
        self._by_label = {label(b): b for b in found}
        phases = sorted({p.name for b in found for p in b.phases}, key=str.casefold)
        ids = self.session.compare_ids
        chosen = [label(b) for i in ids if (b := self.batches.batches.get(i)) is not None]
        with param.parameterized.batch_call_watchers(self):
            self.choice.options = list(self._by_label)
            self.align.options = [START, *phases]
            if not self.choice.value and chosen:  # a comparison's page starts with its own
                self.choice.value = chosen
            if self.session.align and self.session.align in phases:
                self.align.value = self.session.align
        self._changed()
        return True

    def _changed(self, *_events: param.parameterized.Event) -> None:
        ids = [self._by_label[x].batch_id for x in self.choice.value or [] if x in self._by_label]
        align = None if self.align.value in (None, START) else self.align.value
        parts = []
        if ids:
            href = html.escape(url.compare_link(ids, align, self.session))
            parts.append(f'<a href="{href}" class="tp-compare">Compare {len(ids)}</a>')
        else:
            parts.append('<span class="tp-off">Pick batches to compare</span>')
        if self.session.compare_ids:
            back = html.escape(url.compare_link([], None, self.session))
            parts.append(f'<a href="{back}" class="tp-back">Back to trends</a>')
            if (csv := url.compare_csv_url(self.session)) is not None:
                parts.append(
                    f'<a href="{html.escape(csv)}" class="tp-csv" download>Download CSV</a>'
                )
        text = "".join(parts)
        if self.link.object != text:
            self.link.object = text

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.choice, self.align, self.link, sizing_mode="stretch_width")

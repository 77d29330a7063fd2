"""The sidebar's *Batch* picker (issue 20): every batch of ``[events]``, newest first, the
running ones marked, searchable; picking one shows its span, and *Previous* and *Next* step
through the batches of its unit.

The list is the process's (:mod:`...live.batch_list`, read once for every page); the page's
tick refreshes the choices when it changed, under the document's lock.
"""

from __future__ import annotations

import panel as pn
import panel_material_ui as pmui
import param

from trending_panel.core.events import Batch
from trending_panel.core.timewindow import format_time
from trending_panel.web import url
from trending_panel.web.phase_stats import PhaseStats
from trending_panel.web.session import Session


def label(batch: Batch) -> str:
    """How a batch is listed: its id, unit and start, and whether it runs."""
    unit = f" · {batch.unit}" if batch.unit else ""
    state = " (running)" if batch.running else ""
    return f"{batch.batch_id}{unit} · {format_time(batch.start)[:16]}{state}"


class BatchPanel(pn.viewable.Viewer):
    """Pick a batch to see its span; step to the previous or next one of its unit."""

    session = param.ClassSelector(class_=Session, constant=True)

    def __init__(
        self, session: Session, phases: PhaseStats | None = None, **params: object
    ) -> None:
        super().__init__(session=session, **params)
        #: *Statistics by phase*: each pen's numbers per phase shown, beside the trends.
        self.by_phase = (
            pmui.Switch.from_param(phases.param.on, label="Statistics by phase")
            if phases is not None else None
        )  # fmt: skip
        self.batches = session.hub.batches
        self._by_label: dict[str, Batch] = {}
        self._seen = -1
        #: The batch whose span the window shows (picked, or the URL's ``?batch=``).
        self._shown: str | None = url.batch_asked()
        self._quiet = False  #: the picker's value set here, not by the user
        self.picker = pmui.AutocompleteInput(
            label="Batch", placeholder="Type to search batches", options=[], restrict=True,
            min_characters=0, search_strategy="includes", sizing_mode="stretch_width",
            size="small", name="batch-picker",
        )  # fmt: skip
        # Disabled (no batch that way), still readable: the theme's secondary text, 4.5:1 and
        # more in both schemes, not Material's faded default (1.9:1 in light).
        readable = {"&.Mui-disabled": {"color": "text.secondary", "borderColor": "divider"}}
        step = {"size": "small", "disabled": True, "variant": "outlined", "sx": readable}
        self.previous = pmui.Button(label="Previous", name="batch-previous", **step)
        self.next = pmui.Button(label="Next", name="batch-next", **step)
        self.picker.param.watch(self._picked, "value")
        self.previous.on_click(lambda _: self._step(0))
        self.next.on_click(lambda _: self._step(1))
        self.refresh()
        session.on_tick(self.refresh)

    def refresh(self) -> bool:
        """The choices, when the process's batches changed since the last look."""
        if self.batches.version == self._seen:
            return False
        self._seen = self.batches.version
        self._by_label = {label(b): b for b in self.batches.batches.batches}
        shown = self.batches.batches.get(self._shown or "")
        self._quiet = True
        try:  # (its label changes when it ends: "(running)" goes)
            self.picker.options = list(self._by_label)
            self.picker.value = label(shown) if shown is not None else self.picker.value
        finally:
            self._quiet = False
        if shown is not None and not shown.running and self.session.live_end:
            # The running batch shown has ended: its window stops following, at its end.
            self.session.pick_range(*shown.span(self.session.settings.now()))
        self._steps()
        return True

    def _picked(self, event: param.parameterized.Event) -> None:
        batch = self._by_label.get(event.new or "")
        if batch is not None and not self._quiet:
            self._shown = batch.batch_id
            span = batch.span(self.session.settings.now())
            self.session.pick_range(*span, live_end=batch.running)  # a running one follows
        self._steps()

    def _steps(self) -> None:
        batch = self._by_label.get(self.picker.value or "")
        before, after = self.batches.batches.neighbours(batch) if batch else (None, None)
        self.previous.disabled, self.next.disabled = before is None, after is None

    def _step(self, forward: int) -> None:
        batch = self._by_label.get(self.picker.value or "")
        if batch is None:
            return
        target = self.batches.batches.neighbours(batch)[forward]
        if target is not None:
            self.picker.value = label(target)

    def __panel__(self) -> pn.viewable.Viewable:
        below = [self.by_phase] if self.by_phase is not None else []
        return pn.Column(
            self.picker,
            pn.Row(self.previous, self.next, margin=(0, 5)),
            *below,
            sizing_mode="stretch_width",
        )

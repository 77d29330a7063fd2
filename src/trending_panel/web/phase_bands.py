"""Batches and phases as light bands across every trend (issue 20), labelled with phase and
batch, with their details on hover.

One source per page holds the phases that overlap the window shown (a running one until
now, so its band grows); every trend draws it as vertical strips under its lines, the top
trend writes the labels. It follows the process's batch list (:mod:`...live.batch_list`,
read once per process) and the window: a page's tick compares two numbers and rebuilds the
few rows only when one changed.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bokeh.models import ColumnDataSource, HoverTool, LabelSet, VStrip

from trending_panel.core.events import Batch
from trending_panel.core.rows import to_ms

if TYPE_CHECKING:
    from bokeh.plotting import figure

    from trending_panel.live.batch_list import BatchList

#: The phases' fills, by their name's hash (light, under the lines; 10 % opaque).
FILLS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#17becf")
#: Most phases drawn (a window over years of batches keeps its newest).
MOST = 400
#: A band narrower than this share of the window is drawn without its label (on hover only).
NARROWEST = 0.04
#: A label that would begin in this last share of the window is written leftwards from the
#: band's end instead (a label is about 15 % of a laptop's trend wide).
RIGHT_SHARE = 0.18


def phase_rows(
    batches: list[Batch],
    start: datetime,
    end: datetime,
    now: datetime,
    units: set[str] | None = None,
) -> dict:
    """The columns of the phases (or, for a batch without phases, the batch) that overlap
    ``[start, end]``, a running one until ``now``; of ``units`` only, when given."""
    cols: dict[str, list] = {k: [] for k in ("x0", "x1", "phase", "batch", "unit", "label",
                                              "label_x", "label_y", "align", "span",
                                              "color")}  # fmt: skip
    shortest = (end - start) * NARROWEST
    for batch in batches:
        if units and batch.unit not in units:
            continue
        spans = [(p.name, p.start, p.end) for p in batch.phases] or [("", batch.start, batch.end)]
        for name, a, ended in spans:
            b = ended or now
            if b < start or a > end:
                continue
            cols["x0"].append(to_ms(a))
            cols["x1"].append(to_ms(b))
            cols["phase"].append(name or "batch")
            cols["batch"].append(batch.batch_id)
            cols["unit"].append(batch.unit or "")
            # A band too narrow for its label keeps it in the hover; the others' labels are
            # staggered over four rows, so neighbours do not write over each other.
            label = f"{name} · {batch.batch_id}" if name else batch.batch_id
            cols["label"].append(label if b - a >= shortest else "")
            # A phase begun earlier is labelled at the window's left edge; one that begins
            # near the right edge ends its label at its own end (or the window's): never cut.
            if end - max(a, start) < (end - start) * RIGHT_SHARE:
                cols["label_x"].append(to_ms(min(b, end)))
                cols["align"].append("right")
            else:
                cols["label_x"].append(to_ms(max(a, start)))
                cols["align"].append("left")
            cols["label_y"].append(3 + 14 * (len(cols["x0"]) % 4))
            running = " (running)" if ended is None else ""
            cols["span"].append(f"{a:%Y-%m-%d %H:%M} → {b:%Y-%m-%d %H:%M}{running}")
            cols["color"].append(FILLS[sum(map(ord, name)) % len(FILLS)])
            if len(cols["x0"]) >= MOST:
                return cols
    return cols


class PhaseBands:
    """The page's phase bands: one source, drawn on each trend."""

    def __init__(self, batches: BatchList, span, now, tables: list[str] | None = None) -> None:
        self.batches = batches
        self._span = span  #: () -> the window shown, (start, end) or Nones
        self._now = now
        #: The page's tables: on a multi-unit site, a page of one unit's tags (``BR01/...``)
        #: shows that unit's batches; a page of no unit's tags shows them all.
        self._tables = tables or []
        self.source = ColumnDataSource(phase_rows([], datetime.min, datetime.min, now()),
                                       name="phase-bands")  # fmt: skip
        self._seen: tuple | None = None

    def draw_on(self, figures: list[figure]) -> None:
        """Strips under the lines of every trend, labels on the first, details on hover."""
        for i, fig in enumerate(figures):
            strips = fig.add_glyph(
                self.source,
                VStrip(x0="x0", x1="x1", fill_color="color", fill_alpha=0.1, line_alpha=0),
                level="underlay",
                name="phase-band",
            )
            fig.add_tools(HoverTool(
                renderers=[strips], mode="mouse", point_policy="follow_mouse",
                tooltips=[("batch", "@batch @unit"), ("phase", "@phase"), ("", "@span")],
            ))  # fmt: skip
            if i == 0:
                # A light chip behind dark text: readable over the data in either theme.
                fig.add_layout(LabelSet(
                    x="label_x", y="label_y", y_units="screen", text="label", source=self.source,
                    text_align="align", x_offset=0, text_font_size="10px", text_color="#1f1f1f",
                    background_fill_color="#ffffff", background_fill_alpha=0.8,
                    name="phase-labels",
                ))  # fmt: skip

    def refresh(self) -> bool:
        """The bands of the window shown, rebuilt when it or the batches changed."""
        start, end = self._span()
        seen = (self.batches.version, start, end)
        if start is None or end is None or seen == self._seen:
            return False
        self._seen = seen
        found = self.batches.batches.batches
        units = page_units(found, self._tables)
        self.source.data = phase_rows(found, start, end, self._now(), units)
        return True


def page_units(batches: list[Batch], tables: list[str]) -> set[str] | None:
    """The units whose batches a page of ``tables`` shows: on a multi-unit site, a page of one
    unit's tags (``BR01/...``) that unit's; a page of no unit's tags (None) every unit's."""
    units = {b.unit for b in batches if b.unit}
    return {u for u in units if any(t.startswith(f"{u}/") for t in tables)} or None

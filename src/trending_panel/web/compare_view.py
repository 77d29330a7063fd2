"""The page comparing batches (issue 20): a legend of the batches, the page's trends on an
axis of hours since each batch's start (or its aligned phase's), each batch in its colour,
and each pen's statistics per batch beside its trend.

A view only: the state and the reads are :mod:`.comparison`'s.
"""

from __future__ import annotations

import html
from datetime import timedelta

import panel as pn
import param
from bokeh.models import DataRange1d, HoverTool, LinearAxis
from bokeh.plotting import figure

from trending_panel.core import compare
from trending_panel.core.timewindow import format_time
from trending_panel.core.variables import Variable
from trending_panel.read.stats import Stats
from trending_panel.web import plots, statsview
from trending_panel.web.comparison import Comparison
from trending_panel.web.live_html import LiveHTML

#: Width of the statistics beside each trend (px), as on a page of windows.
STATS_WIDTH = 200
MIN_TREND_HEIGHT = 80
#: A pen's line style in a trend of several (the colour is the batch's).
DASHES = ("solid", "dashed", "dotted", "dotdash", "dashdot", "solid", "dashed", "dotted")

CSS = """
.tp-legend{display:flex;flex-wrap:wrap;gap:2px 14px;font-size:12px;line-height:18px}
.tp-legend span.tp-b{white-space:nowrap}
.tp-sw{display:inline-block;width:14px;height:4px;border-radius:1px;vertical-align:middle;
 margin-right:5px}
"""


def axis_label(align: str | None) -> str:
    return f"Hours since {align} start" if align else "Hours since batch start"


def overlay_figure(pens: list[Variable], comparison: Comparison, x_label: str) -> figure:
    """One trend of ``pens``: a line per compared batch and pen, in the batch's colour (the
    pens of a trend told apart by their dash), a second unit on a right axis."""
    units = list(dict.fromkeys(p.unit for p in pens))
    first = pens[0]
    fig = figure(
        height=210, sizing_mode="stretch_width", x_range=comparison.x_range,
        tools="xpan,xwheel_zoom,box_zoom,reset,save", active_drag="xpan",
        active_scroll="xwheel_zoom", name=f"compare-trend-{first.key}",
        title=first.title if len(pens) == 1 else " · ".join(
            f"{p.label} ({DASHES[i % len(DASHES)]})" for i, p in enumerate(pens)
        ),  # the batch is the colour, the pen the dash
        min_border_left=plots.MIN_BORDER_LEFT, output_backend="canvas", toolbar_inner=True,
    )  # fmt: skip
    fig.toolbar.autohide = True
    fig.toolbar.logo = None
    if len(units) > 1:
        fig.extra_y_ranges = {"right": DataRange1d()}
        right = LinearAxis(y_range_name="right", axis_label=units[1] or pens[-1].label)
        right.axis_label_text_font_size = "10px"
        fig.add_layout(right, "right")
    fitted: dict[str, list] = {"default": [], "right": []}
    for place, pen in enumerate(pens):
        side = "right" if len(units) > 1 and pen.unit == units[1] else "default"
        lines = []
        for slot, batch_id in enumerate(comparison.ids):
            line = plots.plain(
                fig.line(
                    "elapsed", "value", source=comparison.sources[(slot, pen.key)],
                    color=compare.COLOURS[slot % len(compare.COLOURS)], line_width=1.6,
                    line_dash=DASHES[place % len(DASHES)], y_range_name=side,
                    name=f"{batch_id} {pen.label}",
                )
            )  # fmt: skip
            lines.append(line)
        fitted[side].extend(lines)
        unit = f" {pen.unit}" if pen.unit else ""
        fig.add_tools(
            HoverTool(
                renderers=lines, mode="vline",
                tooltips=[("batch", "$name"), ("elapsed", "@elapsed{0.000} h"),
                          ("time", "@time{%F %T}"), ("value", f"@value{{0.0[0000]}}{unit}")],
                formatters={"@time": "datetime"},
            )
        )  # fmt: skip
    fig.y_range.renderers = fitted["default"]
    if len(units) > 1:
        fig.extra_y_ranges["right"].renderers = fitted["right"]
    fig.yaxis[0].axis_label = units[0] or (first.label if len(pens) == 1 else "")
    fig.yaxis[0].ticker.desired_num_ticks = 4
    fig.yaxis[0].axis_label_text_font_size = "10px"
    fig.xaxis.axis_label = x_label
    fig.xaxis.axis_label_text_font_size = "11px"
    fig.xaxis.axis_label_standoff = 2
    fig.title.text_font_size = "13px"
    return fig


def legend_html(shown: list[compare.Compared], align: str | None) -> str:
    """Each compared batch: its colour, id and unit, start and length (running or not)."""
    items = []
    for c in shown:
        hours = (c.end - c.start) / timedelta(hours=1)
        state = "running, " if c.batch.running else ""
        at = f", {align} at {format_time(c.anchor)[:16]}" if align else ""
        items.append(
            f'<span class="tp-b" data-batch="{html.escape(c.batch.batch_id)}">'
            f'<span class="tp-sw" style="background:{c.colour}"></span>'
            f"<b>{html.escape(c.label)}</b> · {format_time(c.start)[:16]} · "
            f"{state}{hours:,.1f} h{html.escape(at)}</span>"
        )
    return f'<div class="tp-legend">{"".join(items)}</div>' if items else ""


def stats_html(var: Variable, shown: list[compare.Compared], stats: dict[int, Stats]) -> str:
    """``var``'s statistics per compared batch (see :func:`~.statsview.table_html`)."""
    rows = [(c.batch.batch_id, c.colour, stats[c.slot]) for c in shown if c.slot in stats]
    return statsview.table_html(var, rows)


class CompareTrends(pn.viewable.Viewer):
    """The legend, and each trend of the page with its pens' statistics per batch."""

    comparison = param.ClassSelector(class_=Comparison, constant=True)

    def __init__(self, comparison: Comparison, **params: object) -> None:
        super().__init__(comparison=comparison, **params)
        session = comparison.session
        by_key = session.by_key
        self.trend_pens = {trend[0]: [by_key[k] for k in trend] for trend in session.trends}
        label = axis_label(comparison.align)
        self.figures = {
            name: overlay_figure(pens, comparison, label) for name, pens in self.trend_pens.items()
        }
        for fig in self.figures.values():
            fig.on_change("inner_width", lambda attr, old, new: comparison.resized(new))
            fig.sizing_mode, fig.height, fig.min_height = "stretch_both", None, MIN_TREND_HEIGHT
        self.legend = LiveHTML(
            "", sizing_mode="stretch_width", name="compare-legend", stylesheets=[CSS],
            margin=(2, 10),
        )  # fmt: skip
        self.stat_panes = {name: self._stats_pane(name) for name in self.trend_pens}
        self.rows = [
            pn.Row(
                pn.pane.Bokeh(
                    fig, sizing_mode="stretch_both", min_height=MIN_TREND_HEIGHT, margin=(2, 5)
                ),
                self.stat_panes[name],
                sizing_mode="stretch_both",
                margin=0,
            )
            for name, fig in self.figures.items()
        ]
        comparison.param.watch(self._show, ["shown", "stats"])
        self._show()

    @staticmethod
    def _stats_pane(name: str) -> LiveHTML:
        return LiveHTML(
            "", width=STATS_WIDTH, name=f"compare-stats-{name}", margin=(2, 10),
            stylesheets=[statsview.CSS, CSS], sizing_mode="stretch_height",
        )  # fmt: skip

    def _show(self, *_events: param.parameterized.Event) -> None:
        c = self.comparison
        text = legend_html(c.shown, c.align)
        if self.legend.object != text:
            self.legend.object = text
        for name, pens in self.trend_pens.items():
            blocks = "".join(stats_html(p, c.shown, c.stats.get(p.key, {})) for p in pens)
            if self.stat_panes[name].object != blocks:
                self.stat_panes[name].object = blocks

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.legend, *self.rows, sizing_mode="stretch_both", margin=0)

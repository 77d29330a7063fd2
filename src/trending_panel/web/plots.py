"""Thin Bokeh views: stacked trend figures of one or more pens on a shared time axis.

The data lives in plain ``ColumnDataSource``s that the dashboard streams into; HoloViews'
``Buffer`` was measured 2.4-6.6x more expensive per streamed point on this hardware, so the
live path stays on raw Bokeh.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from bokeh.events import MouseLeave, MouseMove
from bokeh.models import (
    BoxAnnotation,
    ColumnDataSource,
    CustomJS,
    DataRange1d,
    DatetimeTicker,
    DatetimeTickFormatter,
    Div,
    Grid,
    HoverTool,
    Label,
    LinearAxis,
    Range1d,
    Span,
)
from bokeh.plotting import figure

from trending_panel.core.variables import Variable

#: The trends' left border (px): wider than any y-axis with its label, so their frames align.
MIN_BORDER_LEFT = 70
#: ... and their right border when some trend of the page has a right axis.
RIGHT_AXIS_WIDTH = 64


def plain(renderer):
    """``renderer`` without the glyph variants a trend never shows (nothing is selected or
    muted on it). Every model of a page is walked for each message the server sends it:
    fewer models, cheaper viewers."""
    renderer.nonselection_glyph = None
    renderer.muted_glyph = None
    return renderer


class TimeTicks:
    """One datetime ticker and formatter for every time axis and grid of a page (a
    ``DatetimeTicker`` is a dozen models; shared, a page holds one instead of one per trend)."""

    def __init__(self) -> None:
        self.ticker = DatetimeTicker()
        self.formatter = DatetimeTickFormatter()

    def apply(self, fig: figure) -> None:
        for axis in fig.xaxis:
            axis.ticker, axis.formatter = self.ticker, self.formatter
        for grid in fig.xgrid:
            grid.ticker = self.ticker


def trend_figure(
    pens: Variable | Sequence[Variable],
    sources: ColumnDataSource | Mapping[str, ColumnDataSource],
    holds: ColumnDataSource | Mapping[str, ColumnDataSource],
    x_range: Range1d,
    *,
    time_label: str,
    reference: ColumnDataSource | Mapping[str, ColumnDataSource] | None = None,
    ticks: TimeTicks | None = None,
    time_axis: bool = True,
) -> figure:
    """A step trend of one or more ``pens`` with hover (time and value with unit), x-pan
    and x-zoom; ``ticks``: the page's shared time ticks. Pens of the first unit use the left
    y-axis, pens of a second unit a right one (:func:`~...core.pens.arrange` allows two).
    Without ``time_axis`` (trends stacked over one shared axis, ``ticks`` given), the figure
    has the time grid but no axis of its own: fewer models to build, send and draw."""
    bare = not time_axis and ticks is not None
    if isinstance(pens, Variable):  # one pen, its sources given alone
        one = pens
        pens = [one]
        sources, holds = {one.key: sources}, {one.key: holds}
        if reference is not None:
            reference = {one.key: reference}
    units = list(dict.fromkeys(p.unit for p in pens))
    first = pens[0]
    fig = figure(
        height=210,
        sizing_mode="stretch_width",
        x_axis_type=None if bare else "datetime",
        x_range=x_range,
        tools="xpan,xwheel_zoom,box_zoom,reset,save",
        active_drag="xpan",
        active_scroll="xwheel_zoom",
        title=first.title if len(pens) == 1 else " · ".join(p.label for p in pens),
        name=f"trend-{first.key}",
        min_border_left=MIN_BORDER_LEFT,
        output_backend="canvas",
        toolbar_inner=True,  # over the plot, shown on hover: the frames line up
    )
    fig.toolbar.autohide = True
    if bare:
        fig.add_layout(Grid(dimension=0, ticker=ticks.ticker), "center")
    if ticks is not None:
        ticks.apply(fig)
    if len(units) > 1:
        fig.extra_y_ranges = {"right": DataRange1d()}
        right = LinearAxis(y_range_name="right", axis_label=units[1] or pens[-1].label)
        right.ticker.desired_num_ticks = 4
        right.axis_label_text_font_size = "10px"
        fig.add_layout(right, "right")
    fitted: dict[str, list] = {"default": [], "right": []}
    for var in pens:
        side = "right" if len(units) > 1 and var.unit == units[1] else "default"
        fitted[side].extend(
            _pen(fig, var, sources[var.key], holds[var.key],
                 (reference or {}).get(var.key), side, labelled=var is first,
                 shared=len(pens) > 1)
        )  # fmt: skip
    # The y-range fits the data alone: a limit far from the values (its band is a renderer
    # too) must not squash the trend into a line.
    fig.y_range.renderers = fitted["default"]
    if len(units) > 1:
        fig.extra_y_ranges["right"].renderers = fitted["right"]
    # The title names the variable; the axis only its unit (the whole title, rotated, was
    # longer than a trend is tall on a laptop and lost its first letters).
    fig.yaxis[0].axis_label = units[0] or (first.label if len(pens) == 1 else "")
    fig.xaxis.axis_label = time_label
    fig.title.text_font_size = "13px"
    fig.xaxis.axis_label_text_font_size = "11px"
    fig.xaxis.axis_label_standoff = 2
    fig.yaxis[0].ticker.desired_num_ticks = 4  # a short trend stays legible
    fig.yaxis[0].axis_label_text_font_size = "10px"
    fig.toolbar.logo = None
    return fig


def _pen(
    fig: figure,
    var: Variable,
    source: ColumnDataSource,
    hold: ColumnDataSource,
    reference: ColumnDataSource | None,
    side: str,
    *,
    labelled: bool,
    shared: bool = False,
) -> list:
    """``var``'s renderers on ``fig`` (its trace, the golden batch's, the held value), its
    limits and its hover; returns the renderers its y-range fits."""
    line = plain(
        fig.line(
            "time", "value", source=source, color=var.color, line_width=1.6,
            name=f"line-{var.key}", y_range_name=side,
        )
    )  # fmt: skip
    fitted = [line]
    if reference is not None:
        # The golden batch: the reference period shifted onto the window, dashed and lighter.
        fitted.append(plain(fig.line(
            "time", "value", source=reference, color=var.color, line_width=1.4,
            line_dash="dashed", line_alpha=0.5, name=f"ref-line-{var.key}", y_range_name=side,
        )))  # fmt: skip
        if labelled:
            fig.add_layout(
                Label(
                    x=8,
                    y=4,
                    x_units="screen",
                    y_units="screen",
                    text="",
                    text_font_size="11px",
                    text_color="#888",
                    name=f"ref-label-{var.key}",
                )
            )
    # The last value, held up to the newest sample of any table (no row = no change).
    held = fig.line(
        "time", "value", source=hold, color=var.color, line_width=1.6, name=f"hold-{var.key}",
        y_range_name=side,
    )  # fmt: skip
    fitted.append(plain(held))
    _limits(fig, var, side, shared=shared)
    unit = f" {var.unit}" if var.unit else ""
    fig.add_tools(
        HoverTool(
            renderers=[line],
            mode="vline",
            tooltips=[("time", "@time{%F %T.%3N}"), (var.label, f"@value{{0.0[0000]}}{unit}")],
            formatters={"@time": "datetime"},
        )
    )
    return fitted


def time_axis(
    x_range: Range1d,
    *,
    time_label: str,
    height: int = 76,
    ticks: TimeTicks | None = None,
    right: int = 0,
) -> figure:
    """The shared time axis alone, to place under trends stacked without their own axes
    (a page that shares its height among the trends gives it to the data, not to axes)."""
    fig = figure(
        height=height,
        sizing_mode="stretch_width",
        x_axis_type="datetime",
        x_range=x_range,
        y_range=Range1d(0, 1),  # nothing drawn: a fixed range, no auto-ranging to complain
        toolbar_location=None,
        min_border_left=MIN_BORDER_LEFT,
        min_border_right=right or None,
        min_border_top=0,
        min_border_bottom=0,
        outline_line_color=None,
        name="time-axis",
    )
    if ticks is not None:
        ticks.apply(fig)
    plain(fig.line(x=[], y=[]))  # nothing to draw, but Bokeh wants a renderer in a plot
    fig.yaxis.visible = False
    fig.ygrid.visible = False
    fig.xgrid.visible = False
    fig.xaxis.axis_label = time_label
    fig.xaxis.axis_label_text_font_size = "11px"
    fig.xaxis.axis_label_standoff = 2
    return fig


#: Shade beyond an alarm limit (Bokeh's default red, faint enough to read the trend through).
LIMIT_COLOR = "#d62728"


def _limits(fig: figure, var: Variable, side: str = "default", shared: bool = False) -> None:
    """The alarm limits as bands: the region beyond each limit shaded, its edge dashed. The
    y-range still fits the data (annotations do not stretch it). On a trend ``shared`` with
    other pens, a limit is its dashed line alone, in the pen's colour: a shaded band would
    say the other pens are beyond it too."""
    for where, value in (("low", var.low), ("high", var.high)):
        if value is None:
            continue
        if shared:
            fig.add_layout(
                Span(
                    location=value, dimension="width", line_color=var.color,
                    line_dash="dashed", line_alpha=0.8, line_width=1,
                    name=f"limit-line-{where}-{var.key}", y_range_name=side,
                )
            )  # fmt: skip
            continue
        beyond = {"top": value} if where == "low" else {"bottom": value}
        fig.add_layout(
            BoxAnnotation(
                **beyond,
                fill_color=LIMIT_COLOR,
                fill_alpha=0.07,
                line_alpha=0,
                level="underlay",
                name=f"limit-{where}-{var.key}",
                y_range_name=side,
            )
        )
        fig.add_layout(
            Span(
                location=value,
                dimension="width",
                line_color=LIMIT_COLOR,
                line_dash="dashed",
                line_alpha=0.6,
                line_width=1,
                name=f"limit-line-{where}-{var.key}",
                y_range_name=side,
            )
        )


#: In the browser, on every mouse move over any trend: one vertical line at that time on every
#: trend, and each variable's value at that time as the historian holds it, the last row at or
#: before it (the last vertex at or before it: a hold corner carries the previous value, a gap
#: or a NULL/NaN row is a NaN vertex), carried on by the hold segment past the last row, and
#: "no data" beyond the gap limit.
CURSOR_JS = (Path(__file__).parent / "cursor.js").read_text()
CURSOR_HIDE_JS = "for (const s of spans) s.visible = false;"


def cursor(
    figures: dict[str, figure],
    sources: dict[str, ColumnDataSource],
    holds: dict[str, ColumnDataSource],
    variables: list[Variable],
    gap_ms: float,
) -> Div:
    """The cursor across all trends and its readout (a ``Div`` to place above them)."""
    readout = Div(
        text="Point at any trend: every variable's value at that time appears here.",
        name="cursor-readout",
        sizing_mode="stretch_width",
        styles={
            "font-family": "var(--bokeh-base-font, sans-serif)",
            "font-size": "12.5px",
            "min-height": "18px",
        },
    )
    spans = []
    for fig in figures.values():
        span = Span(
            location=0, dimension="height", line_color="#888", line_width=1, visible=False,
            name="cursor-line",
        )  # fmt: skip
        fig.add_layout(span)
        spans.append(span)
    meta = [
        {"key": v.key, "label": v.label, "unit": v.unit, "decimals": v.decimals, "color": v.color}
        for v in variables
    ]
    args = {"spans": spans, "sources": sources, "holds": holds, "readout": readout,
            "gap_ms": gap_ms}  # fmt: skip
    js = f"const variables = {json.dumps(meta)};\n{CURSOR_JS}"
    move, hide = CustomJS(args=args, code=js), CustomJS(args={"spans": spans}, code=CURSOR_HIDE_JS)
    for fig in figures.values():
        fig.js_on_event(MouseMove, move)
        fig.js_on_event(MouseLeave, hide)
    return readout

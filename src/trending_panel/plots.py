"""Thin Bokeh views: one stacked trend figure per variable on a shared time axis.

The data lives in plain ``ColumnDataSource``s that the dashboard streams into; HoloViews'
``Buffer`` was measured 2.4-6.6x more expensive per streamed point on this hardware, so the
live path stays on raw Bokeh.
"""

from __future__ import annotations

from bokeh.models import ColumnDataSource, HoverTool, Range1d
from bokeh.plotting import figure

from . import traces
from .variables import Variable


def trend_figure(
    var: Variable,
    source: ColumnDataSource,
    hold: ColumnDataSource,
    x_range: Range1d,
    *,
    time_label: str,
) -> figure:
    """A step trend of ``var`` with hover (time and value with unit), x-pan and x-zoom."""
    fig = figure(
        height=210,
        sizing_mode="stretch_width",
        x_axis_type="datetime",
        x_range=x_range,
        tools="xpan,xwheel_zoom,box_zoom,reset,save",
        active_drag="xpan",
        active_scroll="xwheel_zoom",
        title=var.title,
        name=f"trend-{var.key}",
        min_border_left=70,
        output_backend="canvas",
    )
    line = fig.line(
        "time", "value", source=source, color=var.color, line_width=1.6, name=f"line-{var.key}"
    )
    # The last value, held up to the newest sample of any table (no row = no change).
    fig.line("time", "value", source=hold, color=var.color, line_width=1.6, name=f"hold-{var.key}")
    unit = f" {var.unit}" if var.unit else ""
    fig.add_tools(
        HoverTool(
            renderers=[line],
            mode="vline",
            tooltips=[("time", "@time{%F %T.%3N}"), (var.label, f"@value{{0.0[0000]}}{unit}")],
            formatters={"@time": "datetime"},
        )
    )
    fig.yaxis.axis_label = var.title
    fig.xaxis.axis_label = time_label
    fig.title.text_font_size = "13px"
    fig.xaxis.axis_label_text_font_size = "11px"
    fig.xaxis.axis_label_standoff = 2
    fig.toolbar.logo = None
    return fig


def new_source(var: Variable) -> ColumnDataSource:
    return ColumnDataSource(traces.empty(), name=f"source-{var.key}")


def new_hold(var: Variable) -> ColumnDataSource:
    return ColumnDataSource({"time": [], "value": []}, name=f"hold-{var.key}")

"""The naive baseline the benchmark measures against: ``panel serve benchmarks/naive_app.py``.

What most dashboards of this kind do: every session fetches the raw rows of its window
(``fetchall``) and sends them all to its plots, and polls the database for new rows on a
periodic callback of its own. Same models and names as the real dashboard (``source-<key>``,
``time-range``), so the benchmark measures both pages with the same JavaScript.
"""

from __future__ import annotations

from datetime import timedelta

import panel as pn
import psycopg
from bokeh.models import ColumnDataSource, Range1d
from psycopg import sql

from trending_panel.core import steps as traces
from trending_panel.core.rows import Series, to_ms
from trending_panel.core.settings import Settings
from trending_panel.core.timewindow import TimeWindow
from trending_panel.core.variables import VARIABLES
from trending_panel.web import plots

settings = Settings.from_env()
args = pn.state.session_args or {}
window = TimeWindow.from_query(
    {k: v[0].decode() for k, v in args.items() if k in ("window", "start", "end")},
    settings.tzinfo,
)
conn = psycopg.connect(settings.conninfo(), autocommit=True)
newest = max(
    (
        r[0]
        for var in VARIABLES
        for r in conn.execute(sql.SQL("SELECT max(time) FROM {}").format(sql.Identifier(var.table)))
        if r[0] is not None
    ),
    default=None,
)
start, end = window.resolve(newest)
x_range = Range1d(start=to_ms(start), end=to_ms(end), name="time-range")
sources: dict[str, ColumnDataSource] = {}
last: dict[str, object] = {}
figures = []
for var in VARIABLES:
    rows = conn.execute(
        sql.SQL("SELECT time, value FROM {} WHERE time >= %s AND time <= %s ORDER BY time").format(
            sql.Identifier(var.table)
        ),
        (start, end),
    ).fetchall()
    series = Series.from_rows(rows)
    sources[var.key] = ColumnDataSource(
        traces.step_vertices(series.times, series.values, settings.gap), name=f"source-{var.key}"
    )
    last[var.key] = rows[-1][0] if rows else end
    hold = ColumnDataSource({"time": [], "value": []}, name=f"hold-{var.key}")
    figures.append(
        pn.pane.Bokeh(
            plots.trend_figure(var, sources[var.key], hold, x_range, time_label="Time"),
            sizing_mode="stretch_width",
        )
    )


def poll() -> None:
    """One query per table per session per tick: the load grows with the viewers."""
    for var in VARIABLES:
        rows = conn.execute(
            sql.SQL("SELECT time, value FROM {} WHERE time > %s ORDER BY time").format(
                sql.Identifier(var.table)
            ),
            (last[var.key],),
        ).fetchall()
        if rows:
            series = Series.from_rows(rows)
            sources[var.key].stream(
                traces.step_vertices(series.times, series.values, timedelta(days=365))
            )
            last[var.key] = rows[-1][0]


pn.state.add_periodic_callback(poll, period=500)
pn.state.on_session_destroyed(lambda _ctx: conn.close())
pn.Column(*figures, sizing_mode="stretch_width").servable()

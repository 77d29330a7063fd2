"""The views of a session: header (status and value cards), trends (plots, cursor, statistics)
and controls. Each reads the session's state and lays it out; none reads the database.

Panel's DataStore/View shape: the :class:`~.session.Session` owns the state as parameters and
Bokeh sources, every view takes it and watches what it shows. Work that must happen under the
document lock (the header's clock-driven states) runs from the session's tick.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import panel as pn
import panel_material_ui as pmui
import param
from bokeh.plotting import figure

from trending_panel.core.variables import Variable
from trending_panel.web import header, plots, statsview
from trending_panel.web.ages import AGED
from trending_panel.web.csv_button import CsvButton
from trending_panel.web.live_html import LiveHTML
from trending_panel.web.phase_bands import PhaseBands
from trending_panel.web.phase_stats import PhaseStats
from trending_panel.web.session import Session

#: Width of the statistics block beside each trend (px).
STATS_WIDTH = 200
#: A trend's height in a notebook (px); served, the trends share the height that is left.
EMBEDDED_HEIGHT = 210
#: The least height of a trend when they share the page (px).
MIN_TREND_HEIGHT = 80


class Header(pn.viewable.Viewer):
    """The status line (connection, newest sample, notes) and a value card per variable."""

    session = param.ClassSelector(class_=Session, constant=True)

    def __init__(self, session: Session, **params: object) -> None:
        super().__init__(session=session, **params)
        self.status = LiveHTML(
            "", sizing_mode="stretch_width", name="status", stylesheets=[header.CSS],
            margin=(2, 10), css_classes=[AGED],
        )  # fmt: skip
        self.cards = LiveHTML(
            "", sizing_mode="stretch_width", name="latest-values", stylesheets=[header.CSS],
            margin=(2, 10), css_classes=[AGED],
        )  # fmt: skip
        session.on_tick(self.refresh)
        self.refresh()

    def refresh(self) -> bool:
        """Cheap to build; only a change is sent to the browser, and not one of the ages
        alone: the browser counts them on (:class:`~.ages.Ages`)."""
        s = self.session
        now = s.settings.now()
        cards = header.cards_html(s.selected, s.feed.latest, now, s.settings.gap)
        status = header.status_html(s.feed, s.by_key, now, s.status_notes())
        for pane, text in ((self.cards, cards), (self.status, status)):
            if header.unaged(pane.object) != header.unaged(text):
                pane.object = text
        return False  # Panel panes sync by themselves, also in a notebook

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.status, self.cards, sizing_mode="stretch_width", margin=0)


class Trouble(pn.viewable.Viewer):
    """When the database cannot be used from the start: what failed and what to check, in
    place of plots that would stay empty (``showing``). Once a window was shown, a later
    outage leaves the plots and is told by the status line."""

    session = param.ClassSelector(class_=Session, constant=True)
    showing = param.Boolean(default=False, doc="The diagnosis is shown (hide the trends).")

    def __init__(self, session: Session, **params: object) -> None:
        super().__init__(session=session, **params)
        self.pane = pn.pane.HTML(
            "", sizing_mode="stretch_width", name="diagnosis", stylesheets=[header.CSS],
            visible=False,
        )  # fmt: skip
        session.on_tick(self.refresh)

    def refresh(self) -> bool:
        s = self.session
        diagnosis = s.feed.diagnosis if s.feed.status != "live" else None
        show = diagnosis is not None and not s.loaded_once
        if show:
            text = header.diagnosis_html(diagnosis, s.settings)
            if self.pane.object != text:
                self.pane.object = text
        if show != self.showing:
            self.pane.visible = show
            self.showing = show
        return False

    def __panel__(self) -> pn.viewable.Viewable:
        return self.pane


class Trends(pn.viewable.Viewer):
    """The page's trends (each of one or more pens) on the shared time axis, their pens'
    statistics beside them, and the cursor's readout above them all. ``fill``: share the
    height the page leaves (served); else each trend has a fixed height (a notebook output
    has no height to share)."""

    session = param.ClassSelector(class_=Session, constant=True)
    fill = param.Boolean(default=False, constant=True)

    def __init__(
        self,
        session: Session,
        *,
        figures: dict[str, figure] | None = None,
        ticks: plots.TimeTicks | None = None,
        **params: object,
    ) -> None:
        """``figures`` (with their ``ticks``): made beforehand by :meth:`in_steps`."""
        super().__init__(session=session, **params)
        settings = session.settings
        sizing = "stretch_both" if self.fill else "stretch_width"
        ticks = ticks or plots.TimeTicks()
        #: The page's trends, each named by its first pen's key.
        self.trend_pens = _trend_pens(session)
        self.figures = figures if figures is not None else {
            name: _trend_figure(session, pens, self.fill, ticks)
            for name, pens in self.trend_pens.items()
        }  # fmt: skip
        #: The statistics per phase shown, on request (the sidebar's switch).
        self.phases: PhaseStats | None = None
        if session.hub.batches.enabled:  # the site's batches and phases, across every trend
            tables = [v.table for v in session.all_variables]
            self.bands = PhaseBands(session.hub.batches, session.shown_span, settings.now, tables)
            self.bands.draw_on(list(self.figures.values()))
            session.on_tick(self.bands.refresh)
            self.phases = PhaseStats(session)
        if any(len({p.unit for p in pens}) > 1 for pens in self.trend_pens.values()):
            for fig in self.figures.values():  # frames aligned beside a trend's right axis
                fig.min_border_right = plots.RIGHT_AXIS_WIDTH
        self.panes = {
            key: pn.pane.Bokeh(fig, sizing_mode=sizing, min_height=MIN_TREND_HEIGHT, margin=(2, 5))
            for key, fig in self.figures.items()
        }
        #: A vertical line across all trends at the pointer, and each value held at that time.
        self.readout = pn.pane.Bokeh(
            plots.cursor(
                self.figures,
                session.sources,
                session.holds,
                list(session.all_variables),
                settings.gap / timedelta(milliseconds=1),
            ),
            sizing_mode="stretch_width",
            margin=(0, 10),
        )
        #: The window's statistics beside each trend, a block per pen (see stats.py).
        self.stat_panes = {
            name: LiveHTML(
                self._blocks(pens),
                width=STATS_WIDTH,
                name=f"stats-{name}",
                stylesheets=[statsview.CSS],
                margin=(2, 10),
                sizing_mode="stretch_height" if self.fill else "fixed",
            )
            for name, pens in self.trend_pens.items()
        }
        self.rows = {
            name: pn.Row(
                self.panes[name],
                self.stat_panes[name],
                sizing_mode=sizing,
                visible=any(p.key in session.variables for p in pens),
                margin=0,
            )
            for name, pens in self.trend_pens.items()
        }
        #: Sharing the page's height, the trends share one time axis below them all.
        self.time_axis = None
        if self.fill:
            for fig in self.figures.values():
                for axis in fig.xaxis:
                    axis.visible = False
                fig.min_border_bottom = 4
            self.time_axis = pn.Row(
                pn.pane.Bokeh(
                    plots.time_axis(
                        session.x_range,
                        time_label=f"Time ({settings.timezone})",
                        ticks=ticks,
                        right=max(f.min_border_right or 0 for f in self.figures.values()),
                    ),
                    sizing_mode="stretch_width",
                    margin=(0, 5),
                ),
                pn.Spacer(width=STATS_WIDTH, margin=(0, 10)),  # under the statistics
                sizing_mode="stretch_width",
                margin=0,
            )
        session.param.watch(self._show_rows, "variables")
        session.param.watch(self._show_stats, ["current_stats", "reference_stats"])
        if self.phases is not None:
            self.phases.param.watch(self._show_stats, ["on", "rows"])
        session.param.watch(self._show_labels, "ref_labels")
        self._show_labels()  # made after a load (served, the trends come in steps)
        session.push_in_notebook(*self.panes.values())

    @classmethod
    def in_steps(cls, session: Session, fill: bool = False) -> Iterator[Trends | None]:
        """The same view, made a trend's figure at a time: None after each figure, then the
        view. Served, each step is a turn of the event loop of its own (see
        :meth:`.ticker.Clock.in_steps`): one page's build never holds every other session."""
        ticks = plots.TimeTicks()
        figures = {}
        for name, pens in _trend_pens(session).items():
            figures[name] = _trend_figure(session, pens, fill, ticks)
            yield None
        yield cls(session, fill=fill, figures=figures, ticks=ticks)

    def _show_rows(self, event: param.parameterized.Event) -> None:
        shown = set(event.new)
        for name, row in self.rows.items():
            pens = self.trend_pens[name]
            row.visible = any(p.key in shown for p in pens)
            if len(pens) > 1:  # a pen unticked leaves its trend's other pens drawn
                for pen in pens:
                    names = {f"line-{pen.key}", f"hold-{pen.key}", f"ref-line-{pen.key}"}
                    for renderer in self.figures[name].renderers:
                        if renderer.name in names:
                            renderer.visible = pen.key in shown

    def _blocks(self, pens) -> str:
        s = self.session
        by_phase = self.phases.rows if self.phases is not None and self.phases.on else {}
        return "".join(
            statsview.table_html(var, [(label, None, st) for label, st in by_phase[var.key]])
            if var.key in by_phase
            else statsview.block_html(
                var,
                s.current_stats.get(var.key),
                reference=s.reference_stats.get(var.key),
                fit=self.fill,
                share=len(pens),
            )
            for var in pens
        )

    def _show_stats(self, *_events: param.parameterized.Event) -> None:
        for name, pens in self.trend_pens.items():
            text = self._blocks(pens)
            pane = self.stat_panes[name]
            if pane.object != text:
                pane.object = text

    def _show_labels(self, *_events: param.parameterized.Event) -> None:
        labels = self.session.ref_labels
        for key, fig in self.figures.items():
            for model in fig.select(name=f"ref-label-{key}"):
                text = labels.get(key, "")
                if model.text != text:
                    model.text = text

    def parts(self) -> list[pn.viewable.Viewable]:
        """Top to bottom: the cursor's readout, a row per trend, the shared time axis."""
        below = [self.time_axis] if self.time_axis is not None else []
        return [self.readout, *self.rows.values(), *below]

    def __panel__(self) -> pn.viewable.Viewable:
        sizing = "stretch_both" if self.fill else "stretch_width"
        return pn.Column(*self.parts(), sizing_mode=sizing, margin=0)


def _trend_pens(session: Session) -> dict[str, list[Variable]]:
    """The page's trends, each named by its first pen's key, with their pens."""
    by_key = session.by_key
    return {trend[0]: [by_key[k] for k in trend] for trend in session.trends}


def _trend_figure(
    session: Session, pens: list[Variable], fill: bool, ticks: plots.TimeTicks
) -> figure:
    """One trend's figure: sharing the page's height (``fill``) or of a fixed height."""
    fig = plots.trend_figure(
        pens,
        session.sources,
        session.holds,
        session.x_range,
        time_label=f"Time ({session.settings.timezone})",
        reference=session.ref_sources,
        ticks=ticks,
        time_axis=not fill,  # sharing the page's height: one time axis below all
    )
    if fill:
        fig.sizing_mode, fig.height = "stretch_both", None
        fig.min_height = MIN_TREND_HEIGHT
    else:
        fig.height = EMBEDDED_HEIGHT
    fig.on_change("inner_width", lambda attr, old, new: session.resized(new))
    low, high = (session.plan.ranges or {}).get(pens[0].key, (None, None))
    if low is not None:  # a display's fixed y-range (else fitted to the data)
        fig.y_range.start = low
    if high is not None:
        fig.y_range.end = high
    return fig


class Controls(pn.viewable.Viewer):
    """The window (presets and an absolute range), the variables, live on/off, the golden
    batch's start, and the CSV. ``vertical`` for a sidebar, else one wrapping row."""

    session = param.ClassSelector(class_=Session, constant=True)
    vertical = param.Boolean(default=True, constant=True)

    def __init__(self, session: Session, **params: object) -> None:
        super().__init__(session=session, **params)
        orientation = "vertical" if self.vertical else "horizontal"
        self.window = pmui.RadioButtonGroup.from_param(
            session.param.window, label="Time window", orientation=orientation, size="small",
            sizing_mode="stretch_width" if self.vertical else None,
            sx={"& .MuiToggleButton-root": {"py": 0.3}},  # nine presets, compact
        )  # fmt: skip
        #: The absolute range: typed (or pasted) date-times, shown as the loaded window's ends.
        tz = session.settings.timezone
        # As wide as the sidebar, not their own default (310 px in a 290 px panel).
        fit = {"sizing_mode": "stretch_width"} if self.vertical else {}
        self.first = pmui.DatetimeInput(label=f"From ({tz})", size="small", **fit)
        self.last = pmui.DatetimeInput(label=f"To ({tz})", size="small", **fit)
        self._syncing = False
        self.first.param.watch(self._picked, "value")
        self.last.param.watch(self._picked, "value")
        session.param.watch(lambda event: self._show_span(event.new), "loaded_span")
        self._show_span(session.loaded_span)  # built after a window was loaded (the sidebar)
        self.variables = pmui.CheckBoxGroup.from_param(
            session.param.variables, label="Variables", inline=not self.vertical
        )
        self.live = pmui.Switch.from_param(session.param.live, label="Live")
        self.reference = pmui.DatetimePicker.from_param(
            session.param.ref, label="Golden batch start", enable_seconds=True,
            size="small", clearable=True, **fit,
        )  # fmt: skip
        # Served, the button streams the HTTP export route. In a notebook (no route),
        # FileDownload sends the file over the comm.
        self.download: pn.viewable.Viewable
        if session.export_url is not None:
            self.download = CsvButton(url=session.csv_url, name="download-csv")
            session.param.watch(self._csv_moved, "csv_url")
        else:
            self.download = pmui.FileDownload(
                callback=self._csv, filename="trending.csv", label="Download CSV"
            )

    def _csv_moved(self, event: param.parameterized.Event) -> None:
        self.download.url = event.new

    async def _csv(self):
        data = await self.session.csv_file()
        self.download.filename = self.session.csv_filename
        return data

    def _picked(self, _event: param.parameterized.Event) -> None:
        if self._syncing:
            return
        self.session.pick_range(self.first.value, self.last.value)

    def _show_span(self, span: tuple) -> None:
        start, end = span
        if start is None or end is None:
            return
        typed = (self.first.value, self.last.value)
        if self.session.window == "custom" and typed == (self.session.start, self.session.end):
            return  # they hold what the user typed (and may still be typing)
        self._syncing = True
        try:
            self.first.value, self.last.value = start, end
        finally:
            self._syncing = False

    def __panel__(self) -> pn.viewable.Viewable:
        items = [
            self.window,
            self.first,
            self.last,
            self.variables,
            self.live,
            self.reference,
            self.download,
        ]
        if self.vertical:
            return pn.Column(*items, sizing_mode="stretch_width")
        return pn.FlexBox(*items, align_items="center")

"""The dashboard: per-session state as parameters, Bokeh sources fed from the live feed.

Data flow inside a session: the window parameters change → :meth:`Dashboard.load` reads the
window from the store (async, off the document lock) and parks the result → the session's
periodic callback (:meth:`Dashboard.tick`, which runs under the document lock) applies parked
results, drains the feed's queue into the sources with ``stream(..., rollover=...)``, and
refreshes the header. All model mutations therefore happen in one place.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import ColumnDataSource, Range1d

from . import export, frames, header, plots, resolution, statsview, traces
from .convergence import get_convergence
from .csv_button import CsvButton
from .feed import LiveFeed, Subscription, get_feed
from .ledger import Ledger
from .limits import EXPORTS, LOADS
from .resolution import Drawn
from .settings import Settings
from .stats import Stats, window_stats
from .store import Row, Series, TooManyRows, error_line
from .summary import Summary, get_summary
from .ticker import Ticker
from .timewindow import (
    DEFAULT_WINDOW,
    PRESETS,
    TimeWindow,
    format_time,
    parse_time,
    preset_label,
    query_text,
    within_range,
)
from .variables import VARIABLES, Variable

log = logging.getLogger(__name__)

TICK_MS = 250
#: Width of the statistics block beside each trend (px).
STATS_WIDTH = 200
#: A live window's statistics are computed again this often (seconds), at the least.
STATS_REFRESH_S = 15
#: Zoom, pan and resize settle for this long before the visible range is read again.
DEBOUNCE_S = 0.05
#: Plot width assumed until the browser reports the real one.
DEFAULT_WIDTH = 1000
#: How long the header says that a span of the past was redrawn.
CHANGE_NOTE_S = 60
#: Streaming keeps at most this many vertices per plot beyond what a window load brought.
ROLLOVER_HEADROOM = 200_000
_EPOCH = datetime(1970, 1, 1)


def to_ms(t: datetime) -> float:
    """Naive data-zone time → Bokeh's axis unit (ms; the axis shows the naive value as is)."""
    return (t - _EPOCH) / timedelta(milliseconds=1)


def from_ms(ms: float) -> datetime:
    """Bokeh's axis unit → naive data-zone time (to the microsecond)."""
    return _EPOCH + timedelta(microseconds=round(ms * 1000))


@dataclass
class Loaded:
    """A window read from the store, waiting to be applied by the next tick."""

    generation: int
    start: datetime | None  #: the window's ends (None: unbounded, for "all data")
    end: datetime | None
    drawn: dict[str, Drawn]
    problems: dict[str, str]  # table → why it cannot be shown
    #: What the traces cover: the window's ends, or the zoomed range, resolved.
    extent: tuple[datetime | None, datetime | None] = (None, None)
    zoomed: bool = False  #: a zoom/pan range, not the window itself
    #: The reference period's traces (golden batch) and how far they are shifted forward.
    reference: dict[str, Drawn] | None = None
    ref_shift: timedelta = timedelta(0)
    attached: bool = True  #: reaches the live edge: streamed rows continue it
    width: int = DEFAULT_WIDTH

    def notes(self, variables: tuple[Variable, ...]) -> list[str]:
        """What the user should know about how the window is drawn."""
        out = []
        for var in variables:
            drawn = self.drawn.get(var.key)
            if drawn is not None and drawn.reduced:
                out.append(
                    f"{var.label}: {drawn.rows:,} rows here, drawn from their {drawn.samples:,} "
                    "first/last/min/max per pixel column; zoom in for every row "
                    "(the CSV always has them all)"
                )
        return out


class Dashboard(pn.viewable.Viewer):
    """Live trends of the bioreactor's process variables with a selectable time window."""

    window = param.Selector(
        default=DEFAULT_WINDOW,
        objects={**{preset_label(key): key for key in PRESETS}, "Custom range": "custom"},
        doc="Relative preset (follows live data, ends at the newest sample) or 'custom'.",
    )
    start = param.Date(default=None, allow_None=True, doc="Start of a custom window (data zone).")
    end = param.Date(default=None, allow_None=True, doc="End of a custom window (data zone).")
    variables = param.ListSelector(
        default=[v.key for v in VARIABLES],
        objects={v.title: v.key for v in VARIABLES},
        doc="Variables shown and exported (the settings' variables; the spec's four by default).",
    )
    live = param.Boolean(default=True, doc="Stream new rows into the plots as they arrive.")
    ref = param.Date(
        default=None,
        allow_None=True,
        doc="Start of a reference period (golden batch), overlaid on every trend shifted to the "
        "window's start; None: no overlay.",
    )
    message = param.String(default="", doc="Problem to show the user (bad URL, load failure).")
    loading = param.Boolean(default=False, doc="A window load is in flight.")

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        feed: LiveFeed | None = None,
        summary: Summary | None = None,
        export_url: str | None = None,
        autostart: bool = True,
        **params: object,
    ) -> None:
        self.settings = settings if settings is not None else Settings.from_env()
        self.all_variables = self.settings.variables
        url_params, url_error = self._from_url()
        shown = params.pop("variables", None)
        super().__init__(**{**url_params, **params})
        with param.discard_events(self):  # the configured variables, before anything watches
            self.param.variables.objects = {v.title: v.key for v in self.all_variables}
            self.variables = list(shown) if shown is not None else list(self.settings.by_key)
        self._url_error = url_error
        self._ref_note = ""  #: why a reference start was refused
        if problem := self._window_problem():
            with param.discard_events(self):  # nothing is built yet to react to it
                self.param.update(window=DEFAULT_WINDOW, start=None, end=None)
            self._url_error = f"Ignored the window asked for: {problem}"
        #: The last window that validated: a bad one set from code or a widget reverts to it.
        self._good: tuple[str, datetime | None, datetime | None] = (
            self.window,
            self.start,
            self.end,
        )
        self.feed = feed if feed is not None else get_feed(self.settings)
        self.store = self.feed.store
        if summary is None and autostart:
            summary = get_summary(self.feed)
            get_convergence(summary)
        self.summary = summary
        self._doc = pn.state.curdoc
        self._on_server = self._doc is not None and self._doc.session_context is not None
        self._dirty = False
        self._sub: Subscription = self.feed.subscribe()
        self._generation = 0
        self._pending: Loaded | None = None
        self._span: tuple[datetime | None, datetime | None] = (None, None)
        self._ledgers: dict[str, Ledger] = {}
        self._last_row: dict[str, Row] = {}
        self._range_set: tuple[float, float] | None = None
        self._problems: dict[str, str] = {}
        self._notes: list[str] = []
        self._updating_picker = False
        self._width = DEFAULT_WIDTH
        self._extent: tuple[datetime | None, datetime | None] = (None, None)
        self._zoomed = False
        self._attached = True
        self._reduced = False
        self._streamed = 0
        self._drawn_width = DEFAULT_WIDTH
        self._debounce: asyncio.TimerHandle | None = None
        self._problems_of: dict[Variable, str] | None = None
        self._wake_pending = False
        #: Notes on spans of the past that changed in the database, until when to show them.
        self._changed: list[tuple[float, str]] = []

        self.x_range = Range1d(start=0, end=1, name="time-range")
        self.sources: dict[str, ColumnDataSource] = {
            v.key: plots.new_source(v) for v in self.all_variables
        }
        self.ref_sources: dict[str, ColumnDataSource] = {
            v.key: plots.new_reference(v) for v in self.all_variables
        }
        self.holds: dict[str, ColumnDataSource] = {
            v.key: plots.new_hold(v) for v in self.all_variables
        }
        self._carry: dict[str, Row | None] = {}
        tz = self.settings.timezone
        self._panes = {
            v.key: pn.pane.Bokeh(
                plots.trend_figure(
                    v,
                    self.sources[v.key],
                    self.holds[v.key],
                    self.x_range,
                    time_label=f"Time ({tz})",
                    reference=self.ref_sources[v.key],
                ),
                sizing_mode="stretch_width",
            )
            for v in self.all_variables
        }
        #: A vertical line across all trends at the pointer, and each value held at that time.
        self._readout = pn.pane.Bokeh(
            plots.cursor(
                {key: pane.object for key, pane in self._panes.items()},
                self.sources,
                self.holds,
                list(self.all_variables),
                self.settings.gap / timedelta(milliseconds=1),
            ),
            sizing_mode="stretch_width",
        )
        #: The window's statistics beside each trend (over every row; see stats.py).
        self._stats: dict[str, Stats] = {}
        self._stats_task: asyncio.Task | None = None
        self._stats_due: float | None = None
        self._stats_changed = False
        self._ref_stats: dict[str, Stats] = {}
        self._stat_panes = {
            v.key: pn.pane.HTML(
                statsview.block_html(v, None),
                width=STATS_WIDTH,
                name=f"stats-{v.key}",
                stylesheets=[statsview.CSS],
            )
            for v in self.all_variables
        }
        self._rows = {
            v.key: pn.Row(
                self._panes[v.key],
                self._stat_panes[v.key],
                sizing_mode="stretch_width",
                visible=v.key in self.variables,
            )
            for v in self.all_variables
        }
        self.x_range.on_change("start", self._range_moved)
        self.x_range.on_change("end", self._range_moved)
        for pane in self._panes.values():
            pane.object.on_change("inner_width", self._resized)
        self._cards = pn.pane.HTML(
            "", sizing_mode="stretch_width", name="latest-values", stylesheets=[header.CSS]
        )
        self._status = pn.pane.HTML(
            "", sizing_mode="stretch_width", name="status", stylesheets=[header.CSS]
        )
        self._picker = pn.widgets.DatetimeRangePicker(
            label="Custom range", enable_seconds=True, width=340
        )
        self._picker.param.watch(self._picked, "value")
        # Served by `trending-panel serve`: the button streams the HTTP export route. In a
        # notebook (no route), FileDownload sends the file over the comm.
        self._export_url = export_url
        self.download: pn.viewable.Viewable
        if export_url is not None:
            self.download = CsvButton(url=self._csv_url(), name="download-csv")
        else:
            self.download = pn.widgets.FileDownload(
                callback=self.csv_file,
                filename="trending.csv",
                label="Download CSV",
                color="primary",
            )
        self._periodic: pn.io.PeriodicCallback | Ticker | None = None
        self._load_task: asyncio.Task | None = None
        self._retry_at: float | None = None
        self._retry_delay = 1.0
        if autostart:
            self._periodic = self._start_ticking()
            if self._on_server:
                pn.state.on_session_destroyed(self._destroyed)
                self._sub.wake = self._wake
            self._schedule_load()

    def _start_ticking(self) -> pn.io.PeriodicCallback | Ticker:
        """The session's tick every :data:`TICK_MS`. Served, Bokeh's periodic callback (it
        skips a beat when a tick overruns). In a notebook, a task of our own on the kernel's
        loop that sleeps after every tick, however long it took: Panel's loop-based periodic
        callback yields only when a tick finishes within its period (panel#8751), so one
        slow tick would starve the loads and the feed."""
        if not self._on_server:
            try:
                return Ticker(self.tick, TICK_MS / 1000)
            except RuntimeError:
                pass  # no running loop: Panel's own will do
        return pn.state.add_periodic_callback(self.tick, period=TICK_MS)

    # -- parameters → work ------------------------------------------------------------------

    @property
    def time_window(self) -> TimeWindow:
        """The window shown: the parameters' window, or while they make none (a custom range
        half entered, a bad value being reverted) the last one that did."""
        try:
            return _window_of(self.window, self.start, self.end)
        except ValueError:
            return _window_of(*self._good)

    def _window_problem(self) -> str:
        """Why the window parameters make no window (empty when they do)."""
        try:
            _window_of(self.window, self.start, self.end)
            if self.window == "custom":
                within_range(self.start)  # the URL's rules
                within_range(self.end)
        except (ValueError, TypeError) as exc:
            return str(exc)
        return ""

    @property
    def selected(self) -> list[Variable]:
        return [v for v in self.all_variables if v.key in self.variables]

    @param.depends("window", "start", "end", "variables", watch=True)
    def _window_changed(self) -> None:
        if self.window == "custom" and (self.start is None or self.end is None):
            return  # wait until both ends are known
        if problem := self._window_problem():
            # Back to the last good window (the page keeps what it shows), and say why.
            window, start, end = self._good
            self.param.update(window=window, start=start, end=end)
            self._url_error = f"Ignored that window: {problem}"  # shown until the next change
            return
        self._good = (self.window, self.start, self.end)
        for key, row in self._rows.items():
            row.visible = key in self.variables
        self._url_error = ""
        self._sync_url()
        if isinstance(self.download, CsvButton):
            self.download.url = self._csv_url()
        self._schedule_load()

    @param.depends("ref", watch=True)
    def _ref_changed(self) -> None:
        if self.ref is not None:
            try:
                within_range(self.ref)  # the URL's rules
            except (ValueError, TypeError) as exc:
                self.ref = None  # (which clears the note: set it after)
                self._ref_note = f"Ignored that reference: {exc}"
                return
        self._ref_note = ""
        self._sync_url()
        self._schedule_load()

    @param.depends("live", watch=True)
    def _live_changed(self) -> None:
        # Rows that arrived while paused were not drawn: reload rather than leave a hole.
        if self.live:
            self._schedule_load()

    def _picked(self, event: param.parameterized.Event) -> None:
        if self._updating_picker or not event.new:
            return
        start, end = event.new
        if end <= start:
            self.message = "The custom range must end after it starts."
            return
        self.param.update(window="custom", start=start, end=end)
        if self.message.startswith("The custom range"):
            self.message = ""

    def _schedule_load(self, zoom: tuple[datetime, datetime] | None = None) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (plain script): the caller awaits load() itself
        # One load per session at a time: a newer request cancels the one in flight (and its
        # query in the database), so fast zooming cannot pile reads up.
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
        self._load_task = loop.create_task(self.load(zoom))

    # -- zoom, pan and resize: read the visible range at the resolution it needs ------------

    def _reload_view(self) -> None:
        """Read again what is shown: the zoomed range if the user moved it, else the window."""
        self._schedule_load(zoom=self.wanted_view())

    def _range_moved(self, attr: str, old: object, new: object) -> None:
        self._debounced()

    def _resized(self, attr: str, old: object, new: object) -> None:
        if isinstance(new, int) and new > 0:
            self._width = new
            self._debounced()

    def _debounced(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._debounce is not None:
            self._debounce.cancel()
        self._debounce = loop.call_later(DEBOUNCE_S, self._view_settled)

    def _view_settled(self) -> None:
        """The range or width stopped changing: read again what is now visible, if needed."""
        self._debounce = None
        if self.loading:
            self._debounced()  # look again once the load in flight is applied
            return
        if self._range_set is None:
            return
        wanted = self.wanted_view()
        if wanted is None:  # the window itself (reset, or the range we set)
            if self._zoomed or self._needs_width():
                self._schedule_load()
            return
        if wanted != self._extent or self._needs_width():
            self._schedule_load(zoom=wanted)

    def wanted_view(self) -> tuple[datetime, datetime] | None:
        """The zoomed/panned range the user looks at, or None when it is the window's."""
        if not self._user_moved_range():
            return None
        start, end = self.x_range.start, self.x_range.end
        if not (isinstance(start, int | float) and isinstance(end, int | float)) or end <= start:
            return None
        return from_ms(start), from_ms(end)

    def _needs_width(self) -> bool:
        """True when the traces were made for another width and it matters (they are
        reduced, or their rows no longer fit the new width's budget)."""
        if self._width == self._drawn_width:
            return False
        budget = resolution.raw_budget(self._width)
        return self._reduced or any(len(s.data["time"]) > 2 * budget for s in self.sources.values())

    async def settled(self) -> None:
        """Wait for the window load that a parameter change scheduled (if any)."""
        while self._load_task is not None and not self._load_task.done():
            await asyncio.wait([self._load_task])

    async def load(self, zoom: tuple[datetime, datetime] | None = None) -> Loaded | None:
        """Read the current window (or the ``zoom`` range within it) at the plots' width and
        park it for the next tick. A load has a deadline (the settings' ``query_timeout``,
        its wait for a free slot included): a database that hangs is reported, not awaited."""
        self._generation += 1
        generation = self._generation
        self.loading = True
        deadline = self.settings.query_timeout.total_seconds()
        try:
            async with asyncio.timeout(deadline), LOADS.wait(self.settings.max_loads, deadline):
                loaded = await self._read(zoom, generation)
        except Exception as exc:
            if isinstance(exc, TimeoutError):
                why = f"the database did not answer within {deadline:g} s"
            else:
                why = error_line(exc)
            if generation == self._generation:
                self.param.update(loading=False, message=f"Could not load data: {why}")
                if not isinstance(exc, TooManyRows):  # that one is no better next time
                    # Try again once the database answers (backing off while it does not).
                    self._retry_delay = min(self._retry_delay * 2, 30.0)
                    self._retry_at = time.monotonic() + self._retry_delay
            log.warning("window load failed: %s", why)
            return None
        self._retry_delay, self._retry_at = 1.0, None
        if generation == self._generation:  # a newer request supersedes this one
            self._pending = loaded
            if self._on_server and self._doc is not None:
                # Apply now rather than at the next periodic tick (zooming feels it).
                self._doc.add_next_tick_callback(self.tick)
        return loaded

    async def _read(self, zoom: tuple[datetime, datetime] | None, generation: int) -> Loaded:
        window = self.time_window
        if zoom is None or self._problems_of is None:
            problems = await self.store.problems(self.all_variables)
            self._problems_of = problems
            newest = await self.store.newest_time(
                [v for v in self.all_variables if v not in problems]
            )
        else:  # zooming: what the last load found, and the feed's newest row, will do
            problems = self._problems_of
            newest = max((r[0] for r in self.feed.latest.values()), default=None)
        existing = [v for v in self.all_variables if v not in problems]
        selected = [v for v in self.selected if v in existing]
        if zoom is None:
            start, end = window.resolve(newest if window.is_relative else None)
            first, last = start, end
        else:
            start, end = self._span
            first, last = zoom
        width = self._width
        attached = zoom is None or newest is None or last >= newest
        reference, ref_shift = None, timedelta(0)
        drawn, first, last = await resolution.read(
            self.store,
            self.summary,
            selected,
            first,
            last,
            width,
            self.settings,
            # Only a trace that streamed rows continue needs the rows they may repeat.
            tail=self.settings.lookback if attached else timedelta(0),
        )
        if self.ref is not None and zoom is None and first is not None and last is not None:
            # The reference period of the window's length, drawn at the same resolution.
            ref_shift = first - self.ref
            reference, _, _ = await resolution.read(
                self.store, self.summary, selected, self.ref, self.ref + (last - first),
                width, self.settings,
            )  # fmt: skip
        return Loaded(
            generation,
            start,
            end,
            drawn,
            {v.table: why for v, why in problems.items()},
            extent=(first, last),
            zoomed=zoom is not None,
            attached=attached,
            width=width,
            reference=reference,
            ref_shift=ref_shift,
        )

    # -- the session's periodic callback (under the document lock) ---------------------------

    def tick(self) -> None:
        """Apply a parked load, stream new rows, refresh header and status."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            # A newer request (a click that arrived meanwhile) supersedes a parked load.
            if pending.generation == self._generation:
                self._apply(pending)
        self._converge()
        if not self.loading:
            batch = self._sub.drain()
            if batch and self.live:
                self._stream(batch)
            if (
                self._retry_at is not None
                and time.monotonic() >= self._retry_at
                and self.feed.status == "live"
            ):
                self._retry_at = None
                self._schedule_load()
        if self._stats_changed:
            self._show_stats()
        if (
            self._stats_due is not None
            and time.monotonic() >= self._stats_due
            and self.time_window.is_relative
            and self.live
        ):
            self._schedule_stats()
        self._refresh_holds()
        self._refresh_header()
        if self._dirty and not self._on_server:
            # In a notebook, Bokeh models changed directly reach the page only when pushed
            # over the comm (on a server the session does this by itself).
            pn.io.push_notebook(*self._panes.values(), *self._stat_panes.values())
        self._dirty = False

    def _converge(self) -> None:
        """Rows behind the live edge changed in the database: read again what shows them."""
        start = self._extent[0]
        end = self._span[1] if self._span[1] is not None else self._extent[1]
        stale = False
        for change in self._sub.drain_changes():
            if change.key not in self.variables:
                continue
            if (start is not None and change.end < start) or (
                end is not None and change.start > end
            ):
                continue
            var = self.settings.by_key[change.key]
            self._changed.append(
                (
                    time.monotonic() + CHANGE_NOTE_S,
                    f"{var.label}: rows between {format_time(change.start)} and "
                    f"{format_time(change.end)} changed in the database (late, corrected or "
                    "deleted); redrawn",
                )
            )
            stale = True
        if stale:
            self._reload_view()
        now = time.monotonic()
        self._changed = [(until, text) for until, text in self._changed if until > now]

    def _refresh_holds(self) -> None:
        _, end = self._span
        newest = max((r[0] for r in self.feed.latest.values()), default=None)
        until = (
            end if self.time_window.is_relative else min(filter(None, (end, newest)), default=None)
        )
        for key, source in self.holds.items():
            data = traces.hold(self._last_row.get(key), until, self.settings.gap)
            if data["time"] != list(source.data["time"]):
                source.data = data
                self._dirty = True

    def _apply(self, loaded: Loaded) -> None:
        self._dirty = True
        self._problems = loaded.problems
        self._notes = loaded.notes(self.all_variables)
        if not loaded.zoomed:
            self._span = (loaded.start, loaded.end)
        self._extent = loaded.extent
        self._zoomed = loaded.zoomed
        self._attached = loaded.attached
        self._drawn_width = loaded.width
        self._reduced = any(d.reduced for d in loaded.drawn.values())
        self._streamed = 0
        lookback = self.settings.lookback
        nothing = Drawn(traces.empty(), 0, False, "database", None, None)
        for var in self.all_variables:
            drawn = loaded.drawn.get(var.key, nothing)
            self._carry[var.key] = drawn.before
            self.sources[var.key].data = drawn.columns
            ledger = Ledger(lookback)
            # Only the look-back tail matters for de-duplication.
            if drawn.tail:
                ledger.newest = drawn.tail[-1][0]
                ledger.prime(drawn.tail)
            else:
                ledger.newest = loaded.extent[1]  # nothing loaded: every row the feed brings is new
            if drawn.last is None:
                self._last_row.pop(var.key, None)
            else:
                self._last_row[var.key] = drawn.last
            self._ledgers[var.key] = ledger
        if not loaded.zoomed:
            self._show_reference(loaded)
            self._set_range(*self._visible_span(loaded))
            self._sync_picker()
            self._schedule_stats()
        self.param.update(loading=False, message="")

    def _show_reference(self, loaded: Loaded) -> None:
        """The golden batch's traces, shifted onto the window, and their real time in a label."""
        shift = np.timedelta64(loaded.ref_shift // timedelta(microseconds=1), "us")
        label = ""
        if loaded.reference is not None and self.ref is not None:
            length = (loaded.extent[1] or self.ref) - (loaded.extent[0] or self.ref)
            label = f"- - reference {format_time(self.ref)} – {format_time(self.ref + length)}"
        for var in self.all_variables:
            drawn = (loaded.reference or {}).get(var.key)
            if drawn is None:
                self.ref_sources[var.key].data = traces.empty()
            else:
                columns = dict(drawn.columns)
                columns["time"] = np.asarray(columns["time"], dtype="datetime64[us]") + shift
                self.ref_sources[var.key].data = columns
            fig = self._panes[var.key].object
            for model in fig.select(name=f"ref-label-{var.key}"):
                model.text = label if drawn is not None else ""

    def _visible_span(self, loaded: Loaded) -> tuple[datetime, datetime]:
        first, last = loaded.extent
        if first is None or last is None:
            now = self.settings.now()
            return now - timedelta(hours=1), now
        if first == last:  # a single sample: give the axis some width
            return first - timedelta(minutes=1), last + timedelta(minutes=1)
        return first, last

    def _stream(self, batch: dict[str, list[Row]]) -> None:
        if not self._attached:
            return  # a zoomed range in the past: the rows are read when it reaches the edge
        start, end = self._span
        window = self.time_window
        newest: datetime | None = None
        for key, rows in batch.items():
            if key not in self._ledgers or key not in self.variables:
                continue
            rows = self._ledgers[key].admit(rows)
            if window.is_relative:
                rows = [r for r in rows if start is None or r[0] >= start]
            else:
                rows = [r for r in rows if start <= r[0] <= end]  # type: ignore[operator]
            if not rows:
                continue
            rows.sort(key=lambda r: r[0])
            newest = max(newest, rows[-1][0]) if newest else rows[-1][0]
            self._append(key, rows)
            self._streamed += len(rows)
        if newest is not None and window.is_relative:
            self._follow(newest)
        if self._reduced and self._streamed > self._drawn_width:
            # Raw rows streamed onto reduced traces: reduce again before they exceed the budget.
            self._streamed = 0
            self._reload_view()

    def _append(self, key: str, rows: list[Row]) -> None:
        self._dirty = True
        source = self.sources[key]
        last = self._last_row.get(key)
        new = Series.from_rows(rows)
        times, values = new.times, new.values
        if last is not None and rows[0][0] < last[0] and self._reduced:
            # A late row inside reduced traces: reduce again (the summary has it by then).
            self._reload_view()
            return
        if last is not None and rows[0][0] < last[0]:
            # A late row older than what is drawn: rebuild this trace in time order.
            data = source.data
            mask = np.asarray(data["sample"]) == 1
            old_t = np.asarray(data["time"], dtype="datetime64[us]")[mask]
            old_v = np.asarray(data["value"], dtype="float64")[mask]
            all_t = np.concatenate([old_t, times])
            all_v = np.concatenate([old_v, values])
            order = np.argsort(all_t, kind="stable")
            source.data = traces.with_lead(
                self._carry.get(key), all_t[order], all_v[order], self.settings.gap
            )
            self._last_row[key] = (all_t[order][-1].item(), float(all_v[order][-1]))
            return
        cols = traces.step_vertices(times, values, self.settings.gap, prev=last)
        rollover = len(source.data["time"]) + ROLLOVER_HEADROOM
        source.stream(cols, rollover=rollover)
        self._last_row[key] = rows[-1]

    def _follow(self, newest: datetime) -> None:
        start, end = self._span
        if end is not None and newest <= end:
            return
        length = PRESETS.get(self.window)
        new_start = start if length is None else newest - length
        self._span = (new_start, newest)
        if self._user_moved_range():
            return  # the user zoomed or panned: leave the view where they put it
        if new_start is not None:
            self._set_range(new_start, newest)
        # The picker is not moved along: it may be open in the user's hands.

    def _set_range(self, start: datetime, end: datetime) -> None:
        self._dirty = True
        s, e = to_ms(start), to_ms(end)
        self.x_range.update(start=s, end=e, reset_start=s, reset_end=e)
        self._range_set = (s, e)

    def _user_moved_range(self) -> bool:
        if self._range_set is None:
            return False
        return (self.x_range.start, self.x_range.end) != self._range_set

    # -- statistics of the window -------------------------------------------------------------

    def _schedule_stats(self) -> None:
        """Compute the window's statistics in the background (a running one is replaced)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._stats_task is not None and not self._stats_task.done():
            self._stats_task.cancel()
        self._stats_due = None
        self._stats_task = loop.create_task(self._compute_stats())

    async def _compute_stats(self) -> None:
        start = self._span[0] if self._span[0] is not None else self._extent[0]
        end = self._span[1] if self._span[1] is not None else self._extent[1]
        variables = [v for v in self.selected if v.table not in self._problems]
        # A pass over every row of the window: an export's limit, not a load's.
        deadline = self.settings.export_timeout.total_seconds()
        if start is None or end is None or end <= start:
            self._stats = {}
        else:
            try:
                async with asyncio.timeout(deadline), LOADS.wait(self.settings.max_loads, deadline):
                    found = await window_stats(self.store, variables, start, end, self.settings.gap)
                    ref: list[Stats] = []
                    if self.ref is not None:  # the golden batch's numbers beside
                        ref = await window_stats(
                            self.store, variables, self.ref, self.ref + (end - start),
                            self.settings.gap,
                        )  # fmt: skip
                self._stats = {s.variable: s for s in found}
                self._ref_stats = {s.variable: s for s in ref}
            except Exception as exc:
                log.warning("window statistics failed: %s", error_line(exc))
        # A long window's statistics change slowly: again after a thousandth of its length
        # (a day's every 86 s, a month's every 43 min), a live hour's every 15 s.
        span = (end - start).total_seconds() if start is not None and end is not None else 0
        self._stats_due = time.monotonic() + max(STATS_REFRESH_S, span / 1000)
        self._stats_changed = True  # shown by the next tick, under the document lock
        if self._on_server and self._doc is not None:
            self._doc.add_next_tick_callback(self.tick)

    def _show_stats(self) -> None:
        self._stats_changed = False
        for var in self.all_variables:
            text = statsview.block_html(
                var, self._stats.get(var.key), reference=self._ref_stats.get(var.key)
            )
            pane = self._stat_panes[var.key]
            if pane.object != text:
                pane.object = text
                self._dirty = True

    # -- header ------------------------------------------------------------------------------

    def _refresh_header(self) -> None:
        # Cheap to build; only a change is sent to the browser (ages tick once a second).
        now = self.settings.now()
        for pane, text in (
            (self._cards, self._cards_html(now)),
            (self._status, self._status_html(now)),
        ):
            if pane.object != text:
                pane.object = text

    def _cards_html(self, now: datetime) -> str:
        return header.cards_html(self.selected, self.feed.latest, now, self.settings.gap)

    def _status_html(self, now: datetime) -> str:
        notes = [("tp-msg", f"{table}: {why}") for table, why in self._problems.items()]
        notes += [("tp-note", note) for note in self._notes]
        notes += [("tp-changed", note) for _, note in self._changed]
        if self.loading:
            notes.append(("", "loading…"))
        notes += [("tp-msg", p) for p in (self._url_error, self._ref_note, self.message) if p]
        return header.status_html(self.feed, self.settings.by_key, now, notes)

    # -- URL, picker, CSV ---------------------------------------------------------------------

    def _from_url(self) -> tuple[dict, str]:
        """The window the page's URL asks for, or none and why (shown; the default is used)."""
        args = getattr(pn.state, "session_args", None) or {}
        out: dict = {}
        try:
            ref = query_text(args, ("ref",)).get("ref")
            if ref:
                out["ref"] = parse_time(ref, self.settings.tzinfo)
        except ValueError as exc:
            return {}, f"Ignored the URL's reference: {exc}"
        try:
            query = query_text(args, ("window", "start", "end"))
            if not query:
                return out, ""
            window = TimeWindow.from_query(query, self.settings.tzinfo)
        except ValueError as exc:
            return out, f"Ignored the URL's window: {exc}"
        if window.is_relative:
            return {**out, "window": window.preset}, ""
        return {**out, "window": "custom", "start": window.start, "end": window.end}, ""

    def _sync_url(self) -> None:
        location = pn.state.location
        if location is None:
            return
        try:
            query = self.time_window.to_query()
        except ValueError:
            return
        if self.ref is not None:
            query["ref"] = format_time(self.ref)
        location.search = "?" + urlencode(query)

    def _sync_picker(self) -> None:
        start, end = self._span
        if start is None or end is None:
            return
        self._updating_picker = True
        try:
            self._picker.value = (start, end)
        finally:
            self._updating_picker = False

    def _csv_url(self) -> str:
        """The export route's URL for the window and variables shown."""
        try:
            query = self.time_window.to_query()
        except ValueError:
            query = {}
        query["variables"] = ",".join(self.variables)
        return f"{self._export_url}?{urlencode(query)}"

    async def csv_file(self) -> io.BytesIO | None:
        """FileDownload callback: the raw rows of the window shown, read off the event loop;
        one at a time per session, bounded in time and size (the file is held in memory)."""
        settings = self.settings
        deadline = settings.query_timeout.total_seconds()
        try:
            async with EXPORTS.now(settings.max_exports, f"session:{id(self)}"):
                window = self.time_window
                newest = None
                if window.is_relative:
                    async with asyncio.timeout(deadline):
                        newest = await self.store.newest_time(self.selected)
                    if self._span[1] is not None:
                        newest = max(newest, self._span[1]) if newest else self._span[1]
                start, end = window.resolve(newest)
                self.download.filename = f"trending_{window.slug(newest)}.csv"
                return await export.csv_bytes(
                    self.store,
                    self.selected,
                    start,
                    end,
                    stall=deadline,
                    max_bytes=settings.max_rows * 64,
                )
        except Exception as exc:
            timed_out = isinstance(exc, TimeoutError)
            why = f"no answer within {deadline:g} s" if timed_out else error_line(exc)
            self.message = f"CSV not made: {why}"
            return None

    # -- the data behind the view, for a notebook -------------------------------------------

    def resolved_window(self) -> tuple[datetime, datetime]:
        """The window's ends now (a relative window against the newest sample)."""
        variables = self.selected or list(self.all_variables)
        deadline = self.settings.query_timeout.total_seconds()
        ends = self.store.wait(self.store.window_ends(self.time_window, variables), deadline)
        if ends is None:
            now = self.settings.now()
            return now - timedelta(hours=1), now
        return ends

    def dataframe(self) -> pd.DataFrame:
        """The window's raw rows of the shown variables, tidy: ``time``, ``variable`` (its
        key), ``value`` (NaN for NULL and NaN), in time order per variable. Every row the
        database holds, not the plotted points (at most ``TRENDING_MAX_ROWS`` per variable)."""
        start, end = self.resolved_window()
        deadline = self.settings.query_timeout.total_seconds()
        return self.store.wait(frames.rows(self.store, self.selected, start, end), deadline)

    def stats(self) -> pd.DataFrame:
        """The window's statistics per shown variable (columns as ``trending-panel stats``)."""
        start, end = self.resolved_window()
        deadline = self.settings.query_timeout.total_seconds()
        return self.store.wait(
            frames.stats(self.store, self.selected, start, end, self.settings.gap), deadline
        )

    def _wake(self) -> None:
        """New rows in the queue: stream them on the next turn of the loop (under the lock)."""
        if self._doc is not None and not self._wake_pending:
            self._wake_pending = True
            self._doc.add_next_tick_callback(self._woken)

    def _woken(self) -> None:
        self._wake_pending = False
        self.tick()

    def _destroyed(self, _context: object) -> None:
        self._sub.wake = None
        self.feed.unsubscribe(self._sub)
        if self._periodic is not None:
            self._periodic.stop()

    # -- layout -------------------------------------------------------------------------------

    def __panel__(self) -> pn.viewable.Viewable:
        window = pn.widgets.RadioButtonGroup.from_param(
            self.param.window, label="", color="light", variant="outline"
        )
        variables = pn.widgets.CheckButtonGroup.from_param(
            self.param.variables, label="", color="light", variant="outline"
        )
        live = pn.widgets.Toggle.from_param(self.param.live, label="Live", color="success")
        reference = pn.widgets.DatetimePicker.from_param(
            self.param.ref, name="Reference start (golden batch)", enable_seconds=True, width=230
        )
        controls = pn.FlexBox(
            window, self._picker, variables, live, reference, self.download, align_items="center"
        )
        return pn.Column(
            pn.pane.HTML(
                '<h2 class="tp-title">Bioreactor process trends</h2>', stylesheets=[header.CSS]
            ),
            self._status,
            self._cards,
            controls,
            self._readout,
            *self._rows.values(),
            sizing_mode="stretch_width",
        )


def _window_of(window: str, start: datetime | None, end: datetime | None) -> TimeWindow:
    if window == "custom":
        return TimeWindow(preset=None, start=start, end=end)
    return TimeWindow(preset=window)


__all__ = ["Dashboard"]

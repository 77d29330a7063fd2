"""A viewer's session: what they asked to see (parameters), and the work that shows it.

Data flow inside a session: the window parameters change → :meth:`Session.load` reads the
window from the store (async, off the document lock) and parks the result → the session's
periodic callback (:meth:`Session.tick`, which runs under the document lock) applies parked
results to the Bokeh sources, drains the feed's queue into them, and lets the views refresh.
All model mutations therefore happen in one place. The views (:mod:`.views`) read this state;
nothing here knows how it is drawn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial

import panel as pn
import param

from trending_panel.core.errors import TooManyRows, error_line
from trending_panel.core.rows import Row
from trending_panel.core.settings import Settings
from trending_panel.core.timewindow import (
    DEFAULT_WINDOW,
    PRESETS,
    TimeWindow,
    format_time,
    preset_label,
    window_of,
    window_problem,
    within_range,
)
from trending_panel.core.variables import VARIABLES, Variable
from trending_panel.live.feed import LiveFeed, Subscription
from trending_panel.live.hub import hub, hub_for
from trending_panel.live.summary import Summary
from trending_panel.read.window_load import DEFAULT_WIDTH, Loaded, Request, WindowReader
from trending_panel.web import url
from trending_panel.web.live_stats import StatsFollower
from trending_panel.web.notebook import NotebookData
from trending_panel.web.notes import Note, Notes
from trending_panel.web.page_pens import page_for
from trending_panel.web.read_again import ReadAgain
from trending_panel.web.sources import TraceSources
from trending_panel.web.ticker import Clock
from trending_panel.web.viewport import Viewport

log = logging.getLogger(__name__)


class Session(NotebookData, param.Parameterized):
    """The state of one view of the bioreactor's process variables."""

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
    live_end = param.Boolean(
        default=False, doc="A custom window's end follows the newest sample (a running batch)."
    )
    live = param.Boolean(default=True, doc="Stream new rows into the plots as they arrive.")
    ref = param.Date(
        default=None, allow_None=True, doc="Start of the golden batch's period (None: no overlay)."
    )
    message = param.String(default="", doc="Problem to show the user (bad URL, load failure).")
    loading = param.Boolean(default=False, doc="A window load is in flight.")

    # -- what the views show (set here, under the document lock) ---------------------------
    loaded_span = param.Tuple(
        default=(None, None),
        length=2,
        doc="The window's resolved ends as last loaded (a live window moves on from there).",
    )
    current_stats = param.Dict(default={}, doc="The window's statistics per variable key.")
    reference_stats = param.Dict(
        default={}, doc="The reference period's statistics per variable key."
    )
    ref_labels = param.Dict(
        default={}, doc="Per variable key, the reference overlay's real time ('' for none)."
    )
    csv_url = param.String(default="", doc="The export route's URL for the window shown.")
    csv_filename = param.String(default="trending.csv", doc="Name of the last CSV made here.")

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        feed: LiveFeed | None = None,
        summary: Summary | None = None,
        export_url: str | None = None,
        autostart: bool = True,
        pens: list[list[str]] | None = None,
        display: str | None = None,
        **params: object,
    ) -> None:
        self.settings = settings if settings is not None else Settings.from_env()
        #: What this process shares with the other sessions (see :mod:`...live.hub`).
        self.hub = hub_for(feed) if feed is not None else hub(self.settings)
        url_params, url_error = url.window_asked(self.settings.tzinfo, self.hub.batches)
        #: The page's pens: the URL's, a display's or the notebook's, else the default.
        page, page_problem = page_for(self.hub.tags, pens, display)
        self.plan = page
        self.all_variables = page.variables
        self.trends = page.trends
        self.by_key = {v.key: v for v in page.variables}
        shown = params.pop("variables", None)
        super().__init__(**{**url_params, **params})
        with param.discard_events(self):  # the page's pens, before anything watches
            self.param.variables.objects = {v.title: v.key for v in self.all_variables}
            self.variables = list(shown) if shown is not None else list(self.by_key)
        #: ``?compare=``: the batches the page compares instead of a window (comparison.py).
        self.compare_ids, self.align, asked = url.compare_asked()
        self._url_error = "; ".join(filter(None, (url_error, page_problem, asked)))
        self._ref_note = ""  #: why a reference start was refused
        if problem := window_problem(self.window, self.start, self.end):
            with param.discard_events(self):  # nothing is built yet to react to it
                self.param.update(window=DEFAULT_WINDOW, start=None, end=None, live_end=False)
            self._url_error = f"Ignored the window asked for: {problem}"
        #: The last window that validated: a bad one set from code or a widget reverts to it.
        self._good: tuple[str, datetime | None, datetime | None, bool] = (
            self.window, self.start, self.end, self.live_end,
        )  # fmt: skip
        self.feed = self.hub.feed
        self.store = self.feed.store
        if summary is None and autostart:
            summary = self.hub.summary()
            self.hub.convergence()
        self.summary = summary
        # Polled and summarised while this page shows them (see :meth:`let_go`).
        self.feed.watch(self, self.all_variables)
        if summary is not None:
            summary.want(self, self.all_variables)
        self._doc = pn.state.curdoc
        self._on_server = self._doc is not None and self._doc.session_context is not None
        self._sub: Subscription = self.feed.subscribe()
        self._reader = WindowReader(self.feed, summary, self.settings, self.all_variables)
        self.traces = TraceSources(self.settings, self.all_variables)
        self.sources = self.traces.sources
        self.ref_sources = self.traces.ref_sources
        self.holds = self.traces.holds
        self.x_range = self.traces.x_range
        self._generation = 0
        #: A window was ever shown (a database lost afterwards does not hide the plots).
        self.loaded_once = False
        self._span: tuple[datetime | None, datetime | None] = (None, None)
        self._pending: Loaded | None = None
        self.notes = Notes()
        self._width = DEFAULT_WIDTH
        self._extent: tuple[datetime | None, datetime | None] = (None, None)
        self._zoomed = False
        self._attached = True
        self._drawn_width = DEFAULT_WIDTH
        #: The views' refreshers, called by every tick; True when they changed a model.
        self._tick_hooks: list[Callable[[], bool]] = []
        self._closers: list[Callable[[], None]] = []
        #: What a notebook must push over the comm when Bokeh models changed.
        self._notebook_panes: list[pn.viewable.Viewable] = []
        self.viewport = Viewport(self)
        self.stats_follower = StatsFollower(self)
        #: The CSV route beside the app (served), or None (a notebook: the file goes by comm).
        self.export_url = export_url
        self.csv_url = url.csv_url(self)
        self.x_range.on_change("start", self.viewport.range_moved)
        self.x_range.on_change("end", self.viewport.range_moved)
        self._load_task: asyncio.Task | None = None
        self.read_again = ReadAgain(self.feed)
        #: When the session ticks (see :mod:`.ticker`).
        self.clock = Clock(self, self._doc, self._on_server)
        if autostart:
            self.clock.start()
            if not self.compare_ids:
                self._schedule_load()

    # -- for the views -------------------------------------------------------------------------

    def shown_span(self) -> tuple[datetime | None, datetime | None]:
        """The window shown, resolved (for "all data": the span its rows cover)."""
        return self._span if None not in self._span else self._extent

    def on_tick(self, refresh: Callable[[], bool]) -> None:
        """Call ``refresh`` on every tick, under the document lock (it returns whether it
        changed a Bokeh model that a notebook must be sent)."""
        self._tick_hooks.append(refresh)

    def push_in_notebook(self, *panes: pn.viewable.Viewable) -> None:
        """Panes whose Bokeh models change directly: a notebook is sent them after a tick."""
        self._notebook_panes.extend(panes)

    def resized(self, width: object) -> None:
        """The browser reports a trend's drawing width (px)."""
        self.viewport.resized(width)

    def pick_range(
        self, start: datetime | None, end: datetime | None, *, live_end: bool = False
    ) -> None:
        """An absolute window from the range inputs (both ends needed); ``live_end``: its end
        follows the newest sample (a running batch's)."""
        if start is None or end is None:
            return
        if end <= start:
            self.message = "The custom range must end after it starts."
            return
        self.param.update(window="custom", start=start, end=end, live_end=live_end)
        if self.message.startswith("The custom range"):
            self.message = ""

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when the page closes (what it holds in the process goes)."""
        self._closers.append(callback)

    def let_go(self) -> None:
        """The page is closed: its tags are no longer polled or summarised for it."""
        for close in self._closers:
            close()
        self.feed.unsubscribe(self._sub)
        self.feed.unwatch(self)
        if self.summary is not None:
            self.summary.release(self)

    def status_notes(self) -> list[Note]:
        """What the status line must say besides the connection."""
        return self.notes.of(self)

    # -- parameters → work ------------------------------------------------------------------

    @property
    def time_window(self) -> TimeWindow:
        """The window shown: the parameters' window, or while they make none (a custom range
        half entered, a bad value being reverted) the last one that did."""
        try:
            return window_of(self.window, self.start, self.end, self.live_end)
        except ValueError:
            return window_of(*self._good)

    @property
    def selected(self) -> list[Variable]:
        return [v for v in self.all_variables if v.key in self.variables]

    @param.depends("window", "start", "end", "live_end", "variables", watch=True)
    def _window_changed(self) -> None:
        if self.window == "custom" and (self.start is None or self.end is None):
            return  # wait until both ends are known
        if problem := window_problem(self.window, self.start, self.end):
            # Back to the last good window (the page keeps what it shows), and say why.
            window, start, end, live_end = self._good
            self.param.update(window=window, start=start, end=end, live_end=live_end)
            self._url_error = f"Ignored that window: {problem}"  # shown until the next change
            return
        self._good = (self.window, self.start, self.end, self.live_end)
        self._url_error = ""
        url.write_back(self)
        self.csv_url = url.csv_url(self)
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
        url.write_back(self)
        self._schedule_load()

    @param.depends("live", watch=True)
    def _live_changed(self) -> None:
        # Rows that arrived while paused were not drawn: reload rather than leave a hole.
        if self.live:
            self._schedule_load()

    def _schedule_load(self, zoom: tuple[datetime, datetime] | None = None) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (plain script): the caller awaits load() itself
        # One load per session at a time: a newer request cancels the one in flight (and its
        # query in the database), so fast zooming cannot pile reads up.
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
        # Numbered and busy here, under the document's lock: from the task, "busy" could reach
        # the browser after the load's "done", or an older parked load clear it (issue 17).
        self._generation += 1
        self.loading = True
        self._load_task = loop.create_task(self.load(zoom, self._generation))

    # -- zoom, pan and resize (see :mod:`.viewport`) -----------------------------------------

    def _reload_view(self) -> None:
        """Read again what is shown: the zoomed range if the user moved it, else the window."""
        self._schedule_load(zoom=self.wanted_view())

    def wanted_view(self) -> tuple[datetime, datetime] | None:
        """The zoomed/panned range the user looks at, or None when it is the window's."""
        return self.traces.wanted_view()

    async def settled(self) -> None:
        """Wait for the window load that a parameter change scheduled (if any)."""
        while self._load_task is not None and not self._load_task.done():
            await asyncio.wait([self._load_task])

    async def load(
        self, zoom: tuple[datetime, datetime] | None = None, generation: int | None = None
    ) -> Loaded | None:
        """Read the window (or the ``zoom`` range in it) at the plots' width, parked for the next
        tick; within the ``query_timeout`` (a slot's wait included), else reported."""
        if generation is None:  # awaited directly (a script, a test): not scheduled
            self._generation = generation = self._generation + 1
            self.loading = True
        deadline = self.settings.query_timeout.total_seconds()
        request = Request(
            generation, self.time_window, self.selected, self._width, zoom, self._span, self.ref
        )
        try:
            slot = self.hub.loads.wait(self.settings.max_loads, deadline)
            async with asyncio.timeout(deadline), slot:
                loaded = await self._reader.read(request)
        except Exception as exc:
            if isinstance(exc, TimeoutError):
                why = f"the database did not answer within {deadline:g} s"
            else:
                why = error_line(exc)
            retry = not isinstance(exc, TooManyRows)  # that one is no better next time
            self.clock.under_lock(partial(self._failed, generation, why, retry))
            log.warning("window load failed: %s", why)
            return None
        if generation == self._generation:  # a newer request supersedes this one
            self._pending = loaded
            self.tick_soon()  # apply now rather than at the next periodic tick (zooming feels it)
        return loaded

    def _failed(self, generation: int, why: str, retry: bool) -> None:
        if generation == self._generation:  # (a newer request may have come meanwhile)
            self.param.update(loading=False, message=f"Could not load data: {why}")
            if retry:
                self.read_again.failed()

    # -- the session's periodic callback (under the document lock) ---------------------------

    def tick(self) -> None:
        """Apply a parked load, stream new rows, let the views refresh. Served, once the page
        has loaded, all of it goes as one message (Bokeh sends one per change, each walking
        every model); before that, Panel's hold would drop what it held (issue 15)."""
        held = self._on_server and self._doc is not None and pn.state.loaded
        with pn.io.hold(self._doc) if held else contextlib.nullcontext():
            self._tick()
        self.traces.replaced.clear()  # sent: a stream is again only what it adds

    def _tick(self) -> None:
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
            again = self.read_again.due()
            if again == "window":
                self._schedule_load()
            elif again == "view":
                self._reload_view()
        if (stats := self.stats_follower.take()) is not None:
            self.param.update(current_stats=stats[0], reference_stats=stats[1])
        if self.stats_follower.due():
            self.stats_follower.start()
        self.traces.refresh_holds(_hold_until(self))
        changed = self.traces.changed
        for refresh in self._tick_hooks:
            changed |= bool(refresh())
        if changed and not self._on_server and self._notebook_panes:
            # In a notebook, Bokeh models changed directly reach the page only when pushed
            # over the comm (on a server the session does this by itself).
            pn.io.push_notebook(*self._notebook_panes)
        self.traces.changed = False

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
            self.notes.redrawn(self.by_key[change.key], change)
            stale = True
        if stale:
            self._reload_view()
            self.stats_follower.dirty = True  # a zoomed view's reload brings none
        self.notes.expire()

    def _apply(self, loaded: Loaded) -> None:
        if self._load_task is not None and self._load_task.done():
            self._load_task = None  # its result (this load) now lives in the sources alone
        self.loaded_once = True
        self.notes.problems = loaded.problems
        self.notes.drawn = loaded.notes(self.all_variables)
        self._extent = loaded.extent
        self._zoomed = loaded.zoomed
        self._attached = loaded.attached
        self.read_again.succeeded(loaded.unprimed)
        self._drawn_width = loaded.width
        self.traces.apply(loaded)
        if not loaded.zoomed:
            self._span = (loaded.start, loaded.end)
            self.loaded_span = self._span
            self.ref_labels = _ref_labels(loaded, self.ref)
            # The window's statistics came with it (the same pass, or the summary).
            found, ref = loaded.stats()
            self.stats_follower.reset()
            self.param.update(current_stats=found, reference_stats=ref)
        self.param.update(loading=False, message="")

    def _stream(self, batch: dict[str, list[Row]]) -> None:
        if not self._attached:
            return  # a zoomed range in the past: the rows are read when it reaches the edge
        window = self.time_window
        newest, reread = self.traces.stream(batch, self.variables, window, self._span)
        if newest is not None:
            self.stats_follower.dirty = True  # merged into the statistics by the next tick
        if newest is not None and window.is_relative:
            end = self._span[1]
            if end is None or newest > end:
                self._span = self.traces.follow(newest, self.window, self._span, self._drawn_width)
                # The range inputs are not moved along: they may be in the user's hands.
        if reread or (self.traces.reduced and self.traces.streamed > self._drawn_width):
            # Raw rows streamed onto reduced traces: reduce again before they exceed the budget.
            self.traces.streamed = 0
            self._reload_view()

    def tick_soon(self) -> None:
        """Served, run the tick on the next turn of the loop (under the document lock)."""
        self.clock.soon()


def _hold_until(session: Session) -> datetime | None:
    """How far the last values are held: a relative window's end, an absolute one's end or
    the newest sample, whichever is earlier."""
    _, end = session._span
    if session.time_window.is_relative:
        return end
    latest = session.feed.latest
    newest = max((latest[k][0] for k in session.by_key if k in latest), default=None)
    return min(filter(None, (end, newest)), default=None)


def _ref_labels(loaded: Loaded, ref: datetime | None) -> dict[str, str]:
    """Each trace's label for the golden batch: its real time ('' where none is drawn)."""
    if loaded.reference is None or ref is None:
        return {}
    length = (loaded.extent[1] or ref) - (loaded.extent[0] or ref)
    label = f"- - reference {format_time(ref)} – {format_time(ref + length)}"
    return {key: label for key in loaded.reference}

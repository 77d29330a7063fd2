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
import io
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlencode

import pandas as pd
import panel as pn
import param
from panel.io.callbacks import PeriodicCallback

from . import export, frames, resolution
from .convergence import get_convergence
from .feed import LiveFeed, Subscription, get_feed
from .limits import EXPORTS, LOADS
from .settings import Settings
from .sources import TraceSources
from .stats import window_stats
from .store import Row, TooManyRows, error_line
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
from .window_load import DEFAULT_WIDTH, Loaded, Request, WindowReader

log = logging.getLogger(__name__)

TICK_MS = 250
#: A live window's statistics follow new rows at most this often (seconds): each refresh is a
#: message per trend to the page.
STATS_FOLLOW_S = 1.0
#: Zoom, pan and resize settle for this long before the visible range is read again.
DEBOUNCE_S = 0.05
#: How long the status line says that a span of the past was redrawn.
CHANGE_NOTE_S = 60


class Session(param.Parameterized):
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
    live = param.Boolean(default=True, doc="Stream new rows into the plots as they arrive.")
    ref = param.Date(
        default=None,
        allow_None=True,
        doc="Start of a reference period (golden batch), overlaid on every trend shifted to the "
        "window's start; None: no overlay.",
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
        self._sub: Subscription = self.feed.subscribe()
        self._reader = WindowReader(self.feed, summary, self.settings)
        self.traces = TraceSources(self.settings)
        self.sources = self.traces.sources
        self.ref_sources = self.traces.ref_sources
        self.holds = self.traces.holds
        self.x_range = self.traces.x_range
        self._generation = 0
        #: A window was ever shown (a database lost afterwards does not hide the plots).
        self.loaded_once = False
        self._span: tuple[datetime | None, datetime | None] = (None, None)
        self._pending: Loaded | None = None
        self._problems: dict[str, str] = {}
        self._notes: list[str] = []
        self._width = DEFAULT_WIDTH
        self._extent: tuple[datetime | None, datetime | None] = (None, None)
        self._zoomed = False
        self._attached = True
        self._drawn_width = DEFAULT_WIDTH
        self._debounce: asyncio.TimerHandle | None = None
        self._wake_pending = False
        #: Notes on spans of the past that changed in the database, until when to show them.
        self._changed: list[tuple[float, str]] = []
        #: The views' refreshers, called by every tick; True when they changed a model.
        self._tick_hooks: list[Callable[[], bool]] = []
        #: What a notebook must push over the comm when Bokeh models changed.
        self._notebook_panes: list[pn.viewable.Viewable] = []
        self._stats_task: asyncio.Task | None = None
        #: Rows arrived (or changed) since the statistics shown were computed.
        self._stats_dirty = False
        self._stats_at = 0.0  #: when the statistics last followed new rows (monotonic)
        self._stats_found: tuple[dict, dict] | None = None
        self._export_url = export_url
        self.csv_url = self._csv_url()
        self.x_range.on_change("start", self._range_moved)
        self.x_range.on_change("end", self._range_moved)
        self._periodic: PeriodicCallback | Ticker | None = None
        self._load_task: asyncio.Task | None = None
        self._retry_at: float | None = None
        self._retry_delay = 1.0
        if autostart:
            self._periodic = self._start_ticking()
            if self._on_server:
                pn.state.on_session_destroyed(self._destroyed)
                self._sub.wake = self._wake
            self._schedule_load()

    def _start_ticking(self) -> PeriodicCallback | Ticker:
        """The session's tick every :data:`TICK_MS`. Served, Bokeh's periodic callback (it
        skips a beat when a tick overruns). In a notebook, a task of our own on the kernel's
        loop that sleeps after every tick, however long it took: Panel's loop-based periodic
        callback yields only when a tick finishes within its period (panel#8751), so one
        slow tick would starve the loads and the feed.

        A *background* callback: Panel otherwise marks the whole process busy around each
        tick, and every session's Material page is bound to that flag, so each tick of each
        session set a property on every page (a walk of each page's models): N viewers cost
        N² such walks, and three saturated a core."""
        if not self._on_server:
            try:
                return Ticker(self.tick, TICK_MS / 1000)
            except RuntimeError:
                pass  # no running loop: Panel's own will do
        periodic = PeriodicCallback(callback=self.tick, period=TICK_MS, background=True, log=False)
        periodic.start()
        return periodic

    # -- for the views -------------------------------------------------------------------------

    @property
    def export_url(self) -> str | None:
        """The CSV route beside the app (served), or None (a notebook: the file goes over the
        comm)."""
        return self._export_url

    def on_tick(self, refresh: Callable[[], bool]) -> None:
        """Call ``refresh`` on every tick, under the document lock (it returns whether it
        changed a Bokeh model that a notebook must be sent)."""
        self._tick_hooks.append(refresh)

    def push_in_notebook(self, *panes: pn.viewable.Viewable) -> None:
        """Panes whose Bokeh models change directly: a notebook is sent them after a tick."""
        self._notebook_panes.extend(panes)

    def resized(self, width: object) -> None:
        """The browser reports a trend's drawing width (px)."""
        if isinstance(width, int) and width > 0:
            self._width = width
            self._debounced()

    def pick_range(self, start: datetime | None, end: datetime | None) -> None:
        """An absolute window from the range inputs (both ends needed)."""
        if start is None or end is None:
            return
        if end <= start:
            self.message = "The custom range must end after it starts."
            return
        self.param.update(window="custom", start=start, end=end)
        if self.message.startswith("The custom range"):
            self.message = ""

    def status_notes(self) -> list[tuple[str, str]]:
        """What the status line must say besides the connection: (CSS class, text)."""
        notes = [("tp-msg", f"{table}: {why}") for table, why in self._problems.items()]
        notes += [("tp-note", note) for note in self._notes]
        notes += [("tp-changed", note) for _, note in self._changed]
        summary = self.summary
        if summary is not None and summary.state in ("building", "failed"):
            notes.append(("tp-note", _summary_note(summary)))
        if self.loading:
            notes.append(("", "loading…"))
        notes += [("tp-msg", p) for p in (self._url_error, self._ref_note, self.message) if p]
        return notes

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
        self._url_error = ""
        self._sync_url()
        self.csv_url = self._csv_url()
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
        if self.traces.range_set is None:
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
        return self.traces.wanted_view()

    def _needs_width(self) -> bool:
        """True when the traces were made for another width and it matters (they are
        reduced, or their rows no longer fit the new width's budget)."""
        if self._width == self._drawn_width:
            return False
        budget = resolution.raw_budget(self._width)
        return self.traces.reduced or self.traces.longest() > 2 * budget

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
        request = Request(
            generation, self.time_window, self.selected, self._width, zoom, self._span, self.ref
        )
        try:
            async with asyncio.timeout(deadline), LOADS.wait(self.settings.max_loads, deadline):
                loaded = await self._reader.read(request)
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

    # -- the session's periodic callback (under the document lock) ---------------------------

    def tick(self) -> None:
        """Apply a parked load, stream new rows, let the views refresh.

        Served, once the page has loaded, everything the tick changes goes to it as one
        message: Bokeh sends one per change, and each walks every model of the page. Not
        before: until the browser reports the page ready, Panel's hold drops what it held,
        counting on a full document that the page has in fact already received."""
        if self._on_server and self._doc is not None and pn.state.loaded:
            with pn.io.hold(self._doc):
                self._tick()
        else:
            self._tick()

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
            if (
                self._retry_at is not None
                and time.monotonic() >= self._retry_at
                and self.feed.status == "live"
            ):
                self._retry_at = None
                self._schedule_load()
        if self._stats_found is not None:
            found, ref = self._stats_found
            self._stats_found = None
            self.param.update(current_stats=found, reference_stats=ref)
        if self._stats_dirty and self._can_follow_stats():
            self._schedule_stats()
        self.traces.refresh_holds(self._hold_until())
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
            self._stats_dirty = True  # a zoomed view's reload brings no statistics
        now = time.monotonic()
        self._changed = [(until, text) for until, text in self._changed if until > now]

    def _hold_until(self) -> datetime | None:
        """How far the last values are held: a relative window's end, an absolute one's end
        or the newest sample, whichever is earlier."""
        _, end = self._span
        if self.time_window.is_relative:
            return end
        newest = max((r[0] for r in self.feed.latest.values()), default=None)
        return min(filter(None, (end, newest)), default=None)

    def _apply(self, loaded: Loaded) -> None:
        if self._load_task is not None and self._load_task.done():
            self._load_task = None  # its result (this load) now lives in the sources alone
        self.loaded_once = True
        self._problems = loaded.problems
        self._notes = loaded.notes(self.all_variables)
        self._extent = loaded.extent
        self._zoomed = loaded.zoomed
        self._attached = loaded.attached
        self._drawn_width = loaded.width
        self.traces.apply(loaded)
        if not loaded.zoomed:
            self._span = (loaded.start, loaded.end)
            self.loaded_span = self._span
            self.ref_labels = self._ref_labels(loaded)
            # The window's statistics came with it (the same pass, or the summary).
            found, ref = loaded.stats()
            self._stats_found = None
            self._stats_dirty = False
            if self._stats_task is not None and not self._stats_task.done():
                self._stats_task.cancel()
            self.param.update(current_stats=found, reference_stats=ref)
        self.param.update(loading=False, message="")

    def _ref_labels(self, loaded: Loaded) -> dict[str, str]:
        """Each trace's label for the golden batch: its real time ('' where none is drawn)."""
        if loaded.reference is None or self.ref is None:
            return {}
        length = (loaded.extent[1] or self.ref) - (loaded.extent[0] or self.ref)
        label = f"- - reference {format_time(self.ref)} – {format_time(self.ref + length)}"
        return {key: label for key in loaded.reference}

    def _stream(self, batch: dict[str, list[Row]]) -> None:
        if not self._attached:
            return  # a zoomed range in the past: the rows are read when it reaches the edge
        window = self.time_window
        newest, reread = self.traces.stream(batch, self.variables, window, self._span)
        if newest is not None:
            self._stats_dirty = True  # merged into the statistics by the next tick
        if newest is not None and window.is_relative:
            end = self._span[1]
            if end is None or newest > end:
                self._span = self.traces.follow(newest, self.window, self._span, self._drawn_width)
                # The range inputs are not moved along: they may be in the user's hands.
        if reread or (self.traces.reduced and self.traces.streamed > self._drawn_width):
            # Raw rows streamed onto reduced traces: reduce again before they exceed the budget.
            self.traces.streamed = 0
            self._reload_view()

    # -- statistics of the window -------------------------------------------------------------

    def _can_follow_stats(self) -> bool:
        """Statistics follow new rows from the summary (memory, and a bucket of rows now and
        then), never by a query over the window, at most every :data:`STATS_FOLLOW_S`: until
        the summary is ready, the ones the load brought stay."""
        busy = self._stats_task is not None and not self._stats_task.done()
        recent = time.monotonic() - self._stats_at < STATS_FOLLOW_S
        ready = self.summary is not None and self.summary.ready
        return not busy and not recent and ready and self.live

    def _schedule_stats(self) -> None:
        """Merge the rows that arrived into the window's statistics, in the background."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._stats_dirty = False
        self._stats_at = time.monotonic()
        self._stats_task = loop.create_task(self._compute_stats())

    async def _compute_stats(self) -> None:
        start = self._span[0] if self._span[0] is not None else self._extent[0]
        end = self._span[1] if self._span[1] is not None else self._extent[1]
        summary = self.summary
        if start is None or end is None or end <= start or summary is None:
            return
        variables = [
            v for v in self.selected
            if v.table not in self._problems and summary.buckets(v.key) is not None
        ]  # fmt: skip
        try:
            async with asyncio.timeout(self.settings.query_timeout.total_seconds()):
                now = await window_stats(
                    self.store, variables, start, end, self.settings.gap, summary=summary
                )
        except Exception as exc:
            log.warning("window statistics failed: %s", error_line(exc))
            return  # keep what is shown
        found = {**self.current_stats, **{s.variable: s for s in now}}
        self._stats_found = (found, dict(self.reference_stats))  # shown by the next tick
        if self._on_server and self._doc is not None:
            self._doc.add_next_tick_callback(self.tick)

    # -- URL and CSV --------------------------------------------------------------------------

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

    def _csv_url(self) -> str:
        """The export route's URL for the window and variables shown ('' without a route)."""
        if self._export_url is None:
            return ""
        try:
            query = self.time_window.to_query()
        except ValueError:
            query = {}
        query["variables"] = ",".join(self.variables)
        return f"{self._export_url}?{urlencode(query)}"

    async def csv_file(self) -> io.BytesIO | None:
        """The raw rows of the window shown as a CSV file (its name in ``csv_filename``), read
        off the event loop; one at a time per session, bounded in time and size (the file is
        held in memory: a notebook's download, where no HTTP route streams it)."""
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
                self.csv_filename = f"trending_{window.slug(newest)}.csv"
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
            frames.stats(self.store, self.selected, start, end, self.settings.gap, self.summary),
            deadline,
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


def _summary_note(summary: Summary) -> str:
    if summary.state == "failed":
        return f"history summary failed ({summary.error}); wide windows are read from the database"
    # In tens of percent: each change of the text is a message to every page.
    done = int(summary.progress * 10) * 10
    return f"summarising the history ({done}%): wide windows are read from the database meanwhile"


def _window_of(window: str, start: datetime | None, end: datetime | None) -> TimeWindow:
    if window == "custom":
        return TimeWindow(preset=None, start=start, end=end)
    return TimeWindow(preset=window)

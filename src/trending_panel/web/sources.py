"""A session's Bokeh data: one source per variable (its trace), its hold segment, the golden
batch's trace, and the shared time axis; loads are applied to them and streamed rows appended.

Everything here runs under the document lock (the session's tick). Nothing reads the
database: the session hands in what the store and the feed brought.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
from bokeh.models import ColumnDataSource, Range1d

from trending_panel.core import steps as traces
from trending_panel.core.ledger import Ledger
from trending_panel.core.rows import Row, Series, from_ms, to_ms
from trending_panel.core.settings import Settings
from trending_panel.core.timewindow import PRESETS, TimeWindow
from trending_panel.core.variables import Variable
from trending_panel.read.resolution import Drawn
from trending_panel.read.window_load import Loaded

#: Streaming keeps at most this many vertices per plot beyond what a window load brought.
ROLLOVER_HEADROOM = 200_000


class TraceSources:
    """The sources of every pen of the page (hidden ones stay empty) and the time axis."""

    def __init__(self, settings: Settings, variables: tuple[Variable, ...]) -> None:
        self.settings = settings
        self.variables = variables
        self.x_range = Range1d(start=0, end=1, name="time-range")
        self.sources = {
            v.key: ColumnDataSource(traces.empty(), name=f"source-{v.key}") for v in variables
        }
        self.ref_sources = {
            v.key: ColumnDataSource(traces.empty(), name=f"ref-{v.key}") for v in variables
        }
        self.holds = {
            v.key: ColumnDataSource({"time": [], "value": []}, name=f"hold-{v.key}")
            for v in variables
        }
        self.ledgers: dict[str, Ledger] = {}
        self.last_row: dict[str, Row] = {}
        self._carry: dict[str, Row | None] = {}
        #: The axis range last set here (a different one was set by the user's zoom or pan).
        self.range_set: tuple[float, float] | None = None
        self.reduced = False  #: some trace is reduced (first/last/min/max per pixel column)
        self.streamed = 0  #: rows streamed since the last load
        self.changed = False  #: a model changed since the flag was cleared
        #: Sources whose data was replaced in this tick (see :meth:`_append`).
        self.replaced: set[str] = set()

    # -- a window load ---------------------------------------------------------------------

    def apply(self, loaded: Loaded) -> None:
        """Replace every trace with the load's (and the axis, unless it was a zoom)."""
        self.changed = True
        self.reduced = any(d.reduced for d in loaded.drawn.values())
        self.streamed = 0
        lookback = self.settings.lookback
        nothing = Drawn(traces.empty(), 0, False, "database", None, None)
        for var in self.variables:
            drawn = loaded.drawn.get(var.key, nothing)
            self._carry[var.key] = drawn.before
            self.sources[var.key].data = drawn.columns
            self.replaced.add(var.key)
            ledger = Ledger(lookback)
            # Only the look-back tail matters for de-duplication.
            if drawn.tail:
                ledger.newest = drawn.tail[-1][0]
                ledger.prime(drawn.tail)
            else:
                ledger.newest = loaded.extent[1]  # nothing loaded: every row the feed brings is new
            if drawn.last is None:
                self.last_row.pop(var.key, None)
            else:
                self.last_row[var.key] = drawn.last
            self.ledgers[var.key] = ledger
        if not loaded.zoomed:
            self._show_reference(loaded)
            self.set_range(*self._visible_span(loaded))

    def _show_reference(self, loaded: Loaded) -> None:
        """The golden batch's traces, shifted onto the window."""
        shift = np.timedelta64(loaded.ref_shift // timedelta(microseconds=1), "us")
        for var in self.variables:
            drawn = (loaded.reference or {}).get(var.key)
            if drawn is None:
                self.ref_sources[var.key].data = traces.empty()
            else:
                columns = dict(drawn.columns)
                columns["time"] = np.asarray(columns["time"], dtype="datetime64[us]") + shift
                self.ref_sources[var.key].data = columns

    def _visible_span(self, loaded: Loaded) -> tuple[datetime, datetime]:
        first, last = loaded.extent
        if first is None or last is None:
            now = self.settings.now()
            return now - timedelta(hours=1), now
        if first == last:  # a single sample: give the axis some width
            return first - timedelta(minutes=1), last + timedelta(minutes=1)
        return first, last

    # -- streamed rows -----------------------------------------------------------------------

    def stream(
        self,
        batch: dict[str, list[Row]],
        shown: list[str],
        window: TimeWindow,
        span: tuple[datetime | None, datetime | None],
    ) -> tuple[datetime | None, bool]:
        """Append the feed's new rows of the ``shown`` variables that fall in the window
        (``span``: its resolved ends). Returns the newest time appended and whether the
        traces must be read again (a late row inside reduced traces, or more raw rows streamed
        onto reduced ones than the width holds)."""
        start, end = span
        newest: datetime | None = None
        reread = False
        for key, rows in batch.items():
            if key not in self.ledgers or key not in shown:
                continue
            rows = self.ledgers[key].admit(rows)
            if window.is_relative:
                rows = [r for r in rows if start is None or r[0] >= start]
            else:
                rows = [r for r in rows if start <= r[0] <= end]  # type: ignore[operator]
            if not rows:
                continue
            rows.sort(key=lambda r: r[0])
            newest = max(newest, rows[-1][0]) if newest else rows[-1][0]
            reread |= self._append(key, rows)
            self.streamed += len(rows)
        return newest, reread

    def _append(self, key: str, rows: list[Row]) -> bool:
        self.changed = True
        source = self.sources[key]
        last = self.last_row.get(key)
        new = Series.from_rows(rows)
        times, values = new.times, new.values
        gap = self.settings.gap
        if last is not None and rows[0][0] < last[0] and self.reduced:
            return True  # a late row inside reduced traces: reduce again (the summary has it)
        if last is not None and rows[0][0] < last[0]:
            # A late row older than what is drawn: rebuild this trace in time order.
            data = source.data
            mask = np.asarray(data["sample"]) == 1
            old_t = np.asarray(data["time"], dtype="datetime64[us]")[mask]
            old_v = np.asarray(data["value"], dtype="float64")[mask]
            all_t = np.concatenate([old_t, times])
            all_v = np.concatenate([old_v, values])
            order = np.argsort(all_t, kind="stable")
            source.data = traces.with_lead(self._carry.get(key), all_t[order], all_v[order], gap)
            self.replaced.add(key)
            self.last_row[key] = (all_t[order][-1].item(), float(all_v[order][-1]))
            return False
        cols = traces.step_vertices(times, values, gap, prev=last)
        self.last_row[key] = rows[-1]
        data = source.data
        keep = len(data["time"]) + ROLLOVER_HEADROOM
        if key in self.replaced:
            # Replaced in this tick: under the tick's hold the page is sent the source's data
            # as it is at the hold's end, streamed rows included, and a stream after it would
            # add them a second time. Appended here (as the stream would), they go once.
            source.data = {k: np.concatenate([np.asarray(data[k]), cols[k]])[-keep:] for k in cols}
            return False
        source.stream(cols, rollover=keep)
        return False

    def follow(
        self,
        newest: datetime,
        preset: str,
        span: tuple[datetime | None, datetime | None],
        width: int,
    ) -> tuple[datetime | None, datetime]:
        """A relative window's new ends after rows up to ``newest`` arrived; the axis moves
        along unless the user zoomed or panned, by at least a quarter of a pixel column of the
        plot ``width`` px wide: a smaller step redraws nothing (the newest rows are then less
        than that beyond the right edge), and each move is a message to the page."""
        start, _ = span
        length = PRESETS.get(preset)
        new_start = start if length is None else newest - length
        if not self.user_moved_range() and new_start is not None:
            assert self.range_set is not None
            column_ms = (self.range_set[1] - self.range_set[0]) / max(width, 1)
            if to_ms(newest) - self.range_set[1] >= column_ms / 4:
                self.set_range(new_start, newest)
        return new_start, newest

    def refresh_holds(self, until: datetime | None) -> None:
        """Each last value held up to ``until`` (no row means no change)."""
        for key, source in self.holds.items():
            data = traces.hold(self.last_row.get(key), until, self.settings.gap)
            if data["time"] != list(source.data["time"]):
                source.data = data
                self.changed = True

    # -- the time axis -----------------------------------------------------------------------

    def set_range(self, start: datetime, end: datetime) -> None:
        self.changed = True
        s, e = to_ms(start), to_ms(end)
        self.x_range.update(start=s, end=e, reset_start=s, reset_end=e)
        self.range_set = (s, e)

    def user_moved_range(self) -> bool:
        if self.range_set is None:
            return False
        return (self.x_range.start, self.x_range.end) != self.range_set

    def wanted_view(self) -> tuple[datetime, datetime] | None:
        """The zoomed/panned range the user looks at, or None when it is the window's."""
        if not self.user_moved_range():
            return None
        start, end = self.x_range.start, self.x_range.end
        if not (isinstance(start, int | float) and isinstance(end, int | float)) or end <= start:
            return None
        return from_ms(start), from_ms(end)

    def longest(self) -> int:
        """The most vertices in any trace."""
        return max((len(s.data["time"]) for s in self.sources.values()), default=0)

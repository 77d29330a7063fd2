"""Zoom, pan and resize: once the visible range or the plots' width has stopped changing for
:data:`DEBOUNCE_S`, read again what is visible, at the resolution it needs (down to raw rows),
or the window itself after a reset."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trending_panel.read import resolution
from trending_panel.web.ticker import Debounced

if TYPE_CHECKING:
    from trending_panel.web.session import Session

#: Zoom, pan and resize settle for this long before the visible range is read again.
DEBOUNCE_S = 0.05


class Viewport:
    """The debounced link between what a session's plots show and what it reads."""

    def __init__(self, session: Session) -> None:
        self.session = session
        #: Look again once nothing has changed for :data:`DEBOUNCE_S`.
        self.changed = Debounced(session, DEBOUNCE_S, self._settled)

    def resized(self, width: object) -> None:
        """The browser reports a trend's drawing width (px)."""
        if isinstance(width, int) and width > 0:
            self.session._width = width
            self.changed()

    def range_moved(self, attr: str, old: object, new: object) -> None:
        """The time axis moved (Bokeh's ``on_change`` of the shared range)."""
        self.changed()

    def _settled(self) -> None:
        """The range or width stopped changing: read again what is now visible, if needed."""
        s = self.session
        if s.loading:
            self.changed()  # look again once the load in flight is applied
            return
        if s.traces.range_set is None:
            return
        wanted = s.traces.wanted_view()
        if wanted is None:  # the window itself (reset, or the range we set)
            if s._zoomed or self.needs_width():
                s._schedule_load()
            return
        if wanted != s._extent or self.needs_width():
            s._schedule_load(zoom=wanted)

    def needs_width(self) -> bool:
        """True when the traces were made for another width and it matters (they are
        reduced, or their rows no longer fit the new width's budget)."""
        s = self.session
        if s._width == s._drawn_width:
            return False
        budget = resolution.raw_budget(s._width)
        return s.traces.reduced or s.traces.longest() > 2 * budget

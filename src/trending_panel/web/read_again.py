"""When a session reads its view again by itself: after a failed load, once the database
answers again (backing off while it does not), and once the live feed follows a tag that it
did not follow when the view was read (the feed takes every row present at its first look as
known, so a row written between the read and that look reached neither)."""

from __future__ import annotations

import time
from typing import Literal

from trending_panel.live.feed import LiveFeed


class ReadAgain:
    """A session's pending re-reads; asked by every tick (cheap: no database call)."""

    def __init__(self, feed: LiveFeed) -> None:
        self.feed = feed
        self.retry_at: float | None = None  #: monotonic time of the next try after a failure
        self.delay = 1.0
        #: Shown tags the feed did not follow yet when the view was read.
        self.unprimed: frozenset[str] = frozenset()

    def failed(self) -> None:
        """A load failed: try again once the database answers, backing off up to 30 s."""
        self.delay = min(self.delay * 2, 30.0)
        self.retry_at = time.monotonic() + self.delay

    def succeeded(self, unprimed: frozenset[str]) -> None:
        """A load succeeded; ``unprimed``: the tags it read before the feed followed them."""
        self.delay, self.retry_at = 1.0, None
        self.unprimed = unprimed

    def due(self) -> Literal["window", "view"] | None:
        """What to read again now: the window (a failed load), the view (the feed follows a
        tag it did not), or nothing."""
        if self.retry_at is not None:
            if time.monotonic() >= self.retry_at and self.feed.status == "live":
                self.retry_at = None
                return "window"
        elif self.unprimed and self.feed.unprimed(self.unprimed) != self.unprimed:
            self.unprimed = frozenset()
            return "view"
        return None

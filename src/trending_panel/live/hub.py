"""What a process shares among its viewers: one hub per feed.

A hub holds the list of tags (the catalog, read in the background), the live feed (one poll
a tick for every tag some viewer shows), what it knows of the shared rollup, the summary of
the history (of the tags the rollup does not serve) and
the convergence detector that follow it, and the slots that bound what the process reads and
exports at once. Sessions, the CSV route and the server's warm-up all ask the hub for them,
so there is one of each per process (and settings), created when first needed and started on
the running loop.
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from trending_panel.core.settings import Settings
from trending_panel.db.store import Store
from trending_panel.live.batch_list import BatchList
from trending_panel.live.convergence import Convergence
from trending_panel.live.feed import LiveFeed
from trending_panel.live.rollup_view import RollupView
from trending_panel.live.slots import Slots
from trending_panel.live.summary import Summary
from trending_panel.live.tag_list import TagList


class Hub:
    """A feed, and what shares it: the summary, the convergence detector, the slots."""

    def __init__(self, feed: LiveFeed) -> None:
        self.feed = feed
        self.settings = feed.settings
        #: Window loads, zoom re-reads, statistics and the summary's reads.
        self.loads = Slots("window load")
        #: CSV exports (the HTTP route and notebook downloads).
        self.exports = Slots("CSV export")
        self._summary: Summary | None = None
        self._convergence: Convergence | None = None
        self._rollup: RollupView | None = None
        #: Every tag a page may show (the catalog's, read in the background).
        self.tags = TagList(feed.store, self.settings)
        #: The site's batches (``[events]``), read in the background for every page.
        self.batches = BatchList(feed.store, self.settings)

    def rollup(self) -> RollupView:
        """What the process knows of the shared rollup, read on the running loop."""
        if self._rollup is None:
            self._rollup = RollupView(self.feed)
        self._rollup.start()
        return self._rollup

    def summary(self) -> Summary:
        """The summary of the feed's tables (but those the shared rollup serves), started on
        the running loop."""
        if self._summary is None:
            self._summary = Summary(
                self.feed, self.settings, loads=self.loads, rollup=self.rollup()
            )
        self._summary.start()
        return self._summary

    def convergence(self) -> Convergence:
        """The detector that keeps the summary and the pages equal to the database."""
        if self._convergence is None:
            self._convergence = Convergence(self.summary())
        self._convergence.start()
        return self._convergence

    def start(self) -> Hub:
        """Everything running: the feed polling, the summary building, the detector watching."""
        self.feed.start()
        self.tags.start()
        self.batches.start()
        self.convergence()
        return self


_by_settings: dict[Settings, Hub] = {}
_by_feed: WeakKeyDictionary[LiveFeed, Hub] = WeakKeyDictionary()


def hub(settings: Settings) -> Hub:
    """The process's hub for ``settings`` (a store and a feed of its own), its feed started."""
    found = _by_settings.get(settings)
    if found is None:
        found = _by_settings[settings] = hub_for(LiveFeed(Store(settings), settings))
    found.feed.start()
    found.tags.start()
    found.batches.start()
    return found


def hub_for(feed: LiveFeed) -> Hub:
    """The hub around ``feed`` (one per feed)."""
    found = _by_feed.get(feed)
    if found is None:
        found = _by_feed[feed] = Hub(feed)
    return found

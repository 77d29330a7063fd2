"""The data behind a session's view, for a notebook: the window's rows and statistics as
pandas frames, and its CSV as a file (a notebook has no HTTP route to stream it)."""

from __future__ import annotations

import asyncio
import io
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from trending_panel.core.errors import error_line
from trending_panel.read import csv_export
from trending_panel.read.stats import window_stats

if TYPE_CHECKING:
    import pandas as pd

    from trending_panel.web.session import Session


class NotebookData:
    """``dataframe()``, ``stats()`` and ``csv_file()`` of a :class:`~.session.Session`."""

    def resolved_window(self: Session) -> tuple[datetime, datetime]:
        """The window's ends now (a relative window against the newest sample)."""
        variables = self.selected or list(self.all_variables)
        deadline = self.settings.query_timeout.total_seconds()
        ends = self.store.wait(self.store.window_ends(self.time_window, variables), deadline)
        if ends is None:
            now = self.settings.now()
            return now - timedelta(hours=1), now
        return ends

    def dataframe(self: Session) -> pd.DataFrame:
        """The window's raw rows of the shown variables, tidy: ``time``, ``variable`` (its
        key), ``value`` (NaN for NULL and NaN), in time order per variable. Every row the
        database holds, not the plotted points (at most ``TRENDING_MAX_ROWS`` per variable)."""
        from trending_panel.read import frames  # pandas: a notebook's, not the server's

        start, end = self.resolved_window()
        deadline = self.settings.query_timeout.total_seconds()
        return self.store.wait(frames.rows(self.store, self.selected, start, end), deadline)

    def stats(self: Session) -> pd.DataFrame:
        """The window's statistics per shown variable (columns as ``trending-panel stats``)."""
        from trending_panel.read import frames

        start, end = self.resolved_window()
        deadline = self.settings.query_timeout.total_seconds()
        found = window_stats(
            self.store, self.selected, start, end, self.settings.gap, summary=self.summary
        )
        return frames.stats(self.store.wait(found, deadline))

    async def csv_file(self: Session) -> io.BytesIO | None:
        """The raw rows of the window shown as a CSV file (its name in ``csv_filename``), read
        off the event loop; one at a time per session, bounded in time and size (the file is
        held in memory: a notebook's download, where no HTTP route streams it)."""
        settings = self.settings
        deadline = settings.query_timeout.total_seconds()
        try:
            async with self.hub.exports.now(settings.max_exports, f"session:{id(self)}"):
                window = self.time_window
                newest = None
                if window.is_relative:
                    async with asyncio.timeout(deadline):
                        newest = await self.store.newest_time(self.selected)
                    if self._span[1] is not None:
                        newest = max(newest, self._span[1]) if newest else self._span[1]
                start, end = window.resolve(newest)
                self.csv_filename = f"trending_{window.slug(newest)}.csv"
                return await csv_export.csv_bytes(
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

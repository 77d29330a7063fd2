"""The simulator's batches (issue 20): the four tables follow a 6-hour batch cycle
(:data:`~.simulate.BATCH`), and this writes its batches and phases to the events table that
``TRENDING_CONFIG``'s ``[events]`` names, as a site's MES would: inoculation, batch,
fed-batch and harvest, then half an hour of turnaround without a batch. The running phase
and batch have no end yet; each boundary that passes rewrites the table (a few dozen rows, one
transaction), so a phase's end and the next phase appear within the writer's tick.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from trending_panel.core.errors import error_line
from trending_panel.db.store import Store

log = logging.getLogger(__name__)

#: The cycle's origin (the signals' batch clock counts from it too).
EPOCH = datetime(2000, 1, 1)
CYCLE = timedelta(hours=6)
#: Each phase and where it ends in the cycle; the rest of the cycle is turnaround.
PHASES = (
    ("inoculation", timedelta(minutes=30)),
    ("batch", timedelta(hours=2, minutes=30)),
    ("fed-batch", timedelta(hours=5, minutes=15)),
    ("harvest", timedelta(hours=5, minutes=30)),
)


def cycle_start(t: datetime) -> datetime:
    return t - (t - EPOCH) % CYCLE


def batch_rows(since: datetime, now: datetime) -> list[tuple]:
    """The rows of every batch begun from ``since``'s cycle up to ``now``: one per phase
    begun and one for the batch (``phase`` NULL), a running one without its end."""
    rows: list[tuple] = []
    t = cycle_start(since)
    while t <= now:
        batch_id = f"B-{t:%Y%m%d-%H%M}"
        begin = t
        for name, ends_at in PHASES:
            if begin > now:
                break
            end = t + ends_at
            rows.append((begin, end if end <= now else None, batch_id, name, None, None))
            begin = end
        done = t + PHASES[-1][1]
        rows.append((t, done if done <= now else None, batch_id, None, None,
                     "fed-batch culture (simulated)"))  # fmt: skip
        t += CYCLE
    return rows


def next_boundary(now: datetime) -> datetime:
    """The first phase boundary (or cycle start) after ``now``."""
    t = cycle_start(now)
    for at in (t + ends for _, ends in PHASES):
        if at > now:
            return at
    return t + CYCLE


class BatchWriter:
    """Writes the simulator's batches from ``since`` to the events table ``table``."""

    def __init__(self, table: str, since: datetime) -> None:
        self.table = table
        self.since = since
        self._due: datetime | None = None  #: None: write at the next call

    async def write_due(self, store: Store, now: datetime) -> None:
        """Write the table when a boundary passed since the last write (or none was made);
        an outage is logged and the write tried again next time."""
        if self._due is not None and now < self._due:
            return
        try:
            await store.write_events(self.table, batch_rows(self.since, now))
        except Exception as exc:
            log.warning("batch events not written to %s: %s", self.table, error_line(exc))
            return
        self._due = next_boundary(now)

"""The store: every SQL statement of the project, behind one object per process.

:class:`Store` is its parts together: the connections (:mod:`.pool`), the reads
(:mod:`.reads`), the change census (:mod:`.census`), the CSV's ``COPY`` (:mod:`.copy`), the
tag catalog (:mod:`.tags`), the shared rollup's buckets (:mod:`.rollup`), the batches
(:mod:`.events`) and, for the simulator and the tests, the writes (:mod:`.schema`).
"""

from __future__ import annotations

from trending_panel.db.census import Census
from trending_panel.db.copy import Copy
from trending_panel.db.events import Events
from trending_panel.db.reads import Reads
from trending_panel.db.rollup import Rollups
from trending_panel.db.schema import Schema
from trending_panel.db.tags import Tags


class Store(Reads, Census, Copy, Schema, Tags, Rollups, Events):
    """Asynchronous access to the process tables through one connection pool (see
    :class:`~.pool.Pool`): what the dashboard reads, and what the simulator writes."""

    async def __aenter__(self) -> Store:
        await self.open(wait=True)
        return self

"""The process's list of tags: every table a page may show, read in the background.

Without a ``[catalog]`` the tags are the configured variables (the spec's four by default)
and nothing is read. With one, the catalog (:meth:`~trending_panel.db.tags.Tags.tag_catalog`)
is read when the hub starts and again every :data:`REFRESH_S` seconds, so a table created
while the server runs appears within a minute without a restart; pages and the CSV route
look tags up here by key, in memory, and never wait for the database to do so.
"""

from __future__ import annotations

import asyncio
import logging

import param

from trending_panel.core import tags as tagmod
from trending_panel.core.errors import error_line
from trending_panel.core.pens import DEFAULT_TAGS
from trending_panel.core.settings import Settings
from trending_panel.core.tags import Tag
from trending_panel.core.variables import PALETTE, Variable
from trending_panel.db.store import Store
from trending_panel.live.background import Background, waited

log = logging.getLogger(__name__)

#: Seconds between two reads of the catalog (new tables appear within this).
REFRESH_S = 60.0
#: Decimals of a current value for a tag the configuration says nothing of.
TAG_DECIMALS = 3


def as_variable(tag: Tag, index: int = 0) -> Variable:
    """A catalog tag as a variable: its key is its table name, its colour the page's
    ``index``-th (a page colours its pens in the order it shows them)."""
    return Variable(
        tag.key, tag.table, tag.label, tag.unit, PALETTE[index % len(PALETTE)], TAG_DECIMALS,
        tag.low, tag.high,
    )  # fmt: skip


class TagList(Background, param.Parameterized):
    """Every tag by key: the configured variables, and the catalog's when there is one."""

    loaded = param.Boolean(default=False, doc="The catalog was read at least once.")
    error = param.String(default="", doc="Why the last read of the catalog failed.")
    unreadable = param.Tuple(default=(), doc="Matching tables the role may not read.")
    reads = param.Integer(default=0, doc="Catalog reads that succeeded (for tests).")

    def __init__(self, store: Store, settings: Settings, **params: object) -> None:
        super().__init__(**params)
        self.store = store
        self.settings = settings
        self.tags: tuple[Tag, ...] = tuple(Tag.of_variable(v) for v in settings.variables)
        self._by_key: dict[str, Variable] = {v.key: v for v in settings.variables}
        self._loaded = asyncio.Event() if settings.catalog is not None else None
        if settings.catalog is None:
            self.loaded = True

    # -- lookups (in memory) ----------------------------------------------------------------

    def get(self, key: str) -> Variable | None:
        return self._by_key.get(key)

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` is a tag's (the comparison's asset swap looks tags up here)."""
        return key in self._by_key

    def resolve(self, keys: list[str]) -> tuple[list[Variable], list[str]]:
        """The variables of ``keys`` (in that order) and the keys that are no tag."""
        found, unknown = [], []
        for key in keys:
            var = self._by_key.get(key)
            if var is None:
                unknown.append(key)
            else:
                found.append(var)
        return found, unknown

    def default_keys(self) -> list[str]:
        """A page that asks for nothing: the configured variables, else the first tags."""
        if self.settings.variables:
            return [v.key for v in self.settings.variables]
        return [t.key for t in self.tags[:DEFAULT_TAGS]]

    def search(self, text: str, limit: int = 100) -> tuple[list[Tag], int]:
        """The first ``limit`` tags matching ``text`` (see :func:`~...core.tags.search`) and
        how many match in all."""
        found = tagmod.search(self.tags, text)
        return found[:limit], len(found)

    # -- reading the catalog ----------------------------------------------------------------

    async def wait_loaded(self, timeout: float | None = None) -> bool:
        """Wait for the first read of the catalog; False if none came within ``timeout``."""
        return self._loaded is None or await waited(self._loaded, timeout)

    async def refresh(self) -> None:
        """Read the catalog once (configured variables keep their keys and settings)."""
        self._apply(await self.store.tag_catalog(self.settings.catalog, self.settings.variables))

    def load_now(self, timeout: float) -> bool:
        """Read the catalog from synchronous code, blocking the caller (a notebook's first
        dashboard, which cannot wait for the background read), never a server's loop; False
        if it could not be read within ``timeout``."""
        if self.loaded:
            return True
        try:
            catalog = self.store.wait(
                self.store.tag_catalog(self.settings.catalog, self.settings.variables), timeout
            )
        except Exception as exc:  # the database is down: the background read keeps trying
            log.warning("tag catalog not read: %s", error_line(exc))
            return False
        self._apply(catalog)
        return True

    def _apply(self, catalog) -> None:
        configured = {v.table: v for v in self.settings.variables}
        by_key: dict[str, Variable] = {}
        for index, tag in enumerate(catalog.tags):
            by_key[tag.key] = configured.get(tag.table) or as_variable(tag, index)
        for var in self.settings.variables:  # configured, even where the catalog misses it
            by_key.setdefault(var.key, var)
        if set(catalog.unreadable) != set(self.unreadable):
            for table in sorted(set(catalog.unreadable) - set(self.unreadable)):
                log.warning("table %s matches [catalog] but may not be read", table)
        added = len(set(by_key) - set(self._by_key)) if self.loaded else 0
        self.tags, self._by_key = catalog.tags, by_key
        if added:
            log.info("tag catalog: %d new tag(s)", added)
        self.param.update(loaded=True, error="", unreadable=catalog.unreadable,
                          reads=self.reads + 1)  # fmt: skip
        if self._loaded is not None:
            self._loaded.set()

    async def _run(self) -> None:
        if self.settings.catalog is None:
            return
        while True:
            try:
                await self.refresh()
                delay = REFRESH_S
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an outage (the feed says so) or a bad metadata table
                if error_line(exc) != self.error:
                    log.warning("tag catalog not read: %s", error_line(exc))
                self.error = error_line(exc)
                delay = 5.0 if not self.loaded else REFRESH_S
            await asyncio.sleep(delay)

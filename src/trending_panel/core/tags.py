"""A plant's tags: which tables are tags (the ``[catalog]`` of ``TRENDING_CONFIG``), what is
known of each (label, unit, limits, description), and the search over them.

A tag is a table with a ``time`` timestamp column and a ``value`` double column whose name
matches an ``include`` glob and no ``exclude`` glob. Its key is its table name, exactly; a
configured ``[[variables]]`` entry for the same table keeps its own key and settings, which
win over the metadata table's. Pure data: the database side is
:mod:`trending_panel.db.tags`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from fnmatch import fnmatchcase

from trending_panel.core.variables import Variable


@dataclass(frozen=True)
class CatalogSpec:
    """Which tables are tags, and where their descriptions are."""

    include: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    #: A table ``(tag, label, unit, low, high, description)``, ``tag`` the table name.
    metadata: str | None = None

    def matches(self, names: Iterable[str]) -> bool:
        """Whether a table known by any of ``names`` (its name, schema-qualified) is a tag."""
        names = list(names)
        included = any(fnmatchcase(n, p) for p in self.include for n in names)
        return included and not any(fnmatchcase(n, p) for p in self.exclude for n in names)


@dataclass(frozen=True)
class Tag:
    """One tag as the catalog lists it (``trending-panel tags --json``)."""

    key: str
    table: str
    label: str
    unit: str = ""
    low: float | None = None
    high: float | None = None
    description: str = ""

    def as_json(self) -> dict:
        return asdict(self)

    @classmethod
    def of_variable(cls, var: Variable, description: str = "") -> Tag:
        """A configured variable as the catalog lists it."""
        return cls(
            key=var.key, table=var.table, label=var.label, unit=var.unit, low=var.low,
            high=var.high, description=description,
        )  # fmt: skip


def search(tags: Sequence[Tag], text: str | None) -> list[Tag]:
    """The tags whose key, label or description holds ``text`` (case-insensitive), in the
    catalog's order; every tag without ``text``."""
    if not text:
        return list(tags)
    needle = text.casefold()
    return [
        t
        for t in tags
        if needle in t.key.casefold()
        or needle in t.label.casefold()
        or needle in t.description.casefold()
    ]

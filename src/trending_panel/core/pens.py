"""Pens and trends: which tags a page shows, and how they share trends and y-axes.

A *pen* is one tag drawn on a trend. A trend holds one or more pens; pens of the same unit
share a y-axis, a trend with pens of two units has a left and a right axis, and a pen of a
third unit starts a new trend (PI Vision's and Ignition's rule of two scales per chart).

In a URL the page's pens are ``?pens=a,b;c``: ``a`` and ``b`` on the first trend, ``c`` on the
second, each key percent-encoded on its own so that a key may hold any character (``/`` in
every table name of a plant; even ``,`` or ``;``). Pure: no I/O, no Panel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote

#: At most this many trends are built in one page, whatever is asked (each is a figure).
MAX_TRENDS = 16
#: ... and at most this many pens on one trend.
MAX_PENS = 8
#: A page that asks for nothing shows the first this many tags (never every tag).
DEFAULT_TAGS = 8


def parse(text: str) -> list[list[str]]:
    """``a,b;c`` (each key percent-encoded) → ``[["a", "b"], ["c"]]``. Empty keys and empty
    trends are dropped; a key asked twice is kept where it first appears. Raises
    ``ValueError`` for a key that does not decode."""
    seen: set[str] = set()
    out: list[list[str]] = []
    for group in text.split(";"):
        trend = []
        for part in group.split(","):
            try:
                key = unquote(part.strip(), errors="strict")
            except UnicodeDecodeError:
                raise ValueError(f"{part[:40]!r} is not a percent-encoded UTF-8 key") from None
            if key and key not in seen:
                seen.add(key)
                trend.append(key)
        if trend:
            out.append(trend)
    return out


def to_text(trends: Sequence[Sequence[str]]) -> str:
    """The inverse of :func:`parse`: ``?pens=``'s value (ready to put in a URL as it is)."""
    return ";".join(",".join(quote(key, safe="") for key in trend) for trend in trends)


@dataclass(frozen=True)
class Arranged:
    """Trends of pens as the page draws them, and what was left out and why."""

    trends: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = ()

    @property
    def keys(self) -> list[str]:
        return [key for trend in self.trends for key in trend]


def arrange(
    trends: Sequence[Sequence[str]],
    unit_of: Callable[[str], str],
    *,
    max_trends: int = MAX_TRENDS,
    max_pens: int = MAX_PENS,
) -> Arranged:
    """``trends`` as they can be drawn: a pen of a third unit (``unit_of(key)``) moves to a new
    trend right after its own, a trend holds at most ``max_pens`` pens, and at most
    ``max_trends`` trends are kept. What does not fit is named in the notes."""
    out: list[tuple[str, ...]] = []
    notes: list[str] = []
    for trend in trends:
        pending = list(trend)
        while pending:
            units: list[str] = []
            here, later = [], []
            for key in pending:
                unit = unit_of(key)
                if (unit in units or len(units) < 2) and len(here) < max_pens:
                    if unit not in units:
                        units.append(unit)
                    here.append(key)
                else:
                    later.append(key)
            out.append(tuple(here))
            pending = later
    if len(out) > max_trends:
        dropped = [key for trend in out[max_trends:] for key in trend]
        out = out[:max_trends]
        notes.append(
            f"At most {max_trends} trends are drawn in one page: left out "
            f"{', '.join(dropped[:5])}{' …' if len(dropped) > 5 else ''}"
        )
    return Arranged(tuple(out), tuple(notes))

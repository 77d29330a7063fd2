"""Which tags the summary keeps: those pinned (the configured variables without a catalog),
those a page shows, and for a while those shown recently; least recently shown goes first.

Bookkeeping only (no I/O): the :class:`~.summary.Summary` asks it what to build and what to
let go of, so the summary's memory and its share of the feed follow what pages show.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

#: A tag no page has shown for this long stops being followed and its buckets are let go
#: (pinned tags excepted): an idle server polls and checks nothing nobody looks at.
IDLE_S = 300.0


class Interest:
    """Who shows which keys, and when each key was last shown."""

    def __init__(self, pinned: Iterable[str]) -> None:
        self.pinned = frozenset(pinned)
        self._wanters: dict[object, frozenset[str]] = {}
        self._used: dict[str, float] = {}

    def want(self, owner: object, keys: Iterable[str]) -> frozenset[str]:
        """``owner`` shows ``keys`` (instead of what it showed); returns those it did not
        show before."""
        keys = frozenset(keys)
        anew = keys - self._wanters.get(owner, frozenset())
        self._wanters[owner] = keys
        now = time.monotonic()
        for key in keys:
            self._used[key] = now
        return anew

    def release(self, owner: object) -> None:
        """``owner`` shows nothing any more: its keys are idle from now."""
        now = time.monotonic()
        for key in self._wanters.pop(owner, frozenset()):
            self._used[key] = now

    def viewed(self) -> set[str]:
        return set().union(*self._wanters.values()) if self._wanters else set()

    def spare(self, keys: Iterable[str]) -> list[str]:
        """Those of ``keys`` no page shows and not pinned, least recently shown first."""
        viewed = self.viewed()
        return sorted(
            (k for k in keys if k not in self.pinned and k not in viewed),
            key=lambda k: self._used.get(k, 0.0),
        )

    def idle(self, keys: Iterable[str], after: float | None = None) -> set[str]:
        """Those of ``keys`` spare and not shown for ``after`` seconds (:data:`IDLE_S`)."""
        after = IDLE_S if after is None else after
        now = time.monotonic()
        return {k for k in self.spare(keys) if now - self._used.get(k, now) > after}

    def make_room(self, sizes: dict[str, int], need: int, budget: int) -> list[str] | None:
        """The spare keys to let go (least recently shown first) so that ``need`` more bytes
        fit ``budget`` beside ``sizes`` (bytes held per key); None if they cannot."""
        used = sum(sizes.values())
        out = []
        for key in self.spare(sizes):
            if used + need <= budget:
                break
            used -= sizes[key]
            out.append(key)
        return out if used + need <= budget else None

    def forget(self, key: str) -> None:
        self._used.pop(key, None)

"""Failed sign-ins slowed down, per user and per address (as Grafana's brute-force
protection does): up to :data:`FREE_FAILURES` failures within :data:`WINDOW_S` are answered
as usual; after that the user (or the address) is locked for a delay that doubles with every
further failure, from :data:`FIRST_LOCK_S` up to :data:`MAX_LOCK_S`. While locked, a sign-in
is refused without checking its password, so a guesser learns nothing from it. A success
clears the user's and the address's record.

Kept in the process's memory: with several processes (``--num-procs`` or nginx), each counts
its own, so a guesser gets at most that many times the allowance.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

FREE_FAILURES = 5
WINDOW_S = 300.0
FIRST_LOCK_S = 30.0
MAX_LOCK_S = 900.0
#: Records kept at most (the oldest are forgotten): a flood of made-up user names cannot
#: grow the process without bound.
MAX_RECORDS = 10_000


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0
    lock_s: float = 0.0


class Throttle:
    """Failures counted per key (``user:…``, ``address:…``); see the module's docstring."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._records: dict[str, _Record] = {}

    def wait_s(self, *keys: str) -> float:
        """Seconds until any of ``keys`` may try again (0: now)."""
        now = self.clock()
        waits = (r.locked_until - now for k in keys if (r := self._records.get(k)))
        return max([0.0, *waits])

    def failed(self, *keys: str) -> float:
        """A failed sign-in for each of ``keys``; the seconds they are now locked for."""
        now = self.clock()
        locked = 0.0
        for key in keys:
            record = self._records.pop(key, None) or _Record()
            self._records[key] = record  # most recent last (forgotten first: the oldest)
            # Failures are remembered for the window, or twice the current lock if longer:
            # a guesser who waits out each lock keeps doubling it.
            horizon = max(WINDOW_S, 2 * record.lock_s)
            while record.failures and record.failures[0] < now - horizon:
                record.failures.popleft()
            if not record.failures:
                record.lock_s = 0.0  # quiet for long enough: a fresh start
            record.failures.append(now)
            if len(record.failures) >= FREE_FAILURES:
                record.lock_s = min(MAX_LOCK_S, record.lock_s * 2 or FIRST_LOCK_S)
                record.locked_until = now + record.lock_s
            locked = max(locked, record.locked_until - now)
        while len(self._records) > MAX_RECORDS:
            del self._records[next(iter(self._records))]
        return max(0.0, locked)

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._records.pop(key, None)

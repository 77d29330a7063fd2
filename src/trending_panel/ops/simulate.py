"""A realistic data source: the four signals as the plant's historian writes them.

Shaped like the plant's reference batch: each table is scanned every 1-2 s on its own
millisecond phase, and a row is logged **by exception** only when the value has moved past a
deadband since the last logged row (so holds of minutes are normal). Values carry float32
precision, as the plant's do. Temperature wanders 37.1-37.4 °C; pH drifts down from about 7.28
by about 0.03 per hour over a 6-hour batch; dissolved oxygen is held near 40 % by a PI
controller against a rising uptake; pressure moves 0.04-0.09 psi in 0.002 psi steps.
Timestamps are naive, in the configured data zone (UTC unless TRENDING_TIMEZONE says otherwise).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from trending_panel.core.errors import error_line
from trending_panel.core.rows import Row
from trending_panel.core.variables import BY_KEY, VARIABLES, Variable
from trending_panel.db.store import Store
from trending_panel.ops.sim_batches import BatchWriter

log = logging.getLogger(__name__)

BATCH = timedelta(hours=6)


def f32(x: float) -> float:
    """Round to float32 precision, as the plant's historian stores values."""
    return float(np.float32(x))


@dataclass
class Channel:
    """One scanned, deadband-logged signal."""

    var: Variable
    scan: timedelta
    phase_ms: int
    deadband: float
    rng: random.Random
    state: dict = field(default_factory=dict)
    logged: float | None = None

    def first_scan(self, after: datetime) -> datetime:
        """First scan time at or after ``after`` on this channel's own millisecond phase."""
        base = after.replace(microsecond=0) + timedelta(milliseconds=self.phase_ms)
        while base < after:
            base += self.scan
        return base

    def sample(self, t: datetime) -> float:
        return SIGNALS[self.var.key](self, t)

    def scan_at(self, t: datetime) -> Row | None:
        """Scan once; return the row to log, or ``None`` when within the deadband."""
        value = f32(self.sample(t))
        if self.logged is not None and abs(value - self.logged) < self.deadband:
            return None
        self.logged = value
        # A few ms of scan jitter: no two tables ever share a timestamp.
        jitter = timedelta(microseconds=self.rng.randrange(0, 4000))
        return (t + jitter, value)


def _batch_hours(t: datetime) -> float:
    epoch = datetime(2000, 1, 1)
    return ((t - epoch) % BATCH) / timedelta(hours=1)


def _temperature(ch: Channel, t: datetime) -> float:
    drift = ch.state.get("drift", 0.0) + ch.rng.gauss(0, 0.004)
    drift = max(-0.04, min(0.04, drift * 0.999))
    ch.state["drift"] = drift
    slow = 0.08 * math.sin(2 * math.pi * (t.timestamp() % 2400) / 2400)
    return min(37.4, max(37.1, 37.25 + slow + drift + ch.rng.gauss(0, 0.004)))


def _ph(ch: Channel, t: datetime) -> float:
    return 7.28 - 0.03 * _batch_hours(t) + ch.rng.gauss(0, 0.0016)


def _dissolved_oxygen(ch: Channel, t: datetime) -> float:
    # PI control of DO at 40 % against an oxygen uptake that rises through the batch.
    do = ch.state.get("do", 40.0)
    integral = ch.state.get("i", 0.0)
    dt = ch.scan.total_seconds()
    uptake = 0.4 + 0.15 * _batch_hours(t) / 6 + ch.rng.gauss(0, 0.6)
    error = 40.0 - do
    integral = max(-50.0, min(50.0, integral + error * dt * 0.02))
    supply = max(0.0, 0.4 + 0.25 * error + integral * 0.05)
    do = max(0.0, min(100.0, do + (supply - uptake) * dt * 0.5))
    ch.state.update(do=do, i=integral)
    return max(0.0, min(100.0, do + ch.rng.gauss(0, 0.22)))  # probe noise


def _pressure(ch: Channel, t: datetime) -> float:
    level = ch.state.get("p", 0.064)
    if ch.rng.random() < 0.07:  # occasional step of one quantum
        level += ch.rng.choice((-0.002, 0.002))
    level = min(0.09, max(0.04, level))
    ch.state["p"] = level
    return round(level / 0.002) * 0.002


SIGNALS = {
    "temperature": _temperature,
    "ph": _ph,
    "dissolved_oxygen": _dissolved_oxygen,
    "pressure": _pressure,
}

#: scan period, millisecond phase and deadband per variable
PROFILE = {
    "temperature": (timedelta(seconds=1), 137, 0.02),
    "ph": (timedelta(seconds=2), 512, 0.003),
    "dissolved_oxygen": (timedelta(seconds=1), 829, 0.5),
    "pressure": (timedelta(milliseconds=1500), 301, 0.0015),
}


class Plant:
    """The four channels, scanned in time order."""

    def __init__(self, seed: int = 7) -> None:
        self.channels = [
            Channel(v, *PROFILE[v.key], rng=random.Random(seed * 31 + i))
            for i, v in enumerate(VARIABLES)
        ]
        self._next: dict[str, datetime] = {}

    def run(self, start: datetime, end: datetime) -> Iterator[tuple[Variable, Row]]:
        """Scan every channel from ``start`` up to (excluding) ``end``; yield logged rows."""
        for ch in self.channels:
            t = self._next.get(ch.var.key) or ch.first_scan(start)
            while t < end:
                row = ch.scan_at(t)
                if row is not None:
                    yield ch.var, row
                t += ch.scan
            self._next[ch.var.key] = t

    def start_at(self, t: datetime) -> None:
        """Begin scanning at ``t`` (no history)."""
        for ch in self.channels:
            self._next[ch.var.key] = ch.first_scan(t)

    def rows(self, start: datetime, end: datetime) -> dict[str, list[Row]]:
        out: dict[str, list[Row]] = {v.key: [] for v in VARIABLES}
        for var, row in self.run(start, end):
            out[var.key].append(row)
        return out


async def backfill(store: Store, plant: Plant, start: datetime, end: datetime) -> int:
    """Write history from ``start`` to ``end`` in chunks of an hour; return the row count."""
    total = 0
    t = start
    while t < end:
        stop = min(end, t + timedelta(hours=1))
        for key, rows in plant.rows(t, stop).items():
            if rows:
                total += await store.insert(BY_KEY[key], rows)
        t = stop
    return total


async def run_live(
    store: Store,
    plant: Plant,
    since: datetime,
    stop: asyncio.Event | None = None,
    tick: float = 0.1,
    batches: BatchWriter | None = None,
) -> None:
    """Keep writing rows as their scan times pass, until ``stop`` is set.

    A database outage is logged and survived: rows scanned meanwhile are kept and written when
    the database is back, so the history has no hole the plant did not have.
    """
    cursor = since
    backlog: dict[str, list[Row]] = {v.key: [] for v in VARIABLES}
    down = False
    while stop is None or not stop.is_set():
        now = store.settings.now()
        for key, rows in plant.rows(cursor, now).items():
            backlog[key].extend(rows)
        cursor = now
        if batches is not None:  # a phase that ended, a batch that began
            await batches.write_due(store, now)
        try:
            for key, rows in backlog.items():
                if rows:
                    await store.insert(BY_KEY[key], rows)
                    rows.clear()
            if down:
                log.info("database is back; backlog written")
                down = False
        except Exception as exc:
            if not down:
                log.warning("database unavailable (%s); keeping rows until it is back", exc)
                down = True
        await asyncio.sleep(tick)


async def start_plant(store: Store, history: timedelta) -> tuple[Plant, datetime]:
    """A plant with ``history`` back-filled up to now; returns it and where live rows go on."""
    plant = Plant()
    end = store.settings.now()
    if history > timedelta(0):
        n = await backfill(store, plant, end - history, end)
        log.info("back-filled %d rows over %s", n, history)
    else:
        plant.start_at(end)
    return plant, end


def run_simulator(settings, history: timedelta, *, live: bool = True) -> None:
    """``trending-panel simulate``: blocking; Ctrl-C stops it."""

    async def main() -> None:
        store = Store(settings, read_only=False)  # the one writer of the project
        try:
            await _until_ready(store)
            plant, end = await start_plant(store, history)
            batches = None
            if settings.events is not None:  # [events]: the batches, as a site's MES writes
                batches = BatchWriter(settings.events.table, end - history)
                await batches.write_due(store, end)
            if live:
                log.info("writing live rows to %s", settings.describe())
                await run_live(store, plant, end, batches=batches)
        finally:
            await store.close()

    asyncio.run(main())


async def _until_ready(store: Store, attempts: int = 60) -> None:
    """Create the schema, waiting for a database that is still starting (up to ~2 min)."""
    for attempt in range(attempts):
        try:
            await store.ensure_schema()
            return
        except Exception as exc:
            if attempt == attempts - 1:
                raise
            log.warning("database not ready (%s); retrying", error_line(exc))
            await asyncio.sleep(2)

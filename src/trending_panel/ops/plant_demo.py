"""The demo's small plant (issue 18): four bioreactors of twelve tags each beside the spec's four
tables, a metadata table that describes them, and a folder of displays with a default one.

History is computed by PostgreSQL (``generate_series``, a row every 5 s); live rows follow the
same signals, written every 5 s. The configuration the demo serves is what a site would
write: a ``[catalog]`` over ``BR*/*`` and ``CM_*/*``, the spec's four as ``[[variables]]``
(their keys, colours and limits), and ``default.toml`` showing those four, so the demo's
first page is the spec's; *Search tags* finds the other 48.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from trending_panel.core.displays import Display, Displays, TrendSpec
from trending_panel.core.variables import VARIABLES, Variable
from trending_panel.db.store import Store

log = logging.getLogger(__name__)

REACTORS = ("BR01", "BR02", "BR03", "BR04")
#: Rows of the plant's tags are this far apart.
STEP = timedelta(seconds=5)
METADATA = "plant_tags"


@dataclass(frozen=True)
class TagKind:
    """One kind of tag of every bioreactor, and its signal."""

    name: str
    label: str
    unit: str
    base: float
    amplitude: float
    period_s: float
    noise: float
    low: float | None = None
    high: float | None = None
    description: str = ""


KINDS = (
    TagKind("TEMP_PV", "temperature", "°C", 37.0, 0.15, 2400, 0.02, 36.5, 37.8,
            "Broth temperature, Pt100"),
    TagKind("TEMP_SP", "temperature set point", "°C", 37.0, 0.0, 3600, 0.0),
    TagKind("JACKET_TEMP_PV", "jacket temperature", "°C", 35.5, 0.8, 2400, 0.05),
    TagKind("PH_PV", "pH", "", 7.1, 0.05, 7200, 0.004, 6.9, 7.4, "Glass electrode"),
    TagKind("DO_PV", "dissolved oxygen", "%", 40.0, 3.0, 900, 0.4, 30.0, 60.0,
            "Polarographic probe"),
    TagKind("AGIT_PV", "agitation", "rpm", 180.0, 10.0, 5400, 1.0),
    TagKind("PRES_PV", "head pressure", "bar", 0.35, 0.02, 1800, 0.003, None, 0.8),
    TagKind("AIR_FLOW", "air flow", "L/min", 2.0, 0.3, 3600, 0.05),
    TagKind("O2_FLOW", "oxygen flow", "L/min", 0.4, 0.2, 900, 0.02),
    TagKind("CO2_OUT", "off-gas CO2", "%", 3.5, 0.6, 7200, 0.05),
    TagKind("FEED_PV", "feed rate", "L/h", 0.12, 0.03, 10800, 0.004),
    TagKind("LEVEL_PV", "level", "L", 180.0, 6.0, 21600, 0.3),
)  # fmt: skip


@dataclass(frozen=True)
class PlantTag:
    var: Variable
    kind: TagKind
    phase: float
    description: str

    @property
    def signal(self) -> tuple[float, float, float, float, float]:
        k = self.kind
        return (k.base, k.amplitude, k.period_s, self.phase, k.noise)

    def value(self, t: datetime, rng: random.Random) -> float:
        k = self.kind
        seconds = (t - datetime(1970, 1, 1)).total_seconds()
        wave = k.amplitude * math.sin(2 * math.pi * seconds / k.period_s + self.phase)
        return k.base + wave + k.noise * rng.uniform(-1, 1)


def plant_tags() -> list[PlantTag]:
    """The 48 tags, ``BR01/TEMP_PV`` …, each its own phase."""
    out = []
    for r, reactor in enumerate(REACTORS):
        for i, kind in enumerate(KINDS):
            name = f"{reactor}/{kind.name}"
            var = Variable(name, name, f"{reactor} {kind.label}", kind.unit, "#1f77b4", 3,
                           kind.low, kind.high)  # fmt: skip
            about = f"Bioreactor {r + 1}" + (f": {kind.description}" if kind.description else "")
            out.append(PlantTag(var, kind, 0.7 * r + 0.3 * i, about))
    return out


EVENTS = "batch_events"
#: A batch's phases and how long each lasts; batches follow each other with a turnaround.
PHASES = (
    ("inoculation", timedelta(hours=4)),
    ("batch", timedelta(days=2)),
    ("fed-batch", timedelta(days=3, hours=6)),
    ("harvest", timedelta(hours=6)),
)
TURNAROUND = (timedelta(hours=10), timedelta(hours=30))

CONFIG = """# The demo's site: the spec's four tables, and a plant of tags beside them.
[catalog]
include = ["BR*/*", "CM_*/*"]
metadata = "plant_tags"

[events]
table = "batch_events"
"""


def batch_events(start: datetime, now: datetime) -> list[tuple]:
    """Each bioreactor's batches from ``start`` to ``now``, one row per phase and one per
    batch (``phase`` NULL), in ``batch_events``' columns: the running batch's current phase
    and the batch itself have no end yet; phases still to come are not written."""
    rng = random.Random(20)
    rows: list[tuple] = []
    for r, reactor in enumerate(REACTORS):
        t = start + timedelta(hours=9 * r)
        number = 1
        while t < now:
            batch_id = f"{reactor}-{start.year}-{number:03d}"
            phases, at = [], t
            for name, length in PHASES:
                if at >= now:
                    break
                end = at + length * rng.uniform(0.85, 1.15)
                phases.append((at, None if end > now else end, batch_id, name, reactor, None))
                at = end
            running = at > now or phases[-1][1] is None
            rows += phases
            rows.append((t, None if running else at, batch_id, None, reactor,
                         f"{reactor}: fed-batch culture, run {number}"))  # fmt: skip
            t = at + rng.uniform(0, 1) * (TURNAROUND[1] - TURNAROUND[0]) + TURNAROUND[0]
            number += 1
    return rows


def write_site(folder: Path) -> tuple[Path, Path]:
    """The demo's ``TRENDING_CONFIG`` file and displays folder (with ``default.toml``: the
    spec's four, each on its own trend, and a display of bioreactor 1) in ``folder``."""
    config = folder / "trending.toml"
    entries = []
    for v in VARIABLES:
        limits = "".join(f"{side} = {value!r}\n" for side, value in (("low", v.low),
                         ("high", v.high)) if value is not None)  # fmt: skip
        entries.append(
            f'\n[[variables]]\ntable = "{v.table}"\nlabel = "{v.label}"\nunit = "{v.unit}"\n'
            f'key = "{v.key}"\ncolor = "{v.color}"\ndecimals = {v.decimals}\n{limits}'
        )
    config.write_text(CONFIG + "".join(entries), encoding="utf-8")
    displays = Displays(folder / "displays")
    displays.folder.mkdir(exist_ok=True)
    displays.save(Display("default", tuple(TrendSpec((v.key,)) for v in VARIABLES)))
    displays.save(
        Display(
            "bioreactor-1",
            (
                TrendSpec(("BR01/TEMP_PV", "BR01/JACKET_TEMP_PV", "BR01/TEMP_SP")),
                TrendSpec(("BR01/PH_PV",), 6.8, 7.5),
                TrendSpec(("BR01/DO_PV", "BR01/AGIT_PV")),
                TrendSpec(("BR01/AIR_FLOW", "BR01/O2_FLOW")),
            ),
        )
    )
    return config, displays.folder


async def build_plant(store: Store, start: datetime, end: datetime) -> int:
    """The plant's tables (with a time index), their history and the metadata table."""
    tags = plant_tags()
    await store.ensure_schema([t.var for t in tags])
    total = 0
    for tag in tags:
        total += await store.insert_generated(tag.var, start, end, STEP, tag.signal)
    await store.write_metadata(
        METADATA,
        [(t.var.table, t.var.label, t.var.unit, t.var.low, t.var.high, t.description)
         for t in tags],
    )  # fmt: skip
    events = batch_events(start, end)
    await store.write_events(EVENTS, events)
    log.info("demo plant: %d tags, %d rows of history, %d batch events", len(tags), total,
             len(events))  # fmt: skip
    return total


async def run_plant_live(store: Store, since: datetime, stop: asyncio.Event) -> None:
    """A row per tag every :data:`STEP`, from ``since`` until ``stop`` is set (an outage is
    waited out: the rows of the time it lasted are written when it ends)."""
    tags = plant_tags()
    rng = random.Random(11)
    t = since + STEP
    while not stop.is_set():
        while t <= store.settings.now():
            try:
                for tag in tags:
                    await store.insert(tag.var, [(t, tag.value(t, rng))])
            except Exception as exc:  # the database is down: try the same instant again
                log.debug("demo plant: %s", exc)
                break
            t += STEP
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), STEP.total_seconds() / 2)

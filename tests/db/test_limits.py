"""Bounded resources: slots per process and per user, and the cap on rows one read may hold."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from tests.harness.database import insert
from trending_panel.core.errors import Busy, TooManyRows
from trending_panel.core.variables import BY_KEY
from trending_panel.db.store import Store
from trending_panel.live.feed import LiveFeed
from trending_panel.live.slots import BACKGROUND, Slots
from trending_panel.web.dashboard import Dashboard

TEMP = BY_KEY["temperature"]
T0 = datetime(2024, 5, 1, 12, 0)


def test_exports_take_a_slot_at_once_or_are_refused_with_a_reason():
    async def main():
        slots = Slots("CSV export")
        async with slots.now(2, "ip:10.0.0.1"):
            with pytest.raises(Busy, match="another CSV export of yours"):
                async with slots.now(2, "ip:10.0.0.1"):
                    pass
            async with slots.now(2, "ip:10.0.0.2"):
                with pytest.raises(Busy, match="2 CSV exports are running"):
                    async with slots.now(2, "ip:10.0.0.3"):
                        pass
        async with slots.now(2, "ip:10.0.0.1"):  # released: free again
            return True

    assert asyncio.run(main())


def test_loads_wait_for_a_slot_within_their_deadline():
    async def main():
        slots = Slots("window load")
        order = []

        async def load(name, hold):
            async with slots.wait(2, timeout=1.0):
                order.append(name)
                await asyncio.sleep(hold)

        await asyncio.gather(load("a", 0.3), load("b", 0.3), load("c", 0))
        assert order == ["a", "b", "c"]  # c waited for a slot, then ran
        blocker = asyncio.ensure_future(load("d", 1.0))
        blocker2 = asyncio.ensure_future(load("e", 1.0))
        await asyncio.sleep(0.05)
        with pytest.raises(Busy, match=r"no slot within 0\.2 s"):
            async with slots.wait(2, timeout=0.2):
                pass
        await asyncio.gather(blocker, blocker2)

    asyncio.run(main())


def test_a_page_goes_ahead_of_background_work_which_never_holds_every_slot():
    async def main():
        slots = Slots("window load")
        order: list[str] = []
        release = asyncio.Event()

        async def work(name: str, kind: int) -> None:
            async with slots.wait(3, timeout=None, kind=kind):
                order.append(name)
                await release.wait()

        # Background work takes at most two of three slots: a page is served at once.
        builds = [asyncio.ensure_future(work(f"build{i}", BACKGROUND)) for i in range(4)]
        await asyncio.sleep(0.05)
        assert order == ["build0", "build1"] and slots.busy(3) == (0, 2)
        page = asyncio.ensure_future(work("page", 0))
        await asyncio.sleep(0.05)
        assert order[-1] == "page" and slots.busy(3) == (1, 2)
        # With every slot taken, a waiting page goes before the builds that waited longer.
        late_page = asyncio.ensure_future(work("late page", 0))
        await asyncio.sleep(0.05)
        assert "late page" not in order
        release.set()
        await asyncio.gather(*builds, page, late_page)
        assert order.index("late page") < order.index("build2")
        assert slots.busy(3) == (0, 0)

    asyncio.run(main())


def test_a_read_over_the_row_cap_is_refused_and_a_window_is_read_in_slices_under_it(db, tables):
    # every 10 s: the last minute (what streaming de-duplicates against) is under the cap
    insert(tables, TEMP.table, [(T0 + timedelta(seconds=10 * k), float(k)) for k in range(11)])
    capped = replace(db, max_rows=10)

    async def main():
        async with Store(capped) as store:
            ok = await store.window([TEMP], T0, T0 + timedelta(seconds=90))
            with pytest.raises(TooManyRows, match="more than 10 rows"):
                await store.window([TEMP], T0, T0 + timedelta(seconds=100))
            feed = LiveFeed(store, capped)
            dash = Dashboard(capped, feed=feed, autostart=False, window="all")
            await feed.poll()
            loaded = await dash.load()
            return len(ok[TEMP.key]), loaded

    rows, loaded = asyncio.run(main())
    assert rows == 10
    # The page's load never holds more than the cap: 11 rows are read in slices of at most 10
    # and drawn reduced, with their statistics from the same pass.
    drawn = loaded.drawn[TEMP.key]
    assert drawn.rows == 11 and drawn.totals.samples == 11
    assert loaded.stats()[0][TEMP.key].max == 10.0

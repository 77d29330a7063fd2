"""Dashboard state without a browser: window loads, live streaming, late rows, outages."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime, timedelta

import numpy as np

from tests.harness.database import insert
from trending_panel.core.rows import to_ms
from trending_panel.core.settings import Settings
from trending_panel.core.variables import BY_KEY, VARIABLES
from trending_panel.db.store import Store
from trending_panel.live.feed import LiveFeed
from trending_panel.web.dashboard import Dashboard
from trending_panel.web.views import Header, Trends

OLD = datetime(2023, 3, 1, 16, 0)  # the reference batch ended years ago
TEMP, PH = BY_KEY["temperature"], BY_KEY["ph"]


def samples(dash: Dashboard, key: str) -> list[tuple[datetime, float]]:
    data = dash.sources[key].data
    mask = np.asarray(data["sample"]) == 1
    times = np.asarray(data["time"], dtype="datetime64[us]")[mask]
    return [
        (t.item(), float(v)) for t, v in zip(times, np.asarray(data["value"])[mask], strict=True)
    ]


def header_of(dash: Dashboard) -> tuple[str, str]:
    """The cards and the status line as the page's header shows them now."""
    header = Header(dash)
    return header.cards.object, header.status.object


def run_with_dashboard(settings, body, width=None, **params):
    async def main():
        async with unstarted_dashboard(settings, **params) as (dash, feed):
            if width is not None:
                dash._width = width  # what the browser reports as the plot's inner width
            await feed.poll()
            await dash.load()
            dash.tick()
            return await body(dash, feed)

    return asyncio.run(main())


def batch_rows(start: datetime, n: int, step: timedelta, base: float):
    return [(start + i * step, base + 0.01 * (i % 7)) for i in range(n)]


@contextlib.asynccontextmanager
async def unstarted_dashboard(settings, **params):
    """A dashboard and a feed of its own, neither started: the test polls, loads and ticks."""
    async with Store(settings) as store:
        feed = LiveFeed(store, settings)
        yield Dashboard(settings, feed=feed, autostart=False, **params), feed


def ten_minutes_of_temperature(tables) -> None:
    """60 temperature rows 10 s apart, the last 10 s before ``OLD``."""
    insert(
        tables, TEMP.table, batch_rows(OLD - timedelta(minutes=10), 60, timedelta(seconds=10), 37.2)
    )


def test_relative_window_on_a_years_old_database_shows_its_last_hour(db, tables):
    rows = batch_rows(OLD - timedelta(hours=6), 6 * 360, timedelta(seconds=10), 37.2)
    insert(tables, TEMP.table, rows)

    async def body(dash, feed):
        return samples(dash, "temperature"), (dash.x_range.start, dash.x_range.end)

    shown, (x0, x1) = run_with_dashboard(db, body)
    last_hour = [r for r in rows if r[0] >= rows[-1][0] - timedelta(hours=1)]
    assert shown == last_hour and len(shown) == 361
    assert (x0, x1) == (to_ms(rows[-1][0] - timedelta(hours=1)), to_ms(rows[-1][0]))


def test_absolute_window_and_24h_window(db, tables):
    rows = batch_rows(OLD - timedelta(hours=30), 30 * 60, timedelta(minutes=1), 7.1)
    insert(tables, PH.table, rows)
    start, end = OLD - timedelta(hours=10), OLD - timedelta(hours=9)

    async def body(dash, feed):
        first = samples(dash, "ph")
        dash.param.update(window="24h")  # schedules a load, as a click does
        await dash.settled()
        dash.tick()
        return first, samples(dash, "ph")

    absolute, day = run_with_dashboard(db, body, window="custom", start=start, end=end)
    assert absolute == [r for r in rows if start <= r[0] <= end]
    assert day == [r for r in rows if r[0] >= rows[-1][0] - timedelta(hours=24)]


def test_new_rows_stream_in_and_the_window_follows(db, tables):
    ten_minutes_of_temperature(tables)

    async def body(dash, feed):
        before = len(dash.sources["temperature"].data["time"])
        new = [(OLD + timedelta(seconds=5), 37.31), (OLD + timedelta(seconds=9), 37.33)]
        insert(tables, TEMP.table, new)
        await feed.poll()
        dash.tick()
        return before, samples(dash, "temperature")[-2:], dash.x_range.end, new

    before, tail, x_end, new = run_with_dashboard(db, body, window="5m")
    assert before > 0
    assert tail == new
    assert x_end == to_ms(new[-1][0])  # the relative window follows the newest sample


def test_a_row_written_before_the_feeds_first_look_still_reaches_a_page_loaded_earlier(db, tables):
    """A page read its window while the feed had not looked at the tables yet (the feed's
    first poll timed out: a notebook kernel busy drawing, a slow database). The feed's first
    look takes every row then present as known: one written in between reached neither."""
    ten_minutes_of_temperature(tables)

    async def main():
        async with unstarted_dashboard(db, window="15m") as (dash, feed):
            await dash.load()  # the feed has not polled: nothing is followed yet
            dash.tick()
            assert dash.read_again.unprimed == {"temperature", "ph", "dissolved_oxygen", "pressure"}
            row = (OLD + timedelta(seconds=5), 39.876)
            insert(tables, TEMP.table, [row])
            await feed.poll()  # its first look: the row is taken as known, never handed on
            dash.tick()  # the page sees the feed follow its tags now, and reads again
            await dash.settled()
            dash.tick()
            return row, samples(dash, "temperature"), dash.read_again.unprimed

    row, shown, unprimed = asyncio.run(main())
    assert shown[-1] == row and len(shown) == 61
    assert unprimed == frozenset()


def test_a_load_and_new_rows_in_one_tick_reach_the_page_once(db, tables):
    """Served, a tick goes to the page as one held message: a replaced source is sent as it
    is at the hold's end, so rows streamed after the replacement went twice (seen in Chromium:
    a live and a late row drawn twice after a reload, under load). The page's copy is rebuilt
    here from the very messages Bokeh sends, in order."""
    from bokeh.core.serialization import Deserializer
    from bokeh.document import Document
    from bokeh.protocol import Protocol

    ten_minutes_of_temperature(tables)

    async def main():
        async with unstarted_dashboard(db, window="15m") as (dash, feed):
            doc = Document()
            for source in dash.sources.values():
                doc.add_root(source)
            sent = []
            doc.on_change(lambda event: sent.append(Protocol().create("PATCH-DOC", [event])))
            await feed.poll()
            await dash.load()  # parked for the tick
            new = [(OLD + timedelta(seconds=5), 37.31), (OLD + timedelta(seconds=9), 37.33)]
            insert(tables, TEMP.table, new)
            await feed.poll()  # queued for the same tick
            doc.hold("combine")  # what the served tick does (pn.io.hold)
            dash.tick()
            doc.unhold()
            page: dict[str, list] = {}
            source_id = dash.sources["temperature"].id
            for message in sent:
                for event in message.content["events"]:
                    if event.get("model", {}).get("id") != source_id:
                        continue
                    data = Deserializer().deserialize(event["data"])
                    if event["kind"] == "ColumnsStreamed":
                        page = {k: [*page[k], *data[k]] for k in page}
                    else:
                        page = {k: list(v) for k, v in data.items()}
            flags = np.asarray(page["sample"]) == 1
            on_page = np.asarray(page["value"])[flags].tolist()
            return on_page, samples(dash, "temperature"), new

    on_page, shown, new = asyncio.run(main())
    assert shown[-2:] == new and len(shown) == 62
    assert on_page == [v for _, v in shown]  # each row once on the page too


def test_a_row_read_by_a_window_ending_in_the_future_is_not_streamed_again(db, tables):
    """An absolute window reaching past the newest row (a shift's window, still open): a row
    its load read and the feed delivered afterwards went onto the page twice (its tail, what
    the feed may deliver again, was taken before the window's end, where no row was yet)."""
    ten_minutes_of_temperature(tables)
    start, end = OLD - timedelta(hours=1), OLD + timedelta(hours=1)

    async def main():
        async with unstarted_dashboard(db, window="custom", start=start, end=end) as (dash, feed):
            await feed.poll()
            new = [(OLD + timedelta(seconds=5), 37.31), (OLD - timedelta(seconds=25), 36.5)]
            insert(tables, TEMP.table, new)
            await dash.load()  # reads the new rows...
            await feed.poll()  # ...which the feed then delivers
            dash.tick()
            return samples(dash, "temperature"), new

    shown, new = asyncio.run(main())
    assert len(shown) == 62 and len(set(shown)) == 62
    assert set(new) <= set(shown)


def test_late_row_is_inserted_in_time_order(db, tables):
    rows = batch_rows(OLD - timedelta(minutes=2), 12, timedelta(seconds=10), 37.2)
    insert(tables, TEMP.table, rows)

    async def body(dash, feed):
        late = (OLD - timedelta(seconds=25), 36.5)
        insert(tables, TEMP.table, [late])
        await feed.poll()
        dash.tick()
        return samples(dash, "temperature"), late

    shown, late = run_with_dashboard(db, body, window="15m")
    assert late in shown
    assert [t for t, _ in shown] == sorted(t for t, _ in shown)
    assert len(shown) == len(rows) + 1


def test_thirty_minute_outage_is_drawn_as_a_break(db, tables):
    before = batch_rows(OLD - timedelta(hours=1), 60, timedelta(seconds=20), 37.2)
    after = batch_rows(before[-1][0] + timedelta(minutes=30), 30, timedelta(seconds=20), 37.3)
    insert(tables, TEMP.table, before + after)

    async def body(dash, feed):
        data = dash.sources["temperature"].data
        return np.asarray(data["time"], dtype="datetime64[us]"), np.asarray(data["value"])

    times, values = run_with_dashboard(db, body, window="6h")
    t_last, t_next = np.datetime64(before[-1][0], "us"), np.datetime64(after[0][0], "us")
    # exactly one NaN break, at the end of the last row before the outage
    nan_at = times[np.isnan(values)]
    assert list(nan_at) == [t_last]
    # and no vertex with a value anywhere inside the outage
    inside = (times > t_last) & (times < t_next)
    assert not inside.any()


def test_null_values_are_gaps_and_shown_in_the_header(db, tables):
    insert(
        tables,
        PH.table,
        [(OLD - timedelta(seconds=20), 7.1), (OLD - timedelta(seconds=10), None), (OLD, 7.0)],
    )
    insert(tables, TEMP.table, [(OLD, None)])

    async def body(dash, feed):
        return (np.asarray(dash.sources["ph"].data["value"]), *header_of(dash))

    ph_values, cards, status = run_with_dashboard(db, body)
    assert np.isnan(ph_values).sum() == 1
    assert 'data-key="temperature"' in cards and "NULL" in cards
    assert "Live" in status


def test_missing_table_is_named_and_the_rest_still_shown(db, conn):
    from psycopg import sql

    conn.execute(
        sql.SQL("CREATE TABLE {} (time timestamp, value double precision)").format(
            sql.Identifier(PH.table)
        )
    )
    insert(conn, PH.table, [(OLD, 7.2)])

    async def body(dash, feed):
        return samples(dash, "ph"), header_of(dash)[1]

    shown, status = run_with_dashboard(db, body)
    assert shown == [(OLD, 7.2)]
    for var in VARIABLES:
        assert (f"{var.table}: not found" in status) == (var is not PH)


def test_variable_selection_hides_plots_and_limits_the_csv(db, tables):
    insert(tables, PH.table, [(OLD, 7.2)])
    insert(tables, TEMP.table, [(OLD, 37.2)])

    async def body(dash, feed):
        trends = Trends(dash)
        dash.variables = ["ph"]
        await dash.settled()
        dash.tick()
        csv = (await dash.csv_file()).read().decode()
        return [r.visible for r in trends.rows.values()], csv, dash.csv_filename

    visible, csv, filename = run_with_dashboard(db, body)
    assert visible == [v is PH for v in VARIABLES]
    assert csv.splitlines() == ["time,ph", "2023-03-01T16:00:00.000000,7.2"]
    assert filename == "trending_20230301T150000_20230301T160000.csv"


def test_trend_starts_at_the_window_edge_and_holds_to_the_newest_sample(db, tables):
    """By exception: the row before the window still holds at its start, and the last row of a
    quiet variable holds until the newest sample of any table."""
    insert(
        tables,
        TEMP.table,
        [(OLD - timedelta(minutes=6), 37.5), (OLD - timedelta(minutes=2), 37.55)],
    )
    insert(tables, PH.table, [(OLD, 7.1)])

    async def body(dash, feed):
        data = dash.sources["temperature"].data
        hold = dash.holds["temperature"].data
        return (
            np.asarray(data["time"], dtype="datetime64[us]"),
            list(data["value"]),
            list(data["sample"]),
            list(hold["time"]),
            list(hold["value"]),
        )

    times, values, flags, hold_t, hold_v = run_with_dashboard(db, body, window="5m")
    assert times[0].item() == OLD - timedelta(minutes=6) and values[0] == 37.5 and flags[0] == 0
    assert (times[1].item(), values[1]) == (OLD - timedelta(minutes=2), 37.5)  # held corner
    assert hold_t == [OLD - timedelta(minutes=2), OLD]
    assert hold_v == [37.55, 37.55]


def test_a_window_too_large_for_the_plot_width_is_drawn_from_its_m4_reduction(db, tables):
    rows = batch_rows(OLD - timedelta(hours=5), 5000, timedelta(seconds=3), 37.2)
    insert(tables, TEMP.table, rows)

    async def body(dash, feed):
        shown = samples(dash, "temperature")
        new = (OLD + timedelta(seconds=1), 37.9)
        insert(tables, TEMP.table, [new])
        await feed.poll()
        dash.tick()  # live rows still stream in raw
        return shown, samples(dash, "temperature")[-1], new, header_of(dash)[1]

    shown, last, new, status = run_with_dashboard(db, body, width=300, window="6h")
    assert 0 < len(shown) <= 4 * 300 and set(shown) <= set(rows)
    assert shown[0] == rows[0] and shown[-1] == rows[-1]  # first and last always kept
    assert last == new
    assert "Temperature: 5,000 rows here, drawn from their" in status


def test_cards_show_each_variables_age_and_flag_stale_ones(db, tables):
    now = db.now()
    insert(tables, TEMP.table, [(now - timedelta(seconds=3), 37.2)])
    insert(tables, PH.table, [(now - timedelta(minutes=20), 7.1)])  # quiet past the gap limit

    async def body(dash, feed):
        return header_of(dash)[0]

    cards = run_with_dashboard(db, body)
    temp_card = cards.split('data-key="temperature"')[0].rsplit("<div", 1)[1]
    ph_card = cards.split('data-key="ph"')[0].rsplit("<div", 1)[1]
    assert "tp-stale" not in temp_card and "tp-stale" in ph_card
    assert "s ago</span>)" in cards and "min ago</span>)" in cards


def test_the_header_is_not_sent_again_for_its_ages_alone(db, tables, monkeypatch):
    """The browser counts the ages on (web/ages.js): a later clock with the same samples
    leaves the header's texts as they were sent; a sensor turning stale changes them."""
    now = db.now()
    insert(tables, TEMP.table, [(now - timedelta(seconds=3), 37.2)])

    async def body(dash, feed):
        head = Header(dash)
        sent = head.cards.object, head.status.object
        monkeypatch.setattr(Settings, "now", lambda self: now + timedelta(seconds=40))
        head.refresh()
        later = head.cards.object, head.status.object
        monkeypatch.setattr(Settings, "now", lambda self: now + dash.settings.gap * 2)
        head.refresh()
        return sent, later, head.cards.object

    sent, later, stale = run_with_dashboard(db, body)
    assert "s ago" in sent[0] and "newest sample" in sent[1]
    assert later == sent  # 43 s old now, but only the browser's count says so
    assert "tp-stale" in stale and "min ago" in stale


def test_a_closed_session_stops_listening_to_the_feed(db, tables):
    async def body(dash, feed):
        other = Dashboard(db, feed=feed, autostart=False)
        before = feed.subscribers
        other.clock._destroyed(None)  # what Panel calls when the browser tab's session ends
        return before, feed.subscribers

    before, after = run_with_dashboard(db, body)
    assert (before, after) == (2, 1)


def test_a_slow_tick_neither_piles_up_nor_starves_the_loop():
    """In a notebook the session ticks on the kernel's loop. A tick that overruns its period
    must leave the loop turns for everything else (loads, the feed), and ticks never overlap
    (Panel's loop-based periodic callback starves the loop then: panel#8751)."""
    from trending_panel.web.ticker import Ticker

    async def main():
        running, overlaps, other = 0, 0, 0

        def slow_tick():
            nonlocal running, overlaps
            running += 1
            overlaps = max(overlaps, running)
            time.sleep(0.4)  # a tick longer than its 0.25 s period
            running -= 1

        async def other_work():
            nonlocal other
            while True:
                await asyncio.sleep(0.005)
                other += 1

        ticker = Ticker(slow_tick, 0.25)
        worker = asyncio.get_running_loop().create_task(other_work())
        await asyncio.sleep(2.0)
        ticker.stop()
        worker.cancel()
        return ticker.ticks, overlaps, other

    ticks, overlaps, other = asyncio.run(main())
    assert overlaps == 1
    assert 3 <= ticks <= 6  # no catching up on missed beats
    assert other >= ticks - 1  # the loop turned between every two ticks


def test_a_notebook_dashboard_ticks_with_its_own_ticker(db, tables):
    from trending_panel.web.ticker import Ticker

    async def main():
        async with Store(db) as store:
            feed = LiveFeed(store, db)
            dash = Dashboard(db, feed=feed, summary=None, autostart=True)
            ticker = dash.clock.periodic
            await asyncio.sleep(0.6)
            ticker.stop()
            await dash.settled()
            return ticker

    ticker = asyncio.run(main())
    assert isinstance(ticker, Ticker) and ticker.ticks >= 2


def test_dataframe_and_stats_for_a_notebook(db, tables):
    rows = batch_rows(OLD - timedelta(minutes=50), 300, timedelta(seconds=10), 37.2)
    insert(tables, TEMP.table, rows)
    insert(tables, PH.table, [(OLD - timedelta(minutes=5), None), (OLD, 7.1)])
    store = Store(db)
    try:
        dash = Dashboard(db, feed=LiveFeed(store, db), autostart=False, window="1h")
        frame = dash.dataframe()
        table = dash.stats()
    finally:
        asyncio.run(store.close())
    assert list(frame.columns) == ["time", "variable", "value"]
    temp = frame[frame["variable"] == "temperature"]
    assert [(t.to_pydatetime(), v) for t, v in zip(temp["time"], temp["value"], strict=True)] == [
        r for r in rows if r[0] >= OLD - timedelta(hours=1)
    ]
    ph = frame[frame["variable"] == "ph"]["value"].tolist()
    assert np.isnan(ph[0]) and ph[1] == 7.1  # NULL is missing, not zero
    assert list(table.columns)[:3] == ["variable", "unit", "samples"]
    assert table.set_index("variable").loc["temperature", "samples"] == len(temp)
    assert table.set_index("variable").loc["ph", "samples"] == 1


def test_a_wide_window_opened_while_the_summary_builds_is_drawn_at_once_with_statistics(db, tables):
    """No page waits for the summary: a 7-day window is reduced at pixel width in one pass
    over the database, its statistics come from the same pass, and the header says why."""
    from tests.harness.stats_reference import assert_equal_stats, sql_stats
    from trending_panel.live.summary import Summary

    rows = batch_rows(OLD - timedelta(days=7), 7 * 1440, timedelta(minutes=1), 37.2)
    insert(tables, TEMP.table, rows)

    async def main():
        async with Store(db) as store:
            feed = LiveFeed(store, db)
            summary = Summary(feed, db)
            summary.param.update(state="building", progress=0.27)  # not started: never ready
            dash = Dashboard(db, feed=feed, summary=summary, autostart=False, window="7d")
            dash._width = 500
            await feed.poll()
            loaded = await dash.load()
            dash.tick()
            return loaded, dash, header_of(dash)[1]

    loaded, dash, status = asyncio.run(main())
    drawn = loaded.drawn["temperature"]
    assert drawn.source == "database" and drawn.reduced and drawn.samples <= 4 * 500
    assert drawn.rows == len(rows)
    start, end = loaded.extent
    want = sql_stats(tables, TEMP, start, end, db.gap)
    assert_equal_stats(dash.current_stats["temperature"], want, (end - start).total_seconds())
    assert "summarising the history (20%)" in status  # in tens of percent


def test_a_served_page_is_freed_with_its_session_and_leaves_no_watcher_behind(db):
    """panel-material-ui binds each Page's busy bar to Panel's process-wide state: the page
    unbinds it (a watcher on a global kept every closed session alive), and follows its own
    session's loads instead."""
    import gc
    import weakref

    from panel.io.state import state

    from trending_panel.web.layout import page

    def busy_watchers() -> int:
        return sum(len(w) for w in state._param__private.watchers.get("busy", {}).values())

    async def main():
        async with Store(db) as store:
            feed = LiveFeed(store, db)
            before = busy_watchers()
            dash = Dashboard(db, feed=feed, autostart=False)
            shell = page(dash)
            assert busy_watchers() == before
            dash.loading = True
            assert shell.busy  # the bar shows this session's load
            dash.loading = False
            assert not shell.busy
            refs = weakref.ref(dash), weakref.ref(shell)
            dash.let_go()  # what the session's end does
            del dash, shell
            gc.collect()
            return [r() is None for r in refs]

    assert asyncio.run(main()) == [True, True]


def test_trends_made_after_a_load_show_its_golden_batch_labels(db, tables):
    """Served, the trends are made a part per turn of the loop after the page has answered,
    and the first load can be applied before them: what the load set (the golden batch's
    label) must be on the trends made afterwards, not only on those that saw it change."""
    insert(tables, PH.table, [(OLD, 7.2)])

    async def body(dash, feed):
        dash.ref_labels = {"ph": "- - reference 2023-03-01T14:00:00"}
        trends = Trends(dash)
        return {
            key: [m.text for m in fig.select(name=f"ref-label-{key}")]
            for key, fig in trends.figures.items()
        }

    shown = run_with_dashboard(db, body)
    assert shown["ph"] == ["- - reference 2023-03-01T14:00:00"]
    assert shown["temperature"] == [""]

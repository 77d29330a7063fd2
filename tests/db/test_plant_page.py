"""A plant's page (issue 18): a page of a catalog of many tags shows a few pens, and only those
are polled and summarised. Against the suite's own PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from psycopg import sql

from tests.harness.database import create_metadata_table, create_tag_table, scratch_database
from trending_panel.core.pens import DEFAULT_TAGS
from trending_panel.core.tags import CatalogSpec
from trending_panel.db.store import Store
from trending_panel.live import interest
from trending_panel.live.feed import LiveFeed
from trending_panel.live.hub import hub_for
from trending_panel.live.summary import Summary
from trending_panel.web.dashboard import Dashboard
from trending_panel.web.views import Trends

#: 6 bioreactors x 5 tags (30 tables), and one table that is no tag.
UNITS = {"TEMP_PV": "°C", "PH_PV": "", "DO_PV": "%", "PRES_PV": "bar", "AGIT_PV": "rpm"}
TAGS = [f"BR{r:02d}/{t}" for r in range(1, 7) for t in UNITS]
NOW = datetime(2026, 11, 30, 12, 0)


@pytest.fixture
def plant(admin_settings) -> Iterator[tuple[object, object]]:
    with scratch_database(admin_settings, "tp_plant") as (db, conn):
        for i, name in enumerate(TAGS):
            table = create_tag_table(conn, name)
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} SELECT t, %s + extract(epoch FROM t - %s) / 3600"
                    " FROM generate_series(%s::timestamp - interval '2 hours', %s, '10 s') t"
                ).format(table),
                (i, NOW, NOW, NOW),
            )
        conn.execute('CREATE TABLE "OTHER/FLOW" (time timestamp, value double precision)')
        create_metadata_table(conn)
        conn.cursor().executemany(
            "INSERT INTO plant_tags VALUES (%s, %s, %s, NULL, NULL, '')",
            [(t, t.replace("/", " "), UNITS[t.split("/")[1]]) for t in TAGS],
        )
        settings = replace(
            db,
            variables=(),
            catalog=CatalogSpec(("BR*/*",), (), "plant_tags"),
            poll_interval=timedelta(milliseconds=200),
        )
        yield settings, conn


def test_the_default_page_shows_the_first_tags_and_only_they_are_polled(plant):
    settings, _ = plant

    async def main():
        async with Store(settings) as store:
            feed = LiveFeed(store, settings)
            await hub_for(feed).tags.refresh()
            assert await feed.poll() == {}  # nothing shown: nothing polled
            assert feed.watched_keys == frozenset()
            dash = Dashboard(settings, feed=feed, autostart=False)
            assert [v.key for v in dash.all_variables] == sorted(TAGS)[:DEFAULT_TAGS]
            assert all(len(t) == 1 for t in dash.trends)
            assert feed.watched_keys == {v.key for v in dash.all_variables}
            await feed.poll()
            assert set(feed.latest) == {v.key for v in dash.all_variables}
            loaded = await dash.load()
            assert loaded is not None
            dash.tick()
            drawn = {k for k, s in dash.sources.items() if len(s.data["time"])}
            assert drawn == {v.key for v in dash.all_variables}
            dash.let_go()
            assert feed.watched_keys == frozenset()
            await feed.poll()  # nothing shown any more: only a round trip
            assert feed.latest == {}

    asyncio.run(main())


def test_pens_of_two_units_share_a_trend_on_two_axes_and_a_third_starts_another(plant):
    settings, _ = plant
    asked = [["BR02/TEMP_PV", "BR03/TEMP_PV", "BR02/DO_PV", "BR02/PRES_PV"], ["BR05/PH_PV"]]

    async def main():
        async with Store(settings) as store:
            feed = LiveFeed(store, settings)
            await hub_for(feed).tags.refresh()
            dash = Dashboard(settings, feed=feed, autostart=False, pens=asked)
            assert dash.trends == (
                ("BR02/TEMP_PV", "BR03/TEMP_PV", "BR02/DO_PV"),
                ("BR02/PRES_PV",),
                ("BR05/PH_PV",),
            )
            colours = [v.color for v in dash.all_variables]
            assert len(set(colours)) == len(colours)  # each pen its own colour
            trends = Trends(dash, fill=True)
            first = trends.figures["BR02/TEMP_PV"]
            assert set(first.extra_y_ranges) == {"right"}
            assert [a.axis_label for a in first.yaxis] == ["°C", "%"]
            assert first.extra_y_ranges["right"].renderers == [
                r
                for r in first.renderers
                if r.name in ("line-BR02/DO_PV", "ref-line-BR02/DO_PV", "hold-BR02/DO_PV")
            ]
            assert not trends.figures["BR05/PH_PV"].extra_y_ranges
            # unticking a pen hides its lines and keeps its trend
            dash.variables = [k for k in dash.by_key if k != "BR03/TEMP_PV"]
            assert trends.rows["BR02/TEMP_PV"].visible
            hidden = first.select(name="line-BR03/TEMP_PV")
            assert [r.visible for r in hidden] == [False]
            dash.let_go()

    asyncio.run(main())


def test_unknown_pens_are_named_and_the_default_shown_instead(plant):
    settings, _ = plant

    async def main():
        async with Store(settings) as store:
            feed = LiveFeed(store, settings)
            await hub_for(feed).tags.refresh()
            dash = Dashboard(settings, feed=feed, autostart=False, pens=[["BR99/NOPE"]])
            assert "No such tag: BR99/NOPE" in dash.status_notes()[0].text
            assert len(dash.all_variables) == DEFAULT_TAGS
            dash.let_go()

    asyncio.run(main())


def test_the_summary_builds_what_pages_show_and_lets_idle_tags_go(plant, monkeypatch):
    settings, _ = plant

    async def main():
        async with Store(settings) as store:
            feed = LiveFeed(store, settings)
            tags = hub_for(feed).tags
            await tags.refresh()
            summary = Summary(feed, settings)
            feed.start()
            summary.start()
            assert not summary.variables  # a catalog pins nothing: nothing is read at start
            page = object()
            shown = [tags.get("BR01/DO_PV"), tags.get("BR04/AGIT_PV")]
            summary.want(page, shown)
            assert await summary.wait_ready(30)
            assert summary.holds("BR01/DO_PV") and summary.holds("BR04/AGIT_PV")
            assert not summary.holds("BR01/TEMP_PV")
            assert {"BR01/DO_PV", "BR04/AGIT_PV"} <= feed.watched_keys
            count = int(summary.buckets("BR01/DO_PV").count.sum())
            assert count == 2 * 360 + 1  # every row of the table, once
            summary.release(page)
            monkeypatch.setattr(interest, "IDLE_S", 0.0)
            summary._evict()
            assert not summary.holds("BR01/DO_PV")
            assert feed.watched_keys == frozenset()
            await summary.stop()
            await feed.stop()

    asyncio.run(main())


def test_a_table_created_later_becomes_a_tag_at_the_next_read(plant):
    settings, conn = plant

    async def main():
        async with Store(settings) as store:
            tags = hub_for(LiveFeed(store, settings)).tags
            await tags.refresh()
            assert tags.get("BR07/TEMP_PV") is None
            conn.execute('CREATE TABLE "BR07/TEMP_PV" (time timestamp, value double precision)')
            await tags.refresh()
            assert tags.get("BR07/TEMP_PV") is not None
            found, total = tags.search("br07")
            assert [t.key for t in found] == ["BR07/TEMP_PV"] and total == 1

    asyncio.run(main())


def test_the_csv_route_and_the_cli_take_any_tag_and_refuse_an_unknown_one(plant, tmp_path):
    settings, _ = plant
    from tests.harness.hostile import as_args
    from trending_panel.core.errors import BadRequest
    from trending_panel.serve.export_route import parse_query

    async def main():
        async with Store(settings) as store:
            tags = hub_for(LiveFeed(store, settings)).tags
            await tags.refresh()
            _, variables, _ = parse_query(
                as_args([("variables", b"BR02/PH_PV,BR06/AGIT_PV")]), settings, tags
            )
            assert [v.key for v in variables] == ["BR02/PH_PV", "BR06/AGIT_PV"]
            _, default, _ = parse_query({}, settings, tags)  # the default page's, not all
            assert [v.key for v in default] == sorted(TAGS)[:DEFAULT_TAGS]
            with pytest.raises(BadRequest, match=r"unknown variable.*BR09/X"):
                parse_query(as_args([("variables", b"BR09/X")]), settings, tags)

    asyncio.run(main())
    config = tmp_path / "plant.toml"
    config.write_text('[catalog]\ninclude = ["BR*/*"]\nmetadata = "plant_tags"\n')
    env = {**settings.to_env(), "TRENDING_CONFIG": str(config)}
    window = ["--start", "2026-11-30T11:00:00", "--end", "2026-11-30T12:00:00"]
    done = run_cli(env, "stats", *window, "--variables", "BR03/DO_PV")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and lines[1].startswith("BR03/DO_PV,")
    refused = run_cli(env, "stats", *window, "--variables", "BR09/X")
    assert refused.returncode == 2 and "unknown variable(s) BR09/X" in refused.stderr


def run_cli(env: dict, *args: str):
    import os
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "trending_panel.ops.cli", *args],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_page_opens_default_toml_or_the_display_asked_with_its_fixed_range(plant, tmp_path):
    settings, _ = plant
    settings = replace(settings, displays=str(tmp_path))
    (tmp_path / "default.toml").write_text(
        '[[trends]]\npens = ["BR06/DO_PV", "BR06/PH_PV"]\ny_min = 0\ny_max = 100\n',
        encoding="utf-8",
    )
    (tmp_path / "broken.toml").write_text("[[trends]]\npens = 3\n", encoding="utf-8")

    async def main():
        async with Store(settings) as store:
            feed = LiveFeed(store, settings)
            await hub_for(feed).tags.refresh()
            dash = Dashboard(settings, feed=feed, autostart=False)
            assert dash.trends == (("BR06/DO_PV", "BR06/PH_PV"),)
            assert dash.plan.display == "default"
            fig = Trends(dash, fill=True).figures["BR06/DO_PV"]
            assert (fig.y_range.start, fig.y_range.end) == (0, 100)
            dash.let_go()
            broken = Dashboard(settings, feed=feed, autostart=False, display="broken")
            notes = " ".join(n.text for n in broken.status_notes())
            assert "Could not open the display" in notes and "broken.toml" in notes
            assert len(broken.all_variables) == DEFAULT_TAGS  # the default page instead
            broken.let_go()

    asyncio.run(main())


def test_the_demo_plant_is_a_site_of_48_tags_with_metadata_and_displays(admin_settings, tmp_path):
    from trending_panel.core.displays import Displays
    from trending_panel.core.variable_file import load_config
    from trending_panel.live.tag_list import TagList
    from trending_panel.ops.plant_demo import build_plant, plant_tags, write_site

    config, folder = write_site(tmp_path)
    variables, catalog = load_config(config)
    assert [v.key for v in variables] == ["temperature", "ph", "dissolved_oxygen", "pressure"]
    displays = Displays(folder)
    assert displays.names() == ["bioreactor-1", "default"]
    assert [t.pens for t in displays.load("default").trends] == [(v.key,) for v in variables]
    with scratch_database(admin_settings, "tp_demo") as (db, conn):
        site = replace(db, variables=variables, catalog=catalog, displays=str(folder))

        async def main():
            async with Store(site, read_only=False) as store:
                await store.ensure_schema()
                await build_plant(store, NOW - timedelta(hours=1), NOW)
                tags = TagList(store, site)
                await tags.refresh()
                return tags

        tags = asyncio.run(main())
        assert len(tags.tags) == 48 + 4
        assert tags.get("BR03/DO_PV").unit == "%" and tags.get("BR03/DO_PV").high == 60.0
        assert tags.get("temperature").table == "CM_HAM_DO_AI1/Temp_value"  # configured key
        for trend in displays.load("bioreactor-1").trends:
            assert all(tags.get(k) is not None for k in trend.pens)
        rows = conn.execute('SELECT count(*) FROM "BR01/TEMP_PV"').fetchone()[0]
        assert rows == 3600 // 5 + 1
        assert len(plant_tags()) == 48


def test_a_notebooks_first_dashboard_reads_the_catalog_before_it_draws(plant):
    settings, _ = plant

    async def main():
        async with Store(settings) as store:
            feed = LiveFeed(store, settings)
            assert not hub_for(feed).tags.loaded  # nothing read yet, no server to read it
            dash = Dashboard(settings, feed=feed, autostart=False, pens=[["BR04/PH_PV"]])
            assert dash.trends == (("BR04/PH_PV",),)
            assert dash.status_notes() == []
            dash.let_go()

    asyncio.run(main())


def test_a_limit_on_a_shared_trend_is_its_pens_line_and_alone_a_band(plant):
    settings, conn = plant
    conn.execute("UPDATE plant_tags SET low = 30, high = 60 WHERE tag LIKE '%/DO_PV'")

    async def main():
        async with Store(settings) as store:
            feed = LiveFeed(store, settings)
            await hub_for(feed).tags.refresh()
            asked = [["BR02/TEMP_PV", "BR02/DO_PV"], ["BR03/DO_PV"]]
            dash = Dashboard(settings, feed=feed, autostart=False, pens=asked)
            trends = Trends(dash, fill=True)
            shared, alone = trends.figures["BR02/TEMP_PV"], trends.figures["BR03/DO_PV"]
            names = {m.name: m for m in shared.center if m.name}
            # beside other pens: the pen's own dashed lines, no band shading the others
            assert "limit-high-BR02/DO_PV" not in names and "limit-low-BR02/DO_PV" not in names
            line = names["limit-line-high-BR02/DO_PV"]
            assert line.location == 60 and line.line_color == dash.by_key["BR02/DO_PV"].color
            assert line.y_range_name == "right"  # on the axis of its unit
            alone_names = {m.name for m in alone.center if m.name}
            assert {"limit-high-BR03/DO_PV", "limit-low-BR03/DO_PV"} <= alone_names
            dash.let_go()

    asyncio.run(main())

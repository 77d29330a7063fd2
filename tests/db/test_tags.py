"""The tag catalog (issue 18, first step): ``[catalog]`` in ``TRENDING_CONFIG`` makes the
plant's matching tables tags, described by a metadata table, and ``trending-panel tags``
lists and searches them. Against the suite's own PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg import sql

from tests.harness.database import scratch_database
from trending_panel.core.errors import ConfigError
from trending_panel.core.tags import CatalogSpec, Tag, search
from trending_panel.core.variable_file import load_config

CONFIG = """
[catalog]
include = ["BR*/*"]
exclude = ["*/TEST_*"]
metadata = "plant_tags"

[[variables]]
table = "BR01/TEMP_PV"
label = "Reactor 1 temperature"
unit = "°C"
key = "br1_temp"
high = 38
"""
TAGS = ["BR01/TEMP_PV", "BR01/PH_PV", "BR02/DO_PV", "BR01/TEST_SPARE", "OTHER/FLOW"]


def cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "trending_panel.ops.cli", "tags", *args],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture
def plant(admin_settings, tmp_path: Path) -> Iterator[tuple[dict, object]]:
    config = tmp_path / "trending.toml"
    config.write_text(CONFIG, encoding="utf-8")
    with scratch_database(admin_settings, "tp_tags") as (db, conn):
        for name in TAGS:
            conn.execute(
                sql.SQL("CREATE TABLE {} (time timestamp, value double precision)").format(
                    sql.Identifier(name)
                )
            )
        # a table that matches but is no tag (time is text), and a view that is one
        conn.execute('CREATE TABLE "BR03/NOTES" (time text, value double precision)')
        conn.execute('CREATE VIEW "BR03/TEMP_PV" AS SELECT * FROM "BR02/DO_PV"')
        conn.execute(
            "CREATE TABLE plant_tags (tag text, label text, unit text, low double precision,"
            " high double precision, description text)"
        )
        conn.execute(
            "INSERT INTO plant_tags VALUES"
            " ('BR01/PH_PV', 'Reactor 1 pH', '', 6.8, 7.4, 'Glass electrode, fermenter 1'),"
            " ('BR02/DO_PV', 'Reactor 2 DO', '%', NULL, NULL, 'Dissolved oxygen, polarographic'),"
            " ('BR01/TEMP_PV', 'ignored label', 'K', 0, 1, 'Jacket-controlled')"
        )
        yield {**db.to_env(), "TRENDING_CONFIG": str(config)}, conn


def test_the_catalog_lists_matching_tables_with_metadata_and_configured_settings(plant):
    env, _ = plant
    done = cli(env, "--json")
    assert done.returncode == 0, done.stderr
    tags = {t["key"]: t for t in json.loads(done.stdout)}
    # matched, not excluded, with a tag's columns; a view is a tag too
    assert set(tags) == {"br1_temp", "BR01/PH_PV", "BR02/DO_PV", "BR03/TEMP_PV"}
    # the configured entry keeps its key and settings; the metadata gives its description
    assert tags["br1_temp"] == {
        "key": "br1_temp", "table": "BR01/TEMP_PV", "label": "Reactor 1 temperature",
        "unit": "°C", "low": None, "high": 38.0, "description": "Jacket-controlled",
    }  # fmt: skip
    assert tags["BR01/PH_PV"]["label"] == "Reactor 1 pH"
    assert (tags["BR01/PH_PV"]["low"], tags["BR01/PH_PV"]["high"]) == (6.8, 7.4)
    assert tags["BR02/DO_PV"]["unit"] == "%"
    # no metadata row: the table's name is its label
    assert tags["BR03/TEMP_PV"] == {
        "key": "BR03/TEMP_PV", "table": "BR03/TEMP_PV", "label": "BR03/TEMP_PV", "unit": "",
        "low": None, "high": None, "description": "",
    }  # fmt: skip


def test_search_and_lines_and_a_new_table_without_a_restart(plant):
    env, conn = plant
    found = json.loads(cli(env, "--search", "DISSOLVED", "--json").stdout)
    assert [t["key"] for t in found] == ["BR02/DO_PV"]  # by description, any case
    found = json.loads(cli(env, "--search", "reactor 1", "--json").stdout)
    assert [t["key"] for t in found] == ["BR01/PH_PV", "br1_temp"]  # by label
    lines = cli(env, "--search", "br02").stdout.splitlines()  # by key
    assert lines == ["BR02/DO_PV\tReactor 2 DO [%]  Dissolved oxygen, polarographic"]
    conn.execute('CREATE TABLE "BR04/PRESSURE" (time timestamp, value double precision)')
    assert "BR04/PRESSURE" in cli(env, "--search", "br04").stdout


def test_a_matching_table_the_role_may_not_read_is_named(plant, admin_settings):
    env, conn = plant
    reader = f"tp_tags_reader_{uuid.uuid4().hex[:6]}"
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'r'").format(sql.Identifier(reader)))
    try:
        conn.execute(
            sql.SQL("GRANT SELECT ON {}, {}, plant_tags TO {}").format(
                sql.Identifier("BR01/PH_PV"), sql.Identifier("BR02/DO_PV"), sql.Identifier(reader)
            )
        )
        done = cli({**env, "POSTGRES_USER": reader, "POSTGRES_PASSWORD": "r"}, "--json")
        assert done.returncode == 0, done.stderr
        assert {t["key"] for t in json.loads(done.stdout)} == {"BR01/PH_PV", "BR02/DO_PV"}
        assert "cannot read 'BR01/TEMP_PV'" in done.stderr
    finally:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(reader)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(reader)))


def test_a_missing_metadata_table_is_a_configuration_error(plant):
    env, conn = plant
    conn.execute("DROP TABLE plant_tags")
    done = cli(env)
    assert done.returncode == 2
    assert "[catalog] metadata table 'plant_tags'" in done.stderr
    assert "does not exist" in done.stderr


def test_without_a_catalog_the_tags_are_the_configured_variables(admin_settings):
    with scratch_database(admin_settings, "tp_tags") as (db, _):
        done = cli({**db.to_env(), "TRENDING_CONFIG": ""}, "--json")
    assert done.returncode == 0, done.stderr
    assert [t["key"] for t in json.loads(done.stdout)] == [
        "temperature", "ph", "dissolved_oxygen", "pressure"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[catalog]\nexclude = ["x"]\n', "include is required"),
        ('[catalog]\ninclude = "BR*"\n', "include must be a list of glob patterns"),
        ('[catalog]\ninclude = ["BR*"]\nmetadata = 3\n', "metadata must be a table name"),
        ('[catalog]\ninclude = ["BR*"]\nlimit = 3\n', "unknown setting(s) limit"),
        ('[catalogue]\ninclude = ["BR*"]\n', "unknown section(s) catalogue"),
    ],
)
def test_a_bad_catalog_section_is_named(tmp_path, text, says):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert says in str(info.value)


def test_patterns_and_search_as_pure_functions():
    spec = CatalogSpec(include=("BR*/*", "plant.*"), exclude=("*/TEST_*",))
    assert spec.matches(["BR01/TEMP_PV"]) and not spec.matches(["BR01/TEST_1"])
    assert spec.matches(["FLOW", "plant.FLOW"]) and not spec.matches(["br01/temp"])
    tags = [Tag("a", "a", "Feed pump"), Tag("b", "b", "Jacket", description="feed side")]
    assert [t.key for t in search(tags, "FEED")] == ["a", "b"]
    assert search(tags, "") == tags

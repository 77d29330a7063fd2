"""Settings: every problem is named; any password works against real authentication."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import replace

import psycopg
import pytest
from psycopg import sql

from trending_panel.core.errors import SettingsError
from trending_panel.core.settings import Settings
from trending_panel.core.variables import VARIABLES
from trending_panel.db.store import Store

GOOD = {
    "POSTGRES_HOST": "db.example",
    "POSTGRES_PORT": "5432",
    "POSTGRES_USER": "reader",
    "POSTGRES_PASSWORD": "secret",
    "POSTGRES_DB": "plant",
}


def test_reads_all_five_variables():
    s = Settings.from_env(GOOD)
    assert (s.host, s.port, s.user, s.password, s.dbname) == (
        "db.example",
        5432,
        "reader",
        "secret",
        "plant",
    )
    assert s.timezone == "UTC"


@pytest.mark.parametrize("name", list(GOOD))
def test_missing_variable_is_named(name):
    env = {k: v for k, v in GOOD.items() if k != name}
    with pytest.raises(SettingsError, match=name):
        Settings.from_env(env)


@pytest.mark.parametrize("port", ["", "abc", "0", "70000", "54 32", "-1"])
def test_malformed_port_is_named(port):
    with pytest.raises(SettingsError, match="POSTGRES_PORT"):
        Settings.from_env({**GOOD, "POSTGRES_PORT": port})


@pytest.mark.parametrize("name", ["POSTGRES_HOST", "POSTGRES_USER", "POSTGRES_DB"])
def test_empty_value_is_named(name):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({**GOOD, name: "  "})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TRENDING_TIMEZONE", "Mars/Olympus"),
        ("TRENDING_GAP", "five minutes"),
        ("TRENDING_POLL", "0s"),
        ("TRENDING_CONNECT_TIMEOUT", "x"),
    ],
)
def test_malformed_optional_setting_is_named(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({**GOOD, name: value})


def test_optional_settings_parse():
    s = Settings.from_env({**GOOD, "TRENDING_GAP": "30m", "TRENDING_TIMEZONE": "Europe/Berlin"})
    assert s.gap.total_seconds() == 1800 and s.timezone == "Europe/Berlin"


def test_password_never_in_repr_or_description():
    s = Settings.from_env({**GOOD, "POSTGRES_PASSWORD": "hunter2-very-secret"})
    assert "hunter2" not in repr(s) and "hunter2" not in s.describe()


@pytest.mark.parametrize("command", ["serve", "export"])
def test_cli_stops_with_a_message_not_a_traceback(command):
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTGRES_")}
    env.update({k: v for k, v in GOOD.items() if k != "POSTGRES_DB"})
    proc = subprocess.run(
        [sys.executable, "-m", "trending_panel.ops.cli", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "POSTGRES_DB" in proc.stderr
    assert "Traceback" not in proc.stderr


ODD_PASSWORDS = [
    "with space",
    "quote'single",
    'quote"double',
    "at@hash#percent%",
    "back\\slash=equals",
    "sémi;colon&amp/slash?q=1",
    " leading and trailing ",
]


@pytest.mark.parametrize("password", ODD_PASSWORDS)
def test_odd_passwords_authenticate(pg_server, db, password):
    if pg_server is None:
        pytest.skip("needs the private server to change its authentication rules")
    role = "odd_reader"
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
    pg_server.require_password(role)
    env = replace(db, user=role, password=password).to_env()
    settings = Settings.from_env(env)  # the password travels through the environment
    assert settings.password == password

    async def check() -> dict:
        async with Store(settings) as store:
            return await store.problems(VARIABLES)

    # connected and queried as that role (an empty database: no table found)
    assert asyncio.run(check()) == dict.fromkeys(VARIABLES, "not found")
    wrong = Settings.from_env({**env, "POSTGRES_PASSWORD": password + "x"})
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong.conninfo()).close()
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_to_env_round_trips():
    s = Settings.from_env({**GOOD, "POSTGRES_PASSWORD": "p @#'\" x"})
    assert Settings.from_env(s.to_env()) == s


def test_now_is_the_wall_time_of_the_data_zone():
    from datetime import UTC, datetime, timedelta

    s = Settings.from_env({**GOOD, "TRENDING_TIMEZONE": "Asia/Kolkata"})
    offset = s.now() - datetime.now(UTC).replace(tzinfo=None)
    assert abs(offset - timedelta(hours=5, minutes=30)) < timedelta(seconds=5)
    assert s.now().tzinfo is None

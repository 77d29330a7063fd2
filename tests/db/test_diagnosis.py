"""Connection diagnosis and ``trending-panel check``, against a real PostgreSQL.

Each way a new site gets the connection wrong (a wrong password, an unknown database, a port
where nothing listens, a role without LOGIN) and each way a table is not what the dashboard
needs (no SELECT, no index on time, a row from a clock set wrong) must say what it is, in the
CLI, in ``check`` (text and JSON, with its exit code) and in the page, never with the password.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace

import psycopg
import pytest

from tests.harness.diagnosis_site import (
    CAUSES,
    PH,
    PRESSURE,
    TEMP,
    cli,
    leaks,
)
from trending_panel.core.settings import Settings
from trending_panel.db.diagnosis import CannotConnect
from trending_panel.db.store import Store
from trending_panel.ops import check


@pytest.mark.parametrize("cause", list(CAUSES))
def test_each_connection_failure_says_what_it_is_in_the_cli_and_check(site, cause):
    settings = site["wrong"][cause]
    words = CAUSES[cause][1].format(**site["names"])
    export = cli(settings, "export", "--window", "5m")
    assert export.returncode == 1
    assert "trending-panel: cannot connect: " in export.stderr and words in export.stderr
    assert "check:" in export.stderr and export.stdout == ""
    text = cli(settings, "check")
    assert text.returncode == 1
    first = text.stdout.splitlines()[0]
    assert first.startswith("FAIL connect: ") and words in first
    assert "FAIL: the dashboard cannot work" in text.stdout
    as_json = cli(settings, "check", "--json")
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert report["ok"] is False and report["exit_code"] == 1
    (step,) = report["steps"]
    assert (step["step"], step["status"], step["cause"]) == ("connect", "FAIL", cause)
    assert words in step["detail"] and step["fix"]
    for out in (export.stderr, text.stdout, as_json.stdout):
        assert leaks(out) == []


def test_a_refused_connection_is_reported_at_once(site):
    settings = site["wrong"]["refused"]
    began = time.monotonic()
    report = check.run(settings)
    checked = time.monotonic() - began
    assert report.steps[0].cause == "refused"

    async def open_store() -> float:
        store = Store(settings)
        began = time.monotonic()
        try:
            with pytest.raises(CannotConnect, match="connection refused"):
                await store.open(wait=True)
            return time.monotonic() - began
        finally:
            await store.close()

    opened = asyncio.run(open_store())
    assert checked < 1.0 and opened < 1.0, (checked, opened)


def test_check_walks_every_table_and_the_role(site):
    good, admin = site["good"], site["admin"]
    reader = site["names"]["reader"]
    text = cli(good, "check")
    assert text.returncode == 1, text.stdout  # the reader cannot read pressure
    out = text.stdout
    assert "OK   connect: socket " in out and f'as "{reader}"' in out
    assert "OK   server: PostgreSQL " in out and 'application "trending-panel"' in out
    assert f'FAIL table {PRESSURE.table}: no SELECT permission for "{reader}"' in out
    assert f'GRANT SELECT ON "{PRESSURE.table}" TO "{reader}";' in out
    assert f"WARN table {PH.table}: about" in out or f"WARN table {PH.table}: row count" in out
    assert f'run: CREATE INDEX ON "{PH.table}" ("time");' in out
    assert f"WARN table {TEMP.table}: 1 row dated in the future (from 2099-01-01T00:00:00" in out
    assert f"OK   table {TEMP.table}: columns time timestamp without time zone, value double" in out
    assert f'OK   role: "{reader}" can only read the configured tables' in out
    report = json.loads(cli(good, "check", "--json").stdout)
    by_status = {}
    for step in report["steps"]:
        by_status.setdefault(step["status"], []).append((step["step"], step["table"]))
    assert by_status["FAIL"] == [("table", PRESSURE.table)]
    assert ("table", PH.table) in by_status["WARN"] and ("table", TEMP.table) in by_status["WARN"]
    assert report["target"] == {
        "host": good.host, "port": good.port, "database": good.dbname, "user": reader,
    }  # fmt: skip
    # the administrator reads everything: the dashboard can work, with warnings (and one
    # more: a superuser is no role for a dashboard)
    admin_run = cli(admin, "check")
    assert admin_run.returncode == 0, admin_run.stdout
    assert 'WARN role: "postgres" is a superuser' in admin_run.stdout
    assert "WARN rollup: no rollup schema" in admin_run.stdout  # none set up here
    assert admin_run.stdout.rstrip().endswith("OK: the dashboard can work (4 warnings)")
    for out in (text.stdout, admin_run.stdout):
        assert leaks(out) == []


def test_export_names_unreadable_slow_and_doubtful_tables(site):
    good, admin = site["good"], site["admin"]
    refused = cli(good, "export", "--window", "5m")
    assert refused.returncode == 1
    assert f"cannot read: {PRESSURE.table}: no SELECT permission" in refused.stderr
    done = cli(admin, "export", "--window", "5m")
    assert done.returncode == 0 and done.stdout.startswith("time,")
    assert f"warning: {PH.table} has no index on time" in done.stderr
    assert f'CREATE INDEX ON "{PH.table}" ("time");' in done.stderr
    assert f"warning: {TEMP.table}: 1 row dated 2099-01-01T00:00:00, ahead of the clock" in (
        done.stderr
    )


def test_libpq_environment_and_application_name(site):
    env = {**site["good"].to_env(), "PGAPPNAME": "plant-7", "PGCONNECT_TIMEOUT": "7"}
    settings = Settings.from_env(env)
    assert settings.application_name == "plant-7" and settings.connect_timeout == 7
    own = Settings.from_env({**env, "TRENDING_CONNECT_TIMEOUT": "3"})
    assert own.connect_timeout == 3  # the dashboard's own setting wins
    out = cli(site["admin"], "check", env={"PGAPPNAME": "plant-7"}).stdout
    assert 'connected as application "plant-7"' in out
    # libpq's own variables (PGSSLMODE, PGTZ…) reach libpq: the session's time zone here
    zoned = cli(site["admin"], "check", env={"PGTZ": "America/Chicago"}).stdout
    assert "time zone America/Chicago;" in zoned


def test_a_server_that_does_not_answer_is_a_timeout(site, pg_server):
    """Every server process frozen (a hung host): the connection is accepted by the kernel
    and never answered, so only the connect timeout ends it."""
    settings = replace(site["good"], connect_timeout=1)
    pg_server.suspend()
    try:
        began = time.monotonic()
        report = check.run(settings)
        took = time.monotonic() - began
    finally:
        pg_server.resume()
    step = report.steps[0]
    assert (step.status, step.cause) == ("FAIL", "timeout"), step
    assert "within 1 s (timed out)" in step.detail and 0.9 < took < 5


@pytest.mark.parametrize(
    "message, cause",
    [  # libpq's and the server's own words, as seen in the field, for what cannot be staged here
        ('connection to server at "10.0.0.9", port 5432 failed: FATAL:  no pg_hba.conf entry '
         'for host "10.0.0.5", user "reader", database "plant", no encryption', "not_allowed"),
        ('connection to server at "db", port 5432 failed: server does not support SSL, but SSL '
         "was required", "ssl"),
        ('connection to server at "db", port 5432 failed: FATAL:  sorry, too many clients '
         "already", "too_many_connections"),
        ('connection to server at "db", port 5432 failed: FATAL:  the database system is '
         "starting up", "starting"),
        ('connection to server at "db", port 5432 failed: Network is unreachable',
         "unreachable"),
        ('connection to server on socket "/run/postgresql/.s.PGSQL.5432" failed: No such file '
         "or directory", "refused"),
    ],
)  # fmt: skip
def test_messages_that_cannot_be_staged_here_are_explained(site, message, cause):
    from trending_panel.db.diagnosis import explain

    diagnosis = explain(psycopg.OperationalError(message), site["good"])
    assert diagnosis.cause == cause and diagnosis.summary and diagnosis.fix


def page_text(page) -> str:
    """Every HTML pane's text in the page's Bokeh document (the header, the diagnosis)."""
    return page.evaluate(
        """() => [...Bokeh.documents[0].all_models]
             .filter(m => typeof m.text === "string").map(m => m.text).join("\\n")"""
    )

"""The containerized stack, proven without a Docker engine.

compose.yaml against the Compose specification's schema, its wiring, the db init scripts run
against a real PostgreSQL (read-only role reads, is refused an INSERT), the image's entrypoint
command run exactly as the Dockerfile writes it, and the Dockerfile linted by hadolint.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
import urllib.request
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
import yaml
from psycopg import sql

from tests.harness.browser import browser_page, http_ok, served, wait_until
from trending_panel.core.variables import VARIABLES

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]


def local_env() -> dict[str, str]:
    out = {}
    for line in (ROOT / "local.env").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def dockerfile_instruction(name: str) -> str:
    """The (continuation-joined) argument of the last ``name`` instruction of the final stage."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    found = [
        line.split(None, 1)[1] for line in text.splitlines() if line.split(None, 1)[:1] == [name]
    ]
    assert found, f"no {name} in Dockerfile"
    return found[-1]


# -- compose.yaml ---------------------------------------------------------------------------


def test_compose_files_match_the_compose_specification():
    """Both files in one run (the schema's load is most of the cost); it names a failing one."""
    proc = subprocess.run(
        [
            str(BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            "compose.yaml",
            "compose.plant.yaml",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_three_services_with_credentials_only_from_local_env():
    assert set(SERVICES) == {"db", "simulator", "rollup", "dashboard"}
    for name, service in SERVICES.items():
        assert service["env_file"] == "local.env", name
        assert "environment" not in service, f"{name} must take credentials from local.env only"
    text = (ROOT / "compose.yaml").read_text() + (ROOT / "Dockerfile").read_text()
    for key, value in local_env().items():
        if "PASSWORD" in key or "USER" in key:
            assert value not in text, f"{key}'s value is repeated outside local.env"


def test_db_service_official_image_volume_healthcheck_and_init_scripts():
    db = SERVICES["db"]
    image, _, tag = db["image"].partition(":")
    assert image == "postgres" and int(tag.split("-")[0].split(".")[0]) >= 15
    volumes = db["volumes"]
    assert any(v.startswith("pgdata:") for v in volumes) and "pgdata" in COMPOSE["volumes"]
    assert "./docker/initdb:/docker-entrypoint-initdb.d:ro" in volumes
    test = " ".join(db["healthcheck"]["test"])
    assert "pg_isready" in test and "-h 127.0.0.1" in test


def test_simulator_and_dashboard_wait_for_a_healthy_db():
    for name in ("simulator", "rollup", "dashboard"):
        service = SERVICES[name]
        assert service["depends_on"]["db"]["condition"] == "service_healthy"
        assert service["build"] == "."
    assert SERVICES["simulator"]["command"][:1] == ["simulate"]
    assert "--as-writer" in SERVICES["simulator"]["command"]
    dashboard = SERVICES["dashboard"]
    assert dashboard["ports"] == ["8888:8888"]
    assert dashboard["restart"] == "on-failure"
    assert "command" not in dashboard  # runs the image's own CMD: serve on 8888


def test_dashboard_connects_with_the_read_only_role():
    env = local_env()
    entry = (ROOT / "docker/db/entrypoint.sh").read_text()
    # local.env's POSTGRES_USER is the role 20-roles.sh makes read-only; the image's
    # superuser is the separate admin role.
    assert 'TRENDING_READER_USER="$POSTGRES_USER"' in entry
    assert 'POSTGRES_USER="$TRENDING_ADMIN_USER"' in entry
    assert env["POSTGRES_USER"] != env["TRENDING_ADMIN_USER"]
    assert env["POSTGRES_USER"] != env["TRENDING_WRITER_USER"]


# -- init scripts against a real PostgreSQL -------------------------------------------------


@pytest.fixture
def initialized(pg_server, admin_settings, db):
    """The database as the postgres image leaves it after running docker/initdb/."""
    if pg_server is None:
        pytest.skip("needs the private server for psql and authentication rules")
    roles = {
        "reader": "trending reader 'quoted' @#",
        "writer": 'writer "pw" \\ %',
        "rollup": "roll'up \" $x",
    }
    env = {
        **os.environ,
        "PATH": f"{pg_server.bin_path}:{os.environ['PATH']}",
        "PGHOST": db.host,
        "PGPORT": str(db.port),
        "POSTGRES_USER": db.user,
        "POSTGRES_DB": db.dbname,
        "TRENDING_READER_USER": "tp_reader",
        "TRENDING_READER_PASSWORD": roles["reader"],
        "TRENDING_WRITER_USER": "tp_writer",
        "TRENDING_WRITER_PASSWORD": roles["writer"],
        "TRENDING_ROLLUP_USER": "tp_rollup",
        "TRENDING_ROLLUP_PASSWORD": roles["rollup"],
    }
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        for role in ("tp_reader", "tp_writer", "tp_rollup"):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    # the image runs *.sql with psql and executable *.sh directly, in name order
    for script in sorted((ROOT / "docker/initdb").iterdir()):
        cmd = (
            [
                "psql",
                "-v",
                "ON_ERROR_STOP=1",
                "--username",
                db.user,
                "--dbname",
                db.dbname,
                "-f",
                str(script),
            ]
            if script.suffix == ".sql"
            else [str(script)]
        )
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
    for role in ("tp_reader", "tp_writer", "tp_rollup"):
        pg_server.require_password(role)
    yield db, roles
    with psycopg.connect(admin_settings.conninfo(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db.dbname))
        )
        for role in ("tp_reader", "tp_writer", "tp_rollup"):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def as_role(db, user, password) -> psycopg.Connection:
    return psycopg.connect(replace(db, user=user, password=password).conninfo(), autocommit=True)


def test_init_creates_the_tables_with_time_indexes(initialized):
    db, _ = initialized
    with psycopg.connect(db.conninfo()) as conn:
        indexed = {
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_indexes WHERE indexdef LIKE '%(\"time\")%'"
            )
        }
        columns = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        ).fetchall()
    assert indexed == {v.table for v in VARIABLES}
    for var in VARIABLES:
        assert [(c, t) for n, c, t in columns if n == var.table] == [
            ("time", "timestamp without time zone"),
            ("value", "double precision"),
        ]


def test_read_only_role_reads_all_tables_and_is_refused_insert(initialized):
    db, roles = initialized
    with as_role(db, "tp_writer", roles["writer"]) as writer:
        for var in VARIABLES:
            writer.execute(
                sql.SQL("INSERT INTO {} VALUES (now(), 1.5)").format(sql.Identifier(var.table))
            )
    with as_role(db, "tp_reader", roles["reader"]) as reader:
        for var in VARIABLES:
            count = reader.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(var.table))
            ).fetchone()[0]
            assert count == 1
        for var in VARIABLES:
            with pytest.raises(
                (psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction)
            ):
                reader.execute(
                    sql.SQL("INSERT INTO {} VALUES (now(), 2)").format(sql.Identifier(var.table))
                )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("SET default_transaction_read_only = off")
            reader.execute(
                sql.SQL("INSERT INTO {} VALUES (now(), 2)").format(
                    sql.Identifier(VARIABLES[0].table)
                )
            )


def test_the_rollup_role_writes_only_its_schema_and_the_reader_reads_it(initialized):
    db, roles = initialized
    with as_role(db, "tp_writer", roles["writer"]) as writer:
        for var in VARIABLES:
            writer.execute(
                sql.SQL("INSERT INTO {} VALUES (now() - interval '1 h', 1.5), (now(), 2.5)")
                .format(sql.Identifier(var.table))
            )  # fmt: skip
    env = {
        **os.environ,
        **replace(db, user="tp_reader", password=roles["reader"]).to_env(),
        "TRENDING_ROLLUP_USER": "tp_rollup",
        "TRENDING_ROLLUP_PASSWORD": roles["rollup"],
    }
    proc = subprocess.run([str(BIN / "trending-panel"), "rollup", "--once"], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert roles["rollup"] not in proc.stderr + proc.stdout
    with as_role(db, "tp_rollup", roles["rollup"]) as rollup:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            rollup.execute(
                sql.SQL("INSERT INTO {} VALUES (now(), 2)").format(
                    sql.Identifier(VARIABLES[0].table)
                )
            )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            rollup.execute("CREATE TABLE public.elsewhere (x int)")
    with as_role(db, "tp_reader", roles["reader"]) as reader:
        rows = reader.execute("SELECT sum(rows) FROM trending_rollup.chunks WHERE level = 2")
        assert rows.fetchone()[0] == 2 * len(VARIABLES)
        with pytest.raises(
            (psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction)
        ):
            reader.execute("DELETE FROM trending_rollup.chunks")
    check = subprocess.run([str(BIN / "trending-panel"), "check"], env=env, capture_output=True,
                           text=True, timeout=60)  # fmt: skip
    assert f'OK   rollup: "trending_rollup": {len(VARIABLES)} tags caught up' in check.stdout


def test_simulator_writes_as_the_writer_role(initialized):
    db, roles = initialized
    env = {
        **os.environ,
        **replace(db, user="tp_reader", password=roles["reader"]).to_env(),
        "TRENDING_WRITER_USER": "tp_writer",
        "TRENDING_WRITER_PASSWORD": roles["writer"],
        "TRENDING_CONFIG": str(ROOT / "docker/site.toml"),  # as the image has it
    }
    proc = subprocess.run(
        [str(BIN / "trending-panel"), "simulate", "--as-writer", "--backfill", "20m", "--no-live"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "batch events not written" not in proc.stderr, proc.stderr
    assert roles["writer"] not in proc.stderr + proc.stdout  # secrets stay out of the logs
    with as_role(db, "tp_reader", roles["reader"]) as reader:
        for var in VARIABLES:
            n = reader.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(var.table))
            ).fetchone()[0]
            assert n > 10, var.table
        # The site's batches, written as its MES would: readable by the dashboard's role.
        events = reader.execute(
            "SELECT batch_id, phase, end_time IS NULL FROM batch_events ORDER BY start_time, phase"
        ).fetchall()
    assert events and all(batch.startswith("B-") for batch, _, _ in events)
    assert {phase for _, phase, _ in events} <= {None, "inoculation", "batch", "fed-batch",
                                                  "harvest"}  # fmt: skip
    batches = {batch for batch, _, _ in events}
    running = {batch for batch, phase, open_ in events if phase is None and open_}
    assert len(running) <= 1 and len(batches) >= 1


# -- the image's command ---------------------------------------------------------------------


def image_command() -> list[str]:
    return json.loads(dockerfile_instruction("ENTRYPOINT")) + json.loads(
        dockerfile_instruction("CMD")
    )


def healthcheck_command() -> list[str]:
    text = dockerfile_instruction("HEALTHCHECK")
    return json.loads(text[text.index("CMD") + 3 :].strip())


@pytest.mark.browser  # end to end: a served process of its own
def test_image_command_serves_and_passes_its_own_healthcheck(initialized):
    db, roles = initialized
    cmd = image_command()
    assert cmd == ["trending-panel", "serve", "--port", "8888", "--address", "0.0.0.0"]
    env = replace(db, user="tp_reader", password=roles["reader"]).to_env()
    with served(cmd, env, 8888) as proc:
        assert http_ok("http://127.0.0.1:8888/liveness")
        with urllib.request.urlopen("http://127.0.0.1:8888/", timeout=10) as page:
            body = page.read().decode()
        assert roles["reader"] not in body  # the password never reaches the browser...
        frames: list[str] = []

        def record(ws) -> None:
            ws.on(
                "framereceived",
                lambda payload: frames.append(
                    payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
                ),
            )

        with browser_page() as browser:
            browser.on("websocket", record)
            browser.goto("http://localhost:8888/")
            wait_until(
                lambda: "Live" in " ".join(browser.locator(".tp-status").all_inner_texts()),
                what="the dashboard connected as the read-only role",
            )
        sent = "".join(frames)  # ...nor does anything the server sent over the websocket
        assert "Dissolved oxygen (%)" in sent  # (the document itself travelled this way)
        assert roles["reader"] not in sent and "tp_reader" not in sent
        check = subprocess.run(healthcheck_command(), capture_output=True, timeout=30)
        assert check.returncode == 0
    log = proc.stdout.read()
    assert roles["reader"] not in log


@pytest.mark.browser  # end to end: a served process of its own
def test_dashboard_comes_up_before_the_database(tmp_path):
    """Started while its database is unreachable, it still serves (and reports it)."""
    env = {**local_env(), "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": "9",
           "TRENDING_CONFIG": str(ROOT / "docker/site.toml")}  # where the image has it  # fmt: skip
    with served(image_command(), env, 8888):
        assert http_ok("http://127.0.0.1:8888/liveness")
    check = subprocess.run(healthcheck_command(), capture_output=True, timeout=30)
    assert check.returncode != 0  # and the healthcheck notices when it is gone


# -- Dockerfile ------------------------------------------------------------------------------


def test_dockerfile_passes_hadolint():
    proc = subprocess.run(
        [str(BIN / "hadolint"), "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_is_small_pinned_and_non_root():
    text = (ROOT / "Dockerfile").read_text()
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert len(froms) == 2 and all("-slim" in f for f in froms)
    assert "--require-hashes" in text and "requirements.lock" in text
    user = dockerfile_instruction("USER")
    assert user.split(":")[0] not in ("0", "root")
    assert dockerfile_instruction("EXPOSE") == "8888"
    assert "/liveness" in dockerfile_instruction("HEALTHCHECK")
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert "*" in ignore and "*.env" in ignore  # nothing but the build inputs, never .env


def test_lock_pins_every_runtime_dependency_with_hashes():
    lock = (ROOT / "requirements.lock").read_text()
    pinned = {
        m.group(1).lower().replace("_", "-")
        for m in re.finditer(r"^([A-Za-z0-9_.-]+)==", lock, re.M)
    }
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in deps:
        name = re.split(r"[\[<>=~; ]", dep, maxsplit=1)[0].lower()
        assert name in pinned, name
    blocks = [b for b in re.split(r"\n(?=[A-Za-z])", lock) if "==" in b]
    assert all("--hash=sha256:" in b for b in blocks)

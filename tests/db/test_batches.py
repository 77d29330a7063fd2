"""Batches from an events table on a real PostgreSQL (issue 20): the CLI's list, a batch's
statistics per phase against the SQL definitions over every row, its CSV, and bad events
tables named without a traceback."""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import datetime, timedelta

import pytest
from psycopg import sql

from tests.harness.database import insert
from tests.harness.diagnosis_site import cli
from tests.harness.stats_reference import assert_equal_stats, sql_stats
from trending_panel.core.variables import BY_KEY
from trending_panel.read.stats import Stats

TEMP, PH = BY_KEY["temperature"], BY_KEY["ph"]
T = datetime(2026, 10, 1, 6, 0)
H = timedelta(hours=1)
EVENTS = [
    (T, T + 30 * H, "B-001", None, "BR01", "reference run"),
    (T, T + 2 * H, "B-001", "inoculation", "BR01", None),
    (T + 2 * H, T + 12 * H + timedelta(seconds=17), "B-001", "batch", "BR01", None),
    (T + 12 * H + timedelta(seconds=17), T + 28 * H, "B-001", "fed-batch", "BR01", None),
    (T + 28 * H, T + 30 * H, "B-001", "harvest", "BR01", None),
    (T + 40 * H, None, "B-002", "inoculation", "BR01", None),
]


@pytest.fixture
def site(db, tables, tmp_path):
    """Two days of 20 s rows with NULL, NaN and an outage, an events table, a config."""
    rows = []
    for k in range(int(50 * 3600 / 20)):
        value: float | None = 37.0 + (k % 11) / 10
        if k % 97 == 0:
            value = None
        elif k % 131 == 0:
            value = math.nan
        rows.append((T - H + timedelta(seconds=20 * k), value))
    rows = [r for r in rows if not (T + 5 * H <= r[0] < T + 6 * H)]  # an outage
    insert(tables, TEMP.table, rows)
    insert(tables, PH.table, [(t, 7.0 + (i % 3) / 10) for i, (t, _) in enumerate(rows)])
    tables.execute(
        "CREATE TABLE batch_events (start_time timestamp, end_time timestamp, batch_id text,"
        " phase text, unit text, description text)"
    )
    with tables.cursor() as cur:
        cur.executemany("INSERT INTO batch_events VALUES (%s, %s, %s, %s, %s, %s)", EVENTS)
    config = tmp_path / "site.toml"
    config.write_text('[events]\ntable = "batch_events"\n')
    return db, tables, {"TRENDING_CONFIG": str(config)}


def test_batches_are_listed_newest_first_as_lines_and_json(site):
    db, _, env = site
    text = cli(db, "batches", env=env)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].split("\t")[:4] == ["B-002", "BR01", "2026-10-02T22:00:00", "running"]
    assert lines[1].endswith("inoculation, batch, fed-batch, harvest")
    found = json.loads(cli(db, "batches", "--json", "--unit", "BR01", env=env).stdout)
    assert [b["batch_id"] for b in found] == ["B-002", "B-001"]
    assert found[1] == {
        "batch_id": "B-001", "unit": "BR01", "start": T.isoformat(),
        "end": (T + 30 * H).isoformat(),
        "phases": [{"phase": p, "start": s.isoformat(), "end": e.isoformat()}
                   for s, e, _, p, _, _ in EVENTS[1:5]],
    }  # fmt: skip
    assert json.loads(cli(db, "batches", "--json", "--unit", "BR09", env=env).stdout) == []


def test_a_batches_statistics_per_phase_equal_the_definitions(site):
    db, tables, env = site
    out = cli(db, "stats", "--batch", "B-001", "--by-phase", "--variables", "temperature", "ph",
              env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert list(rows[0])[:3] == ["variable", "phase", "unit"]
    phases = ("inoculation", "batch", "fed-batch", "harvest")
    assert [(r["variable"], r["phase"]) for r in rows] == [
        (v, p) for p in phases for v in ("temperature", "ph")
    ]
    spans = {p: (s, e) for s, e, _, p, _, _ in EVENTS[1:5]}
    for r in rows:
        var = BY_KEY[r["variable"]]
        start, end = spans[r["phase"]]
        want = sql_stats(tables, var, start, end, db.gap)
        assert_equal_stats(_stats(r), want, (end - start).total_seconds())
    whole = list(csv.DictReader(io.StringIO(cli(db, "stats", "--batch", "B-001", env=env).stdout)))
    want = sql_stats(tables, TEMP, T, T + 30 * H, db.gap)
    assert_equal_stats(_stats(whole[0]), want, 30 * 3600)


def test_a_batches_csv_holds_its_rows(site):
    db, tables, env = site
    out = cli(db, "export", "--batch", "B-001", "--variables", "temperature", env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    want = tables.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE time BETWEEN %s AND %s")
        .format(sql.Identifier(TEMP.table)), (T, T + 30 * H),
    ).fetchone()[0]  # fmt: skip
    assert lines[0] == "time,temperature [°C]" and len(lines) - 1 == want
    assert lines[1].startswith(T.isoformat())


def test_bad_batches_and_events_tables_are_named(site):
    db, tables, env = site
    unknown = cli(db, "stats", "--batch", "B-999", env=env)
    assert unknown.returncode == 1
    assert "unknown batch 'B-999'" in unknown.stderr and "Traceback" not in unknown.stderr
    assert cli(db, "stats", "--by-phase").returncode == 2  # needs --batch
    none = cli(db, "batches")
    assert none.returncode == 2 and "no [events] in TRENDING_CONFIG" in none.stderr
    tables.execute("INSERT INTO batch_events VALUES (%s, %s, 'B-003', 'batch', 'BR01', NULL)",
                   (T + 50 * H, T + 49 * H))  # fmt: skip
    warned = cli(db, "batches", env=env)
    assert warned.returncode == 0
    assert "batch B-003, phase batch: ends (2026-10-03T07:00:00) before it starts" in (
        warned.stderr
    )
    tables.execute("ALTER TABLE batch_events RENAME COLUMN batch_id TO lot")
    wrong = cli(db, "batches", env=env)
    assert wrong.returncode == 1
    assert "events table 'batch_events' has no column 'batch_id' (the batch)" in wrong.stderr
    tables.execute("DROP TABLE batch_events")
    gone = cli(db, "batches", env=env)
    assert gone.returncode == 1 and "events table 'batch_events' not found" in gone.stderr
    assert "Traceback" not in wrong.stderr + gone.stderr


def _stats(row: dict) -> Stats:
    def num(text: str) -> float | None:
        return float(text) if text else None

    return Stats(
        variable=row["variable"], unit=row["unit"], samples=int(row["samples"]),
        min=num(row["min"]), max=num(row["max"]), mean=num(row["mean"]),
        time_weighted_mean=num(row["time_weighted_mean"]), std=num(row["std"]),
        coverage=float(row["coverage"]),
        time_outside_limits_s=float(row["time_outside_limits_s"]),
    )  # fmt: skip


def test_compared_batches_csv_has_each_batchs_rows_and_exact_elapsed_seconds(site):
    db, tables, env = site
    out = cli(db, "export", "--compare", "B-001,B-002", "--variables", "temperature", env=env)
    assert out.returncode == 0, out.stderr
    rows = list(csv.reader(io.StringIO(out.stdout)))
    assert rows[0] == ["batch", "elapsed_s", "time", "temperature [°C]"]

    def count(start: datetime, end: datetime | None) -> int:
        return tables.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE time >= %s AND (%s::timestamp IS NULL"
                    " OR time <= %s)").format(sql.Identifier(TEMP.table)), (start, end, end),
        ).fetchone()[0]  # fmt: skip

    by_batch = {b: [r for r in rows[1:] if r[0] == b] for b in ("B-001", "B-002")}
    assert len(by_batch["B-001"]) == count(T, T + 30 * H)
    assert len(by_batch["B-002"]) == count(T + 40 * H, None)  # running: every row since
    assert len(rows) - 1 == len(by_batch["B-001"]) + len(by_batch["B-002"])
    for batch, start in (("B-001", T), ("B-002", T + 40 * H)):
        for r in by_batch[batch]:
            elapsed = datetime.fromisoformat(r[2]) - start
            assert r[1] == str(elapsed // timedelta(seconds=1))  # rows on whole seconds
    aligned = cli(db, "export", "--compare", "B-001", "--align", "fed-batch", env=env)
    assert aligned.returncode == 0, aligned.stderr
    first = aligned.stdout.splitlines()[1].split(",")
    anchor = T + 12 * H + timedelta(seconds=17)  # rows every 20 s from T - 1 h: the next at +3 s
    assert first[:3] == ["B-001", "3", (anchor + timedelta(seconds=3)).isoformat() + ".000000"]


def test_a_comparison_that_cannot_be_made_is_named(site):
    db, _, env = site
    missing = cli(db, "export", "--compare", "B-001,B-002", "--align", "fed-batch", env=env)
    assert missing.returncode == 1 and "batch B-002 has no phase 'fed-batch'" in missing.stderr
    unknown = cli(db, "export", "--compare", "B-001,B-404", env=env)
    assert unknown.returncode == 1 and "no batch 'B-404'" in unknown.stderr
    assert cli(db, "export", "--align", "batch", env=env).returncode == 2
    assert cli(db, "export", "--compare", "B-001", "--window", "1h", env=env).returncode == 2
    many = cli(db, "export", "--compare", ",".join(f"B-{i}" for i in range(9)), env=env)
    assert many.returncode == 1 and "at most 8 are compared" in many.stderr
    assert "Traceback" not in missing.stderr + unknown.stderr + many.stderr

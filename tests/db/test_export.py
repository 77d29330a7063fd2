"""CSV export: every row of the window exactly once, exact values, an outer join on time."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from tests.harness.csvcheck import csv_rows, db_rows, reference_csv
from tests.harness.database import insert
from trending_panel.core.variables import BY_KEY, VARIABLES
from trending_panel.db.store import Store
from trending_panel.read.csv_export import csv_bytes, csv_chunks, format_value

T0 = datetime(2023, 5, 4, 10, 0)


def fill(conn) -> None:
    """Misaligned timestamps across tables, a duplicated timestamp, NULL, NaN, float32 values."""
    for i, var in enumerate(VARIABLES):
        insert(
            conn,
            var.table,
            [
                (T0 + timedelta(seconds=s, milliseconds=137 * i), 37.0 + s * 0.1 + i)
                for s in range(0, 600, 3 + i)
            ],
        )
    temp, ph = BY_KEY["temperature"], BY_KEY["ph"]
    dup = T0 + timedelta(seconds=100, milliseconds=5)
    insert(conn, temp.table, [(dup, 37.19999885559082), (dup, 37.2), (dup, 37.2)])
    insert(
        conn,
        ph.table,
        [(dup, 7.0), (T0 + timedelta(seconds=7), None), (T0 + timedelta(seconds=8), math.nan)],
    )


def export_text(settings, variables, start, end) -> str:
    async def run():
        async with Store(settings) as store:
            return (await csv_bytes(store, variables, start, end)).read().decode()

    return asyncio.run(run())


def test_csv_equals_database_rows_of_the_window(db, tables):
    fill(tables)
    start, end = T0 + timedelta(seconds=30), T0 + timedelta(seconds=400)
    text = export_text(db, VARIABLES, start, end)
    head, rows = csv_rows(text)
    assert head == ["time", "temperature [°C]", "ph", "dissolved_oxygen [%]", "pressure [psi]"]
    expected = db_rows(tables, VARIABLES, start, end)
    assert sum(expected.values()) > 300
    assert rows == expected


def test_duplicates_are_separate_lines_and_nothing_is_merged(db, tables):
    fill(tables)
    text = export_text(db, VARIABLES, None, None)
    lines = [line for line in text.splitlines() if line.startswith("2023-05-04T10:01:40.005000")]
    # three temperature rows at that instant (two identical), one pH row: three lines
    assert len(lines) == 3
    temps = sorted(line.split(",")[1] for line in lines)
    assert temps == ["37.19999885559082", "37.2", "37.2"]
    assert sorted(line.split(",")[2] for line in lines) == ["", "", "7.0"]
    assert "NULL" in text and "NaN" in text
    assert csv_rows(text)[1] == db_rows(tables)


def test_subset_of_variables_and_empty_window(db, tables):
    fill(tables)
    ph, pressure = BY_KEY["ph"], BY_KEY["pressure"]
    text = export_text(db, (ph, pressure), None, None)
    assert text.splitlines()[0] == "time,ph,pressure [psi]"
    assert csv_rows(text)[1] == db_rows(tables, (ph, pressure))
    empty = export_text(db, VARIABLES, datetime(2030, 1, 1), datetime(2030, 1, 2))
    assert empty.splitlines() == ["time,temperature [°C],ph,dissolved_oxygen [%],pressure [psi]"]


def test_values_round_trip_exactly():
    for value in (0.1, 37.20000076293945, 1e-300, -0.0, 7.280000000000001):
        assert float(format_value(value)) == value
    assert format_value(None) == "NULL" and format_value(math.nan) == "NaN"


def test_cli_export_writes_the_same_file(db, tables, tmp_path):
    fill(tables)
    env = {**db.to_env(), "PATH": "/usr/bin:/bin"}
    out = tmp_path / "window.csv"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "trending_panel.ops.cli",
            "export",
            "--start",
            "2023-05-04T10:00:30",
            "--end",
            "2023-05-04T10:06:40",
            "-o",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    start, end = T0 + timedelta(seconds=30), T0 + timedelta(seconds=400)
    assert out.read_bytes().decode() == export_text(db, VARIABLES, start, end)
    # relative window: the last hour before the newest sample, not before now
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "trending_panel.ops.cli",
            "export",
            "--window",
            "1h",
            "--variables",
            "ph",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert csv_rows(proc.stdout)[1] == db_rows(tables, (BY_KEY["ph"],))


@pytest.mark.parametrize("merged", [True, False], ids=["lines-per-instant", "lines-per-row"])
def test_same_bytes_as_the_row_by_row_reference_for_awkward_values_and_shared_times(
    db, tables, monkeypatch, merged
):
    """PostgreSQL writes the lines; the file is byte for byte the all-Python CSV: whole
    numbers, magnitudes where PostgreSQL's notation differs, -0.0, infinities, NULL, NaN, rows
    of several tables and duplicates at one instant, also across the blocks it streams in.
    Both of PostgreSQL's layouts (a line per instant, for tables logged at the same instants,
    and a line per row) give the same file."""
    import random

    async def layout(self, variables, start):
        return merged

    monkeypatch.setattr(Store, "_shares_instants", layout)

    rng = random.Random(3)
    awkward = [
        0.0,
        -0.0,
        1.0,
        37.0,
        -12.0,
        1e14,
        1e15,
        1.5e15,
        1234567890123456.8,
        1e16,
        4.810350736052262e16,
        2.767899102555749e16,
        1e22,
        1e-5,
        2.5e-7,
        0.1,
        1 / 3,
        5e-324,
        1.7976931348623157e308,
        math.inf,
        -math.inf,
        None,
        math.nan,
    ]
    awkward += [rng.uniform(-10, 10) * 10 ** rng.randint(-20, 20) for _ in range(300)]
    awkward += [float(rng.randint(-(10**6), 10**6)) for _ in range(100)]
    for i, var in enumerate(VARIABLES):
        rows = [(T0 + timedelta(seconds=k, milliseconds=37 * i), v) for k, v in enumerate(awkward)]
        shared = [(T0 + timedelta(seconds=k), 7.0 + i) for k in range(0, len(awkward), 9)]
        insert(tables, var.table, rows + shared + shared[:3])  # shared, and duplicated
    expected = reference_csv(tables, VARIABLES)
    assert expected.count(b"\r\n") > 4 * len(awkward)

    async def run(slices):
        async with Store(db) as store:
            chunks = [c async for c in csv_chunks(store, VARIABLES, None, None, slices=slices)]
            return b"".join(chunks)

    for slices in (2000, 50, 1):  # one slice a second, a few dozen, the whole window in one
        assert asyncio.run(run(slices)) == expected

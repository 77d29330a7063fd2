"""Statistics of a window against values computed here, independently, from the raw rows:
with a gap, NULL, NaN, a duplicate timestamp, the row before the window and one after it."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from dataclasses import fields
from datetime import timedelta

import pytest

from tests.harness.database import insert
from tests.harness.stats_reference import DO, END, GAP, START, T0, TEMP, plant_rows, reference
from trending_panel.read.stats import COLUMNS, Stats


def test_the_csv_columns_are_the_fields():
    assert tuple(f.name for f in fields(Stats)) == COLUMNS


def test_stats_command_equals_the_definitions_computed_from_the_raw_rows(db, tables):
    rows = plant_rows()
    insert(tables, TEMP.table, rows)
    do_rows = [(T0 + timedelta(seconds=45 * k), 40.0 + k % 3) for k in range(30)]
    insert(tables, DO.table, do_rows)
    proc = subprocess.run(
        [sys.executable, "-m", "trending_panel.ops.cli", "stats", "--start", START.isoformat(),
         "--end", END.isoformat(), "--variables", "temperature", "ph", "dissolved_oxygen"],
        env={**os.environ, **db.to_env()}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    table = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert list(table[0]) == list(COLUMNS)
    got = {r["variable"]: r for r in table}
    assert list(got) == ["temperature", "ph", "dissolved_oxygen"]
    for var, source in ((TEMP, rows), (DO, do_rows)):
        want = reference(source, var, START, END, GAP)
        row = got[var.key]
        assert row["unit"] == var.unit
        assert int(row["samples"]) == want["samples"]
        for name in COLUMNS[3:]:
            expected = want[name]
            if expected is None:
                assert row[name] == "", (var.key, name)
            else:
                assert float(row[name]) == pytest.approx(expected, rel=1e-9, abs=1e-9), (
                    var.key, name
                )  # fmt: skip
    # What the definitions make of this data, spelled out for the reader:
    temp = reference(rows, TEMP, START, END, GAP)
    assert temp["samples"] == 16 + 1 + 22 - 2  # NULL and NaN are rows, not samples
    assert 0.5 < temp["coverage"] < 0.75  # the NULL and NaN intervals and the gap are holes
    assert temp["time_outside_limits_s"] > 0  # 37.95 above 37.8, 36.2-36.4 below 36.5
    assert (
        got["ph"]["samples"] == "0" and got["ph"]["mean"] == "" and got["ph"]["coverage"] == "0.0"
    )

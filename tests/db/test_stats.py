"""Statistics of a window against values computed here, independently, from the raw rows:
with a gap, NULL, NaN, a duplicate timestamp, the row before the window and one after it."""

from __future__ import annotations

import csv
import io
import math
import os
import subprocess
import sys
from dataclasses import fields
from datetime import datetime, timedelta

import pytest

from tests.harness.database import insert
from trending_panel.core.variables import BY_KEY, VARIABLES
from trending_panel.read.stats import COLUMNS, Stats

T0 = datetime(2024, 3, 1, 8, 0)
START, END = T0, T0 + timedelta(minutes=20)
GAP = timedelta(minutes=5)
TEMP, PH, DO = BY_KEY["temperature"], BY_KEY["ph"], BY_KEY["dissolved_oxygen"]


def plant_rows() -> list[tuple[datetime, float | None]]:
    rows: list[tuple[datetime, float | None]] = [(T0 - timedelta(seconds=30), 37.0)]  # before
    for k in range(16):  # 0..300 s every 20 s
        rows.append((T0 + timedelta(seconds=20 * k), 37.0 + (k % 7) / 10))
    rows[5] = (rows[5][0], None)  # NULL at 80 s
    rows[9] = (rows[9][0], math.nan)  # NaN at 160 s
    rows.append((T0 + timedelta(seconds=200), 37.95))  # a second row at 200 s
    # 300 s → 760 s: 460 s without a row, longer than the 5 min gap limit: no data
    for k in range(22):  # 760..1180 s
        rows.append((T0 + timedelta(seconds=760 + 20 * k), 36.2 + (k % 5) / 10))
    rows.append((END + timedelta(seconds=10), 99.0))  # after the window: not counted
    return rows


def _order(row):
    t, v = row  # PostgreSQL's ORDER BY time, value: NaN after numbers, NULL last
    return (t, 2, 0.0) if v is None else ((t, 1, 0.0) if math.isnan(v) else (t, 0, v))


def reference(rows, var, start, end, gap) -> dict:
    """The definitions, written out row by row."""
    rows = sorted(rows, key=_order)
    before = [r for r in rows if r[0] < start][-1:]
    seq = before + [r for r in rows if start <= r[0] <= end]

    def finite(v):
        return v is not None and math.isfinite(v)

    samples = [v for t, v in seq if t >= start and finite(v)]
    weighted = covered = outside = 0.0
    for i, (t, v) in enumerate(seq):
        nxt = seq[i + 1][0] if i + 1 < len(seq) else end
        if not finite(v) or (nxt - t) > gap:
            continue
        held = (nxt - max(t, start)).total_seconds()
        weighted += v * held
        covered += held
        if (var.low is not None and v < var.low) or (var.high is not None and v > var.high):
            outside += held
    n = len(samples)
    mean = sum(samples) / n if n else None
    return {
        "samples": n,
        "min": min(samples) if n else None,
        "max": max(samples) if n else None,
        "mean": mean,
        "time_weighted_mean": weighted / covered if covered else None,
        "std": math.sqrt(sum((x - mean) ** 2 for x in samples) / (n - 1)) if n > 1 else None,
        "coverage": covered / (end - start).total_seconds(),
        "time_outside_limits_s": outside,
    }


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


FRAME_JS = """
([name]) => { const doc = Bokeh.documents[0];
  const model = doc.get_model_by_name(name); const view = Bokeh.index.find_one(model);
  const r = view.canvas_view.el.getBoundingClientRect(); const f = view.frame.bbox;
  return {left: r.left + f.x0, top: r.top + f.y0, width: f.width, height: f.height}; }
"""
READOUT_JS = """
() => { const doc = Bokeh.documents[0];
  const div = doc.get_model_by_name("cursor-readout");
  const lines = [...doc.all_models].filter(m => m.name === "cursor-line");
  return {text: div.text, at: lines.map(s => s.location), shown: lines.map(s => s.visible)}; }
"""


def held_in_database(conn, table: str, t: datetime) -> float | None:
    """What the historian holds at ``t``: the last row at or before it, unless its value is
    NULL/NaN or the interval it starts is longer than the gap limit."""
    from psycopg import sql as q

    ident = q.Identifier(table)
    row = conn.execute(
        q.SQL("SELECT time, value FROM {} WHERE time <= %s ORDER BY time DESC, value DESC"
              " LIMIT 1").format(ident), (t,),
    ).fetchone()  # fmt: skip
    if row is None or row[1] is None or math.isnan(row[1]):
        return None
    nxt = conn.execute(
        q.SQL("SELECT min(time) FROM {} WHERE time > %s").format(ident), (row[0],)
    ).fetchone()[0]
    if (nxt if nxt is not None else t) - row[0] > GAP:
        return None
    return row[1]


def settled_frame(page, name: str) -> dict:
    """The plot frame's box on the page once the page's layout stopped moving."""
    from tests.harness.browser import wait_until

    seen: list[dict] = []

    def still() -> bool:
        seen.append(page.evaluate(FRAME_JS, [name]))
        page.wait_for_timeout(250)
        return len(seen) > 1 and seen[-1] == seen[-2]

    wait_until(still, what=f"{name} laid out")
    return seen[-1]


REF_JS = """
() => { const doc = Bokeh.documents[0]; const out = {};
  for (const m of doc.all_models) {
    if (m.name === "ref-temperature") {
      const d = m.data, get = (k) => Array.from(d instanceof Map ? d.get(k) : d[k]);
      out.time = get("time"); out.value = get("value"); out.sample = get("sample"); }
    if (m.name === "ref-label-temperature") out.label = m.text;
  }
  return out; }
"""


MONTH_END = datetime(2023, 3, 1, 16, 0)
READS = (
    "SELECT relname, coalesce(seq_tup_read, 0), coalesce(idx_tup_fetch, 0)"
    " FROM pg_stat_user_tables WHERE relname = ANY(%s)"
)


def rows_read(conn) -> dict[str, tuple[int, int]]:
    """Rows read from each table so far: (by sequential scans, through indexes)."""
    conn.execute("SELECT pg_stat_clear_snapshot()")
    rows = conn.execute(READS, ([v.table for v in VARIABLES],)).fetchall()
    return {name: (seq, idx) for name, seq, idx in rows}


def reference_sql(conn, var, start, end) -> dict:
    from tests.harness.stats_reference import sql_stats

    return sql_stats(conn, var, start, end, GAP)

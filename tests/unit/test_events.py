"""Batches assembled from events rows (issue 20): spans, running batches, phases in order,
and every row that cannot be right named, not guessed at."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from trending_panel.core.errors import ConfigError
from trending_panel.core.events import assemble, events_spec

T = datetime(2026, 11, 1, 8, 0)
D = timedelta(days=1)


def test_a_batch_spans_its_rows_and_runs_while_one_has_no_end():
    rows = [
        (T, T + 14 * D, "B-1", None, "BR01", "the first"),
        (T, T + D, "B-1", "inoculation", "BR01", None),
        (T + 5 * D, T + 13 * D, "B-1", "fed-batch", "BR01", None),
        (T + D, T + 5 * D, "B-1", "batch", "BR01", None),
        (T + 16 * D, T + 17 * D, "B-2", "inoculation", "BR01", None),
        (T + 17 * D, None, "B-2", "batch", "BR01", None),
        (T + 3 * D, T + 9 * D, "B-3", "batch", "BR02", None),
    ]
    found = assemble(rows)
    assert found.problems == []
    assert [b.batch_id for b in found.batches] == ["B-2", "B-3", "B-1"]  # newest first
    b1 = found.get("B-1")
    assert (b1.start, b1.end, b1.unit, b1.description) == (T, T + 14 * D, "BR01", "the first")
    assert [p.name for p in b1.phases] == ["inoculation", "batch", "fed-batch"]
    assert b1.phase("FED-BATCH").start == T + 5 * D
    b2 = found.get("B-2")
    assert b2.running and b2.end is None and b2.start == T + 16 * D
    assert found.neighbours(b1) == (None, b2)  # on its unit only
    assert found.neighbours(b2) == (b1, None)
    assert [b.batch_id for b in found.of_unit("BR02")] == ["B-3"]
    assert b2.as_json()["phases"][1] == {
        "phase": "batch", "start": (T + 17 * D).isoformat(), "end": None,
    }  # fmt: skip


def test_rows_that_cannot_be_right_are_named():
    rows = [
        (T, T + 2 * D, "B-1", "batch", "BR01", None),
        (T + D, T + 3 * D, "B-1", "fed-batch", "BR01", None),  # overlaps the batch phase
        (T + 4 * D, T + 3 * D, "B-1", "harvest", "BR01", None),  # ends before it starts
        (T, T + D, "B-2", "batch", "BR01", None),
        (T, T + D, "B-2", "fed-batch", "BR02", None),  # two units
        (None, T, "B-3", "batch", None, None),  # no start
    ]
    found = assemble(rows)
    text = " | ".join(found.problems)
    assert "batch B-1: phases batch and fed-batch overlap" in text
    assert "batch B-1, phase harvest: ends (" in text and "left out" in text
    assert "batch B-2: rows name several units (BR01, BR02)" in text
    assert "batch B-3: a row without a start time was left out" in text
    assert [p.name for p in found.get("B-1").phases] == ["batch", "fed-batch"]
    assert found.get("B-3") is None


def test_the_events_section_is_validated_by_name():
    spec = events_spec({"table": "batch_events", "batch": "lot"}, "[events]")
    assert spec.table == "batch_events" and spec.column("batch") == "lot"
    assert spec.column("start") == "start_time"
    with pytest.raises(ConfigError, match=r"\[events\]: table must be the events table's name"):
        events_spec({}, "[events]")
    with pytest.raises(ConfigError, match=r"unknown setting.s. begin"):
        events_spec({"table": "e", "begin": "x"}, "[events]")
    with pytest.raises(ConfigError, match="phase must be the phase column's name"):
        events_spec({"table": "e", "phase": ""}, "[events]")


def test_phase_bands_of_a_window_and_a_unit():
    from trending_panel.core.rows import to_ms
    from trending_panel.web.phase_bands import phase_rows

    rows = [
        (T, T + D, "B-1", "inoculation", "BR01", None),
        (T + D, None, "B-1", "batch", "BR01", None),
        (T + 2 * D, T + 2 * D + timedelta(minutes=5), "B-2", "blip", "BR02", None),
        (T + 2 * D, None, "B-2", "batch", "BR02", None),
    ]
    found = assemble(rows).batches
    now = T + 3 * D
    start, end = T + D / 2, now
    cols = phase_rows(found, start, end, now)
    assert sorted(cols["label"]) == sorted(
        ["", "batch · B-2", "inoculation · B-1", "batch · B-1"]
    )  # the 5-minute phase is too narrow for its label at this width
    i = cols["label"].index("inoculation · B-1")
    assert cols["x0"][i] == to_ms(T) and cols["label_x"][i] == to_ms(start)  # begun earlier
    j = cols["label"].index("batch · B-1")
    assert cols["x1"][j] == to_ms(now) and cols["span"][j].endswith("(running)")
    assert cols["align"][i] == "left" and cols["align"][j] == "left"
    late = phase_rows(found, T, T + 2.1 * D, now)  # B-2 begins in the window's last 5 %
    k = late["label"].index("batch · B-2")  # ... so its label ends at the window's right edge
    assert late["align"][k] == "right" and late["label_x"][k] == to_ms(T + 2.1 * D)
    only = phase_rows(found, start, end, now, {"BR02"})
    assert set(only["unit"]) == {"BR02"}

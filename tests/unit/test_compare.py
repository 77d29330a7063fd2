"""Batches compared (issue 20): the ids a URL may name, the zero of each batch, the asset swap
of a multi-unit site, and a trace placed on the axis of hours since its zero."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from trending_panel.core import compare
from trending_panel.core import steps as traces
from trending_panel.core.events import assemble
from trending_panel.read.compare_load import elapsed_range, overlay_columns

H = timedelta(hours=1)
T0 = datetime(2026, 3, 1, 8, 0)
KNOWN = {"BR01/TEMP", "BR03/TEMP", "BR1_PH", "BR10_PH", "BR01/PH"}


def batches():
    return assemble([
        (T0, T0 + 2 * H, "A", "inoculation", "BR01", None),
        (T0 + 2 * H, T0 + 9 * H, "A", "fed-batch", "BR01", None),
        (T0 + 20 * H, T0 + 21 * H, "B", "inoculation", "BR03", None),
        (T0 + 21 * H, None, "B", "Fed-Batch", "BR03", None),
        (T0 + 30 * H, T0 + 31 * H, "C", "inoculation", "BR03", None),
    ])  # fmt: skip


def test_ids_are_read_in_order_each_once_and_at_most_eight():
    assert compare.parse_ids(" A, B,,A ,C") == ["A", "B", "C"]
    with pytest.raises(ValueError, match="at most 8"):
        compare.parse_ids(",".join(str(i) for i in range(9)))
    with pytest.raises(ValueError, match="name the batches"):
        compare.parse_ids(" , ")
    with pytest.raises(ValueError, match="longer than 200"):
        compare.parse_ids("x" * 201)


def test_a_pen_of_one_unit_is_read_from_the_same_tag_of_the_batchs_unit():
    units = {"BR01", "BR03", "BR1", "BR10"}
    assert compare.swapped("BR01/TEMP", "BR03", units, KNOWN) == "BR03/TEMP"
    assert compare.swapped("BR01/TEMP", "BR01", units, KNOWN) == "BR01/TEMP"
    assert compare.swapped("BR01/PH", "BR03", units, KNOWN) is None  # BR03 has none
    assert compare.swapped("BR10_PH", "BR1", units, KNOWN) == "BR1_PH"  # not BR1's "0_PH"
    assert compare.swapped("BR1_PH", "BR10", units, KNOWN) == "BR10_PH"
    assert compare.swapped("PLANT/STEAM", "BR03", units, KNOWN) == "PLANT/STEAM"  # no unit's
    assert compare.swapped("BR01X", "BR03", units, KNOWN) == "BR01X"  # no separator
    assert compare.swapped("BR01/TEMP", None, units, KNOWN) == "BR01/TEMP"


def test_the_plan_zeroes_each_batch_at_its_start_or_its_phase_and_names_what_it_leaves_out():
    now = T0 + 40 * H
    found, problems = compare.plan(batches(), ["B", "X", "A"], None, ["BR01/TEMP", "BR01/PH"],
                                   KNOWN, now)  # fmt: skip
    assert [c.batch.batch_id for c in found] == ["B", "A"]
    assert [c.slot for c in found] == [0, 2]  # colours stay with the place asked
    assert found[0].colour == compare.COLOURS[0] and found[1].colour == compare.COLOURS[2]
    b, a = found
    assert (b.anchor, b.start, b.end) == (T0 + 20 * H, T0 + 20 * H, now)  # running: until now
    assert b.tags == {"BR01/TEMP": "BR03/TEMP"}
    assert a.tags == {"BR01/TEMP": "BR01/TEMP", "BR01/PH": "BR01/PH"}
    assert problems == ["BR03 has no tag for BR01/PH (batch B)", "no batch 'X'"]
    aligned, problems = compare.plan(batches(), ["A", "B", "C"], "fed-batch", ["BR01/TEMP"],
                                     KNOWN, now)  # fmt: skip
    assert [(c.batch.batch_id, c.anchor) for c in aligned] == [
        ("A", T0 + 2 * H), ("B", T0 + 21 * H),  # the phase's name in any case
    ]  # fmt: skip
    assert problems == ["batch C has no phase 'fed-batch'"]
    assert aligned[1].elapsed(T0 + 22 * H) == 1.0 and aligned[1].at(1.5) == T0 + 22.5 * H


def test_a_trace_starts_at_elapsed_zero_with_the_value_held_there():
    start = T0 + 2 * H
    lead = (start - timedelta(seconds=40), 5.0)  # the row before the batch
    times = np.array([start + timedelta(seconds=20), start + H], dtype="datetime64[us]")
    cols = traces.with_lead(lead, times, np.array([6.0, 7.0]), gap=timedelta(minutes=10))
    placed = overlay_columns(cols, start, anchor=start)
    assert placed["elapsed"][0] == 0.0 and placed["value"][0] == 5.0
    assert placed["elapsed"][-1] == 1.0 and placed["value"][-1] == 7.0
    assert np.all(np.diff(placed["elapsed"]) >= 0)
    assert list(placed["sample"]) == list(cols["sample"])  # rows stay rows
    assert elapsed_range([]) == (0.0, 1.0)

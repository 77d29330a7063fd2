"""The simulator's batches (issue 20): a 6-hour cycle of inoculation, batch, fed-batch and
harvest with a turnaround between batches, the running phase and batch without an end, and
the next boundary at which the table is written again."""

from __future__ import annotations

from datetime import datetime, timedelta

from trending_panel.core.events import assemble
from trending_panel.ops.sim_batches import batch_rows, next_boundary

M = timedelta(minutes=1)


def test_batches_follow_the_cycle_with_a_turnaround_and_the_running_one_open():
    now = datetime(2026, 3, 2, 9, 0)  # 3 h into the 06:00 batch: its fed-batch runs
    found = assemble(batch_rows(datetime(2026, 3, 1, 20, 0), now))
    assert found.problems == []
    assert [b.batch_id for b in found.batches] == [
        "B-20260302-0600", "B-20260302-0000", "B-20260301-1800",
    ]  # fmt: skip
    running, done = found.batches[0], found.batches[1]
    assert running.running and [(p.name, p.end) for p in running.phases] == [
        ("inoculation", datetime(2026, 3, 2, 6, 30)),
        ("batch", datetime(2026, 3, 2, 8, 30)),
        ("fed-batch", None),
    ]
    assert done.start == datetime(2026, 3, 2, 0, 0) and done.end == datetime(2026, 3, 2, 5, 30)
    assert [p.name for p in done.phases] == ["inoculation", "batch", "fed-batch", "harvest"]
    assert running.start - done.end == 30 * M  # the turnaround: no batch


def test_the_table_is_written_again_at_each_boundary():
    assert next_boundary(datetime(2026, 3, 2, 9, 0)) == datetime(2026, 3, 2, 11, 15)
    assert next_boundary(datetime(2026, 3, 2, 11, 15)) == datetime(2026, 3, 2, 11, 30)
    assert next_boundary(datetime(2026, 3, 2, 11, 40)) == datetime(2026, 3, 2, 12, 0)
    assert next_boundary(datetime(2026, 3, 2, 12, 0)) == datetime(2026, 3, 2, 12, 30)

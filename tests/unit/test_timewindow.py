"""Time windows: presets, URL round trips, zones, and independence from the host's zone."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from trending_panel.core.timewindow import PRESETS, TimeWindow, parse_duration, parse_time

UTC = ZoneInfo("UTC")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("5m", 300), ("1.5h", 5400), ("7d", 604800), ("250ms", 0.25), ("2w", 1209600)],
)
def test_durations(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "5", "h", "five minutes", "-5m", "5 years"])
def test_bad_durations_are_named(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_relative_window_ends_at_newest_sample_not_now():
    newest = datetime(2023, 3, 1, 16, 0)  # a finished batch, years ago
    assert TimeWindow("1h").resolve(newest) == (datetime(2023, 3, 1, 15, 0), newest)
    assert TimeWindow("all").resolve(newest) == (None, None)


def test_every_preset_resolves():
    newest = datetime(2023, 3, 1)
    for key, length in PRESETS.items():
        start, end = TimeWindow(key).resolve(newest)
        assert (start, end) == ((None, None) if length is None else (newest - length, newest))


def test_url_round_trip_relative_and_absolute():
    assert TimeWindow.from_query({"window": "24h"}, UTC) == TimeWindow("24h")
    w = TimeWindow(None, datetime(2023, 3, 1, 10), datetime(2023, 3, 1, 12, 30, 0, 500000))
    assert TimeWindow.from_query(w.to_query(), UTC) == w
    assert TimeWindow.from_query({}, UTC) == TimeWindow("1h")


def test_offsets_are_converted_to_the_data_zone():
    assert parse_time("2023-03-01T12:00:00+02:00", UTC) == datetime(2023, 3, 1, 10, 0)
    berlin = ZoneInfo("Europe/Berlin")
    assert parse_time("2023-03-01T12:00:00Z", berlin) == datetime(2023, 3, 1, 13, 0)
    assert parse_time("2023-03-01 12:00", berlin) == datetime(2023, 3, 1, 12, 0)


@pytest.mark.parametrize(
    "query",
    [
        {"window": "3h"},
        {"start": "2023-01-01"},
        {"start": "yesterday", "end": "today"},
        {"start": "2023-01-02", "end": "2023-01-01"},
    ],
)
def test_bad_url_windows_are_rejected_with_a_reason(query):
    with pytest.raises(ValueError):
        TimeWindow.from_query(query, UTC)


def test_host_time_zone_does_not_matter(monkeypatch):
    newest = datetime(2023, 3, 26, 1, 30)  # a DST change night in Europe
    results = []
    for tz in ("UTC", "America/New_York", "Asia/Kolkata", "Europe/Berlin"):
        monkeypatch.setenv("TZ", tz)
        time.tzset()
        results.append(
            (
                TimeWindow("6h").resolve(newest),
                parse_time("2023-03-26T02:30", UTC),
                TimeWindow("6h").slug(newest),
            )
        )
    monkeypatch.delenv("TZ")
    time.tzset()
    assert all(r == results[0] for r in results)
    assert results[0][0] == (newest - timedelta(hours=6), newest)
    assert "TZ" not in os.environ


def test_preset_labels_follow_their_keys():
    from trending_panel.core.timewindow import preset_label

    assert [preset_label(k) for k in PRESETS] == [
        "Last 5 min",
        "Last 15 min",
        "Last 1 h",
        "Last 6 h",
        "Last 24 h",
        "Last 7 d",
        "Last 30 d",
        "All data",
    ]
    assert PRESETS["30d"] == timedelta(days=30) and PRESETS["all"] is None


def test_a_start_with_a_live_end_follows_the_newest_sample():
    start = datetime(2026, 3, 1, 8, 0)
    w = TimeWindow.from_query({"start": "2026-03-01T08:00", "end": "now"}, UTC)
    assert w.live_end and w.is_relative and w.preset is None
    assert w.to_query() == {"start": "2026-03-01T08:00:00", "end": "now"}
    assert TimeWindow.from_query(w.to_query(), UTC) == w
    assert w.resolve(start + timedelta(hours=30)) == (start, start + timedelta(hours=30))
    assert w.resolve(None) == (start, w.end)  # nothing newer: the end it was given
    assert w.label() == "2026-03-01T08:00:00 – now"
    fixed = TimeWindow(None, start, start + timedelta(hours=2))
    assert fixed.resolve(start + timedelta(hours=30)) == (start, start + timedelta(hours=2))
    assert not fixed.is_relative

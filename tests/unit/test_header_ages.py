"""The header's ages: counted on by the browser, so the server's text changes only with
what else it says (web/header.py, web/ages.js)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from trending_panel.core.variables import BY_KEY
from trending_panel.web import header

TEMP, PH = BY_KEY["temperature"], BY_KEY["ph"]
NOW = datetime(2026, 12, 2, 12, 0, 0)
GAP = timedelta(minutes=5)


def cards(latest: dict, now: datetime) -> str:
    return header.cards_html([TEMP, PH], latest, now, GAP)


def test_an_age_is_a_span_with_its_samples_time_and_the_texts_written_time():
    t = NOW - timedelta(seconds=12)
    text = cards({"temperature": (t, 37.0)}, NOW)
    assert f'data-t="{header.epoch_ms(t)}">12 s ago</span>' in text
    assert f'<div class="tp-cards" data-now="{header.epoch_ms(NOW)}">' in text
    # naive times (as the tables hold them) count from 1970 as if UTC; aware ones by the clock
    assert header.epoch_ms(datetime(1970, 1, 1, 0, 0, 1)) == 1000
    assert header.epoch_ms(datetime(1970, 1, 1, 1, tzinfo=UTC)) == 3_600_000


def test_the_same_samples_later_differ_only_by_their_ages():
    latest = {"temperature": (NOW - timedelta(seconds=3), 37.0), "ph": (NOW, 7.1)}
    now, later = cards(latest, NOW), cards(latest, NOW + timedelta(seconds=40))
    assert now != later and "43 s ago" in later and "3 s ago" in now
    assert header.unaged(now) == header.unaged(later)
    assert not re.search(r"\d+ s ago", header.unaged(later))


def test_a_new_value_or_a_sensor_turning_stale_is_a_change():
    latest = {"temperature": (NOW - timedelta(seconds=3), 37.0)}
    base = header.unaged(cards(latest, NOW))
    newer = {"temperature": (NOW, 37.1)}
    assert header.unaged(cards(newer, NOW)) != base
    stale = cards(latest, NOW + GAP)
    assert "tp-stale" in stale and header.unaged(stale) != base

"""Pens and trends: ``?pens=`` both ways, and how pens share trends and axes."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trending_panel.core import pens


def test_semicolons_separate_trends_and_commas_pens():
    assert pens.parse("a,b;c") == [["a", "b"], ["c"]]


def test_each_key_is_percent_decoded_on_its_own():
    text = f"{quote('BR01/TEMP,PV', safe='')},{quote('BR01/pH;1', safe='')};BR02%2FDO"
    assert pens.parse(text) == [["BR01/TEMP,PV", "BR01/pH;1"], ["BR02/DO"]]


def test_empty_parts_and_repeated_keys_are_dropped():
    assert pens.parse(";a,,a;;b,a;") == [["a"], ["b"]]


def test_a_key_that_is_not_utf8_is_refused_with_its_text():
    with pytest.raises(ValueError, match="not a percent-encoded UTF-8 key"):
        pens.parse("a,%ff%fe")


keys = st.text(min_size=1, max_size=20).filter(lambda k: k.strip() == k)


@given(st.lists(st.lists(keys, min_size=1, max_size=4), min_size=1, max_size=5))
def test_any_keys_round_trip_through_the_url(trends):
    seen: set[str] = set()
    unique = []
    for trend in trends:
        kept = [k for k in dict.fromkeys(trend) if k not in seen]
        seen.update(kept)
        if kept:
            unique.append(kept)
    assert pens.parse(pens.to_text(unique)) == unique


UNITS = {"t1": "°C", "t2": "°C", "p": "", "do": "%", "bar": "bar"}


def test_pens_of_two_units_share_a_trend_and_a_third_unit_starts_a_new_one():
    arranged = pens.arrange([["t1", "p", "t2", "do", "bar"]], UNITS.__getitem__)
    assert arranged.trends == (("t1", "p", "t2"), ("do", "bar"))
    assert arranged.notes == ()


def test_at_most_max_trends_are_kept_and_the_rest_named():
    arranged = pens.arrange([[f"k{i}"] for i in range(20)], lambda k: "", max_trends=16)
    assert len(arranged.trends) == 16
    assert "At most 16 trends" in arranged.notes[0]
    assert "k16" in arranged.notes[0]


def test_a_trend_holds_at_most_max_pens():
    arranged = pens.arrange([[f"k{i}" for i in range(10)]], lambda k: "", max_pens=8)
    assert [len(t) for t in arranged.trends] == [8, 2]

"""A page's pens from whatever the URL asks (``?pens=``, ``?variables=``): any input makes a
page of known, distinct pens, or the default one, and says what it left out."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trending_panel.core.settings import Settings
from trending_panel.core.variables import VARIABLES
from trending_panel.live.tag_list import TagList
from trending_panel.web.page_pens import page_of

SETTINGS = Settings(host="h", port=5432, user="u", password="", dbname="d")
TAGS = TagList(None, SETTINGS)  # the four, in memory: no catalog, nothing to read
KEYS = [v.key for v in VARIABLES]
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=12))


@given(st.lists(st.lists(keys, max_size=6), max_size=20))
def test_any_pens_asked_make_a_page_of_distinct_known_pens(asked):
    page = page_of(TAGS, asked)
    shown = [v.key for v in page.variables]
    assert shown and len(shown) == len(set(shown)) and set(shown) <= set(KEYS)
    assert [k for t in page.trends for k in t] == shown
    wanted = {k for t in asked for k in t if k in KEYS}
    assert set(shown) == (wanted or set(KEYS))  # the default when nothing asked is known
    unknown = {k for t in asked for k in t if k not in KEYS}
    assert bool(unknown) == ("No such tag" in page.problem)


def test_a_key_asked_twice_is_drawn_once_where_first_asked():
    page = page_of(TAGS, [["ph"], ["temperature", "ph"]])
    assert page.trends == (("ph",), ("temperature",))

"""Hostile input, fuzzed with Hypothesis: URL parameters of the page and of the CSV route as
their parsers see them, and the dashboard's window parameters as widgets and notebooks set
them (the same query strings over HTTP against a served dashboard: tests/browser/
test_hostile_served.py).

Whatever arrives, the answer is a page (or a 4xx) with a clear message and the previous or
default view: never a server traceback, never a 500, never SQL built from the input.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.harness.hostile import NEWEST, as_args, queries
from trending_panel.core.errors import BadRequest
from trending_panel.core.timewindow import PRESET_KEYS, TimeWindow, query_text
from trending_panel.core.variables import VARIABLES
from trending_panel.db.store import Store
from trending_panel.live.feed import LiveFeed
from trending_panel.serve.export_route import parse_query
from trending_panel.web import header
from trending_panel.web.dashboard import Dashboard

# -- parsing: only the refusals the page and the route turn into messages -------------------


@given(queries)
@settings(max_examples=400, deadline=None)
def test_url_window_parsing_raises_only_value_errors(admin_settings, pairs):
    args = as_args(pairs)
    try:
        window = TimeWindow.from_query(
            query_text(args, ("window", "start", "end")), admin_settings.tzinfo
        )
    except ValueError as exc:
        assert str(exc) and len(str(exc)) < 300  # a message, not a dump of the input
        return
    assert window.label()  # what parsed is a usable window
    start, end = window.resolve(NEWEST)
    assert start is None or start < end


@given(queries)
@settings(max_examples=400, deadline=None)
def test_export_query_parsing_raises_only_bad_request(admin_settings, pairs):
    try:
        window, variables, _ = parse_query(as_args(pairs), admin_settings)
    except BadRequest as exc:
        assert str(exc) and len(str(exc)) < 400
        return
    assert window.label() and all(v in VARIABLES for v in variables)


# -- widget and notebook values: a bad window reverts to the last good one ------------------


times = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
)


@pytest.fixture(scope="module")
def dash(admin_settings) -> Iterator[Dashboard]:
    """One dashboard for all examples (the states they leave behind are inputs too); no
    event loop runs, so no load reaches the database."""
    store = Store(admin_settings)
    yield Dashboard(admin_settings, feed=LiveFeed(store, admin_settings), autostart=False)
    asyncio.run(store.close())


def status_of(dash: Dashboard) -> str:
    """The page's status line as it would show now."""
    return header.status_html(
        dash.feed, dash.settings.by_key, dash.settings.now(), dash.status_notes()
    )


@given(
    st.lists(
        st.tuples(st.sampled_from([*PRESET_KEYS, "custom"]), times, times, times),
        min_size=1,
        max_size=6,
    )
)
@settings(max_examples=150, deadline=None)
def test_window_parameters_never_leave_the_dashboard_without_a_window(dash, steps):
    for window, start, end, ref in steps:
        dash.param.update(window=window, start=start, end=end, ref=ref)
        assert dash.ref is None or 1900 <= dash.ref.year <= 2200  # an absurd one is refused…
        if ref is not None and not 1900 <= ref.year < 2200:
            assert "Ignored that reference" in status_of(dash)  # …saying so
        assert dash.time_window.label()  # always a valid window…
        if window == "custom" and start and end and end <= start:
            assert "Ignored that window" in status_of(dash)  # …and why not this one
        if start and end:
            dash.pick_range(start, end)  # what the range inputs do
            assert dash.time_window.label()
        dash.tick()  # the periodic callback copes with whatever is set

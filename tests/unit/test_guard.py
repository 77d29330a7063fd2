"""The page's query checked with Panel's own parser before Panel builds a session from it."""

from __future__ import annotations

import pytest
from panel.util import parse_query

from trending_panel.serve.guard import MAX_QUERY, query_problem


@pytest.mark.parametrize(
    "query",
    [
        "window=6h",
        "window=custom&start=2024-05-01T12:00&end=2024-05-01T13:00",
        "variables=temperature,ph&ref=2024-04-30T12:00&theme=dark",
        "window=%00%ff",  # not UTF-8: the dashboard's own parser says so in the page
        "window=" + "x" * 5_000,
        "window=[1,2",  # Panel logs and ignores what it cannot read as JSON
        "window=" + "[" * 3_000,
    ],
)
def test_what_panel_can_read_goes_on(query):
    assert query_problem(query) is None
    parse_query("?" + query)  # and Panel indeed reads it


@pytest.mark.parametrize(
    "query, named",
    [
        ("window=" + "9" * 4_400, "'window'"),
        ("window=%C2%B2", "'window'"),  # '²'.isdigit(), but int('²') raises
        ("x=1&ref=" + "1" * 4_301, "'ref'"),
        ("window=" + "9" * (MAX_QUERY + 1), "longer than"),
    ],
)
def test_what_panel_cannot_read_is_named(query, named):
    if len(query) <= MAX_QUERY:
        with pytest.raises(ValueError):
            parse_query("?" + query)  # the failure this guards against
    assert named in query_problem(query)

"""The faster equivalents of two of Bokeh's property lookups (``web/bokeh_speed.py``) give
what Bokeh's own give, on the models of a themed page."""

from __future__ import annotations

import json
import re

from bokeh.core.has_props import HasProps
from bokeh.document import Document
from bokeh.models import ColumnDataSource, Div, HoverTool, LabelSet, Range1d
from bokeh.plotting import figure
from bokeh.themes import Theme

from trending_panel.web import bokeh_speed

THEME = Theme(json={"attrs": {"Plot": {"background_fill_color": "#121212"},
                              "Axis": {"axis_label_text_color": "#eeeeee"}}})  # fmt: skip


def themed_document() -> Document:
    doc = Document()
    fig = figure(x_range=Range1d(0, 1), title="t")
    source = ColumnDataSource({"x": [1, 2], "y": [3, 4], "label": ["a", "b"]})
    fig.line("x", "y", source=source)
    fig.add_layout(LabelSet(x="x", y="y", text="label", source=source))
    fig.add_tools(HoverTool())
    doc.add_root(fig)
    doc.add_root(Div(text="x"))
    doc.theme = THEME
    return doc


def state(doc: Document) -> str:
    """The document as Bokeh sends it (every model's values, the theme's applied), its ids
    numbered in order of appearance (they differ between documents)."""
    text = json.dumps(
        doc.to_json(), sort_keys=True, default=lambda o: repr(getattr(o, "content", o))
    )
    ids: dict[str, str] = {}
    return re.sub(r"\bp\d{4,}\b", lambda m: ids.setdefault(m.group(0), f"#{len(ids)}"), text)


def test_the_faster_lookups_give_what_bokehs_own_give():
    bokeh_speed.restore()
    try:
        assert bokeh_speed.applies()
        own = [state(themed_document()) for _ in range(2)]
        assert bokeh_speed.apply()
        fast = [state(themed_document()) for _ in range(2)]
    finally:
        bokeh_speed.apply()
    assert own == fast
    assert "#121212" in fast[0]  # the theme reached the document


def test_theme_values_set_and_cleared_are_seen_at_once():
    assert bokeh_speed.apply()
    fig = figure()
    assert fig.themed_values() is None
    fig.apply_theme({"background_fill_color": "#000000"})
    assert fig.themed_values() == {"background_fill_color": "#000000"}
    assert fig.background_fill_color == "#000000"
    fig.apply_theme({})
    assert fig.themed_values() is None and fig.background_fill_color == "#ffffff"


def test_overridden_defaults_are_the_mros_merge():
    assert bokeh_speed.apply()
    for cls in (HasProps, Range1d, ColumnDataSource, type(figure())):
        merged: dict = {}
        for c in reversed(cls.__mro__):
            merged.update(getattr(c, "__overridden_defaults__", {}))
        assert cls._overridden_defaults() == merged

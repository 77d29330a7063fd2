"""Panel's bundle lookups, remembered (``web/panel_speed.py``), give Panel's own answers for
every component class, and the page's resources stay the same."""

from __future__ import annotations

from panel.config import config
from panel.custom import ReactiveESM
from panel.io.resources import Resources
from panel.reactive import ReactiveCustomBase
from panel.util import classproperty

import trending_panel.serve.server  # noqa: F401  (every component class the page uses)
from trending_panel.web import panel_speed


def _classes() -> list[type]:
    seen, todo = [], [ReactiveCustomBase]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.append(sub)
                todo.append(sub)
    return seen


def _answers() -> dict[tuple[type, str], object]:
    out = {}
    for cls in _classes():
        for name in ("_bundle_path", "_bundle_css"):
            try:
                out[cls, name] = getattr(cls, name)
            except Exception as exc:  # Panel's own raises for some: then the same error
                out[cls, name] = repr(exc)
    return out


def test_remembered_lookups_answer_as_panels_own_for_every_component_class():
    panel_speed.restore()
    own = _answers()
    resources = Resources(mode="server", absolute=True, root_url="http://localhost:8888/")
    own_css = resources.css_files
    try:
        assert panel_speed.apply()
        assert all(
            owner.__dict__[name] is not panel_speed._ORIGINAL[owner, name]
            for owner, name in panel_speed.LOOKUPS
        )  # each one replaced
        first, again = _answers(), _answers()  # the second: from what was remembered
        assert first == own and again == own
        assert len([c for c in own if issubclass(c[0], ReactiveESM)]) > 100  # the whole set
        assert resources.css_files == own_css
    finally:
        panel_speed.restore()
    assert all(
        isinstance(owner.__dict__[name], classproperty) for owner, name in panel_speed.LOOKUPS
    )


def test_with_autoreload_panels_own_answer_is_asked_each_time():
    """A developer's ``--dev`` server rebuilds bundles on disk: nothing is remembered."""
    panel_speed.restore()
    calls = []
    owner, name = panel_speed.LOOKUPS[0]
    own = owner.__dict__[name]
    try:
        setattr(owner, name, classproperty(lambda cls: calls.append(cls) or own.f(cls)))
        assert panel_speed.apply()
        config.autoreload = True
        owner._bundle_path  # noqa: B018
        owner._bundle_path  # noqa: B018
        assert len(calls) == 2
        config.autoreload = False
        owner._bundle_path  # noqa: B018
        owner._bundle_path  # noqa: B018
        assert len(calls) == 3
    finally:
        config.autoreload = False
        panel_speed.restore()
        setattr(owner, name, own)

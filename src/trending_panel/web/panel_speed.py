"""Panel's per-class lookups of component bundles, remembered instead of asked of the disk on
every page, process-wide.

Every page's HTML lists the stylesheets of every Panel component class (``bundle_resources``
→ ``Resources.css_files``), and for each class, and each class of its MRO, Panel 1.9 finds its
bundle again: ``ReactiveESM._bundle_path`` (``inspect.getfile`` and ``Path.is_file`` for each
candidate file), ``_bundle_css`` (another ``is_file``), and panel-material-ui's overrides of
both. About 430 file-system checks for the four-table page: 29 ms of a ``GET /`` that holds
the event loop (about 90 ms), 12 ms with the answers remembered (``make bench-page-build``).

The answers depend on the class and on the installed files, neither of which changes while a
server runs; with ``config.autoreload`` (a developer's ``panel serve --dev``) the bundles are
rebuilt on disk and Panel's own lookups are used. :func:`apply` wraps the four lookups (once);
``tests/unit/test_panel_speed.py`` checks that every component class gets Panel's own answer;
a Panel whose classes no longer have these lookups is left alone.
"""

from __future__ import annotations

import weakref
from typing import Any

from panel.config import config
from panel.custom import ReactiveESM
from panel.util import classproperty
from panel_material_ui.base import MaterialComponent

#: The lookups remembered: (class that defines it, its name).
LOOKUPS = (
    (ReactiveESM, "_bundle_path"),
    (ReactiveESM, "_bundle_css"),
    (MaterialComponent, "_bundle_path"),
    (MaterialComponent, "_bundle_css"),
)
_ORIGINAL: dict[tuple[type, str], classproperty] = {}


def _remembered(own: classproperty) -> classproperty:
    found: weakref.WeakKeyDictionary[type, Any] = weakref.WeakKeyDictionary()

    def lookup(cls: type) -> Any:
        if config.autoreload:
            return own.f(cls)
        try:
            return found[cls]
        except KeyError:
            value = found[cls] = own.f(cls)
            return value

    return classproperty(lookup)


def applies() -> bool:
    """Whether this Panel's classes have the lookups that are remembered here."""
    return all(
        isinstance(_ORIGINAL.get((owner, name), owner.__dict__.get(name)), classproperty)
        for owner, name in LOOKUPS
    )


def apply() -> bool:
    """Remember the lookups' answers (once); False when this Panel is not the expected one."""
    if _ORIGINAL:
        return True
    if not applies():
        return False
    for owner, name in LOOKUPS:
        _ORIGINAL[owner, name] = own = owner.__dict__[name]
        setattr(owner, name, _remembered(own))
    return True


def restore() -> None:
    """Panel's own lookups again (for the benchmark's baseline and the tests)."""
    for (owner, name), own in _ORIGINAL.items():
        setattr(owner, name, own)
    _ORIGINAL.clear()

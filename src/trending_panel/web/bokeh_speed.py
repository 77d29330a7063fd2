"""Two costs of Bokeh's property system taken out of a page's build, process-wide.

Building a page makes about 300 Bokeh models; each property default they compute asks
``HasProps.themed_values()`` for theme overrides and ``HasProps._overridden_defaults()`` for
the class's overrides. In Bokeh 3.9:

- ``themed_values`` is ``getattr(self, "__themed_values__", None)``. A model without theme
  values (nearly all) has no such attribute, so each call goes through ``HasProps.__getattr__``
  (which builds the class's property table) and raises ``AttributeError`` inside ``getattr``:
  16 % of a plant page's build and first serialisation (0.28 s → 0.235 s measured).
- ``_overridden_defaults`` merges the ``__overridden_defaults__`` of every class of the MRO on
  each call, though they are fixed when the class is made: 5 % more (→ 0.22 s).

Together, on the spec's four-table page: 249 ms → 196 ms, 1.27x (``make bench-page-build``).

:func:`apply` replaces both with equivalent, faster ones: the instance's own
``__themed_values__`` read from its ``__dict__`` (where ``apply_theme`` puts it), and the
merge cached per class (weakly: a class made at run time can still go). Each is checked
against Bokeh's own on the models of a page (``tests/unit/test_bokeh_speed.py``); a Bokeh
whose ``HasProps`` no longer looks like this is left alone. ``benchmarks/page_build.py``
measures both against Bokeh's own in one run.
"""

from __future__ import annotations

import weakref
from typing import Any

from bokeh.core.has_props import HasProps

_ORIGINAL: dict[str, Any] = {}


def _themed_values(self: HasProps) -> dict[str, Any] | None:
    return self.__dict__.get("__themed_values__")


_merged: weakref.WeakKeyDictionary[type, dict[str, Any]] = weakref.WeakKeyDictionary()


def _overridden_defaults(cls: type[HasProps]) -> dict[str, Any]:
    found = _merged.get(cls)
    if found is None:
        found = _merged[cls] = _ORIGINAL["_overridden_defaults"].__func__(cls)
    return found


def applies() -> bool:
    """Whether this Bokeh's ``HasProps`` is the one the replacements were written for."""
    themed = _ORIGINAL.get("themed_values", HasProps.__dict__.get("themed_values"))
    merged = _ORIGINAL.get("_overridden_defaults", HasProps.__dict__.get("_overridden_defaults"))
    return (
        callable(themed)
        and "__themed_values__" in (themed.__code__.co_consts or ())
        and isinstance(merged, classmethod)
    )


def apply() -> bool:
    """Use the faster equivalents (once); False when this Bokeh is not the expected one."""
    if _ORIGINAL:
        return True
    if not applies():
        return False
    _ORIGINAL["themed_values"] = HasProps.__dict__["themed_values"]
    _ORIGINAL["_overridden_defaults"] = HasProps.__dict__["_overridden_defaults"]
    HasProps.themed_values = _themed_values  # type: ignore[method-assign]
    HasProps._overridden_defaults = classmethod(_overridden_defaults)  # type: ignore[assignment]
    return True


def restore() -> None:
    """Bokeh's own again (for the benchmark's baseline and the tests)."""
    if not _ORIGINAL:
        return
    HasProps.themed_values = _ORIGINAL.pop("themed_values")  # type: ignore[method-assign]
    HasProps._overridden_defaults = _ORIGINAL.pop("_overridden_defaults")  # type: ignore[assignment]
    _merged.clear()

"""Light and dark: the page follows the browser's preference until the viewer switches.

panel-material-ui's ``Page`` has a light/dark switch but starts light whatever the browser
prefers (panel-material-ui#288). :class:`PreferredScheme` reads ``prefers-color-scheme`` in
the browser (and its changes) and hands it to the page; ``?theme=dark`` or ``?theme=light``
in the URL (Panel's own convention) fixes the start instead. Plot colours that the Material
theme does not set (limit bands, labels, the cursor) are chosen to read on both backgrounds.
"""

from __future__ import annotations

from typing import ClassVar

import panel as pn
import param
from panel.custom import JSComponent


class PreferredScheme(JSComponent):
    """An invisible element that switches the ``Page`` it is in to the browser's preferred
    scheme, at once and whenever that preference changes (in the browser: a round trip
    through the server would let the page's widgets reset it while they mount)."""

    dark = param.Boolean(default=None, allow_None=True, doc="The browser prefers dark.")

    _esm: ClassVar[str] = "theme.js"


def url_theme() -> bool | None:
    """``?theme=dark`` → True, ``?theme=light``/``default`` → False, else None."""
    args = getattr(pn.state, "session_args", None) or {}
    values = args.get("theme") or []
    value = values[-1].decode(errors="replace") if values else ""
    return {"dark": True, "light": False, "default": False}.get(value.strip().lower())


def follow_browser(page: pn.viewable.Viewable) -> PreferredScheme | None:
    """An element to place in ``page`` (a panel-material-ui ``Page``) that makes it follow
    the browser's preference; None (and the URL's theme applied) when the URL fixes it."""
    fixed = url_theme()
    if fixed is not None:
        page.dark_theme = fixed
        return None
    return PreferredScheme(width=0, height=0, margin=0)

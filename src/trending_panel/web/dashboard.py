"""The dashboard: a session (:mod:`.session`) that shows itself.

``Dashboard`` is what a notebook displays and what ``trending-panel serve`` builds for every
browser tab: the state and its work come from :class:`~.session.Session`, the picture from
:mod:`.layout` (one block in a notebook, a full-screen page when served).
"""

from __future__ import annotations

import panel as pn

from trending_panel.web import bokeh_speed, layout, panel_speed, pulled
from trending_panel.web.session import Session

bokeh_speed.apply()  # a page's build, 20 % cheaper (see the module)
panel_speed.apply()  # a page's HTML: its resources without 430 file-system checks
pulled.apply()  # a page's changes between its pull and its render are not dropped


class Dashboard(Session, pn.viewable.Viewer):
    """Live trends of the bioreactor's process variables with a selectable time window."""

    _view: pn.viewable.Viewable | None = None

    def __panel__(self) -> pn.viewable.Viewable:
        # Built once: its plots hold this session's sources, which one document owns.
        if self._view is None:
            self._view = layout.embedded(self)
        return self._view

    def page(self) -> pn.viewable.Viewable:
        """The full-screen page (served)."""
        if self._view is None:
            self._view = layout.page(self)
        return self._view


__all__ = ["Dashboard"]

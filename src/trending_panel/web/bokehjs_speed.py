"""A page's build in the browser made cheaper: BokehJS's CSS lookups taken out.

BokehJS (3.9) lets a CSS variable (``--bk-text-color``, ``--bk-line-width``, ...) override
each visual property of a plot, and looks for one with ``getComputedStyle()`` every time it
measures or paints an axis, a label, a grid line or a band. Each lookup forces the browser to
recompute the page's styles when anything changed since the last one, which, while Material
UI mounts the page around the plots, is nearly always: about 450 ms of a page's first seconds
on a 2-core machine (a Chrome profile of the demo's 24 h page). No stylesheet of this
project, Panel, panel-material-ui or Bokeh sets such a variable, so the answer is always
empty: :class:`CssFreeVisuals` answers it without asking (``bokehjs_speed.js``), once per
browser tab, before the plots are drawn (its module loads with the page's models).
"""

from __future__ import annotations

from typing import ClassVar

from panel.custom import JSComponent


class CssFreeVisuals(JSComponent):
    """An invisible element whose module makes BokehJS skip its CSS-variable lookups."""

    _esm: ClassVar[str] = "bokehjs_speed.js"


def css_free_visuals() -> CssFreeVisuals:
    return CssFreeVisuals(width=0, height=0, margin=0)

"""An HTML pane for text that changes every second (the header, the value cards, the
statistics): a change sends the text alone.

Panel's ``HTML`` pane sends every property of its model again on each change of its object,
its stylesheets resolved through the Material theme each time; with the header rewritten once
a second (ages tick, live values change), that was most of what a watching viewer cost the
server. The text is transformed exactly as Panel's pane does it (sanitised, escaped for the
model); every other property still goes Panel's way.
"""

from __future__ import annotations

import panel as pn
from bokeh.model import Model


class LiveHTML(pn.pane.HTML):
    """``pn.pane.HTML`` whose object's changes set only the model's ``text``."""

    def _update(self, ref: str, model: Model) -> None:
        text = self._transform_object(self.object)["object"]
        if model.text != text:
            model.text = text

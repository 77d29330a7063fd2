"""A served page's changes between its pull and its first render reach it (panel 1.9.4).

Panel counts a session's document as *connected* only when the browser reports it rendered
(``document_ready``, after the page has built every view: 1-3 s on a loaded machine). Until
then, a ``hold`` that exits drops the model changes it collected, on the premise that the
whole document is serialised when the session connects (panel#8698). But Bokeh serialised it
earlier, for the browser's PULL-DOC, and changes made after that pull and before the render
were lost for good. panel-material-ui's components update their models inside a ``hold``, so
the page's busy bar stayed on over drawn data (the load's "done" fell in that gap), and the
*From*/*To* fields could keep the values of the pull (found by issue 17's visual check: 1 page
in 5 under load; the dropped events were logged from Panel's drain).

:func:`apply` marks the document connected as soon as Bokeh has serialised it for a pull:
from then on a change in a ``hold`` goes to the browser as a patch, as any other change made
after the pull always did.
"""

from __future__ import annotations

from typing import Any

from bokeh.server.session import ServerSession
from panel.io.state import state

_bokeh_pull = ServerSession._handle_pull


async def _pull_then_connected(self: ServerSession, message: Any, connection: Any) -> Any:
    # Bokeh's takes the document's lock and serialises the document into the reply
    reply = await _bokeh_pull(self, message, connection)
    state._connected[self.document] = True
    return reply


def apply() -> None:
    """Mark a session's document connected at its pull (process-wide; idempotent). A Panel
    without the registry this relies on is left alone."""
    if hasattr(state, "_connected"):
        ServerSession._handle_pull = _pull_then_connected  # type: ignore[method-assign]

"""The header's ages counted on in the browser.

A value card and the status line say how old a sample is ("12 s ago"). Sent from the server,
that text changed every second for every quiet tag: the whole header went to every viewer,
and every browser parsed and laid it out again, several times a second with tags that update
at different moments. Now the server sends the header when something else in it changes
(:func:`.header.unaged`), and :class:`Ages` (``ages.js``) counts each age on in the page,
from the sample's time and the server's clock as the header's texts give it.
"""

from __future__ import annotations

from typing import ClassVar

from panel.custom import JSComponent

#: The CSS class of a pane whose ages the browser counts on.
AGED = "tp-aged"


class Ages(JSComponent):
    """An invisible element whose module counts the header's ages on, once per tab."""

    _esm: ClassVar[str] = "ages.js"


def ages() -> Ages:
    return Ages(width=0, height=0, margin=0)

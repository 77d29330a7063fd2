"""The page's CSV button: checks ``/export.csv`` (HEAD), then lets the browser download it.

A ``FileDownload`` widget sends the whole file base64-encoded over the Bokeh websocket, which
the server must build in memory first, and a download fetched by the page's script is held in
the page's memory until it is saved. This button lets the browser take the streaming HTTP
route to disk, after a ``HEAD`` that shows a refusal in the page. Notebooks, which have no
such route, keep ``FileDownload``.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import param
from panel.custom import JSComponent

HERE = Path(__file__).parent


class CsvButton(JSComponent):
    """A button that downloads ``url`` (same origin, with the page's cookies)."""

    url = param.String(default="", doc="The export route with the window's query string.")
    label = param.String(default="Download CSV")

    _stylesheets: ClassVar[list[str]] = [(HERE / "csv_button.css").read_text()]

    _esm = "csv_button.js"

"""Entry point for ``panel serve src/trending_panel/serve/app.py`` (settings from the
environment)."""

import panel as pn

from trending_panel.core.settings import Settings
from trending_panel.web.dashboard import Dashboard

pn.extension(notifications=False)
Dashboard(Settings.from_env()).page().servable(title="Bioreactor trends")

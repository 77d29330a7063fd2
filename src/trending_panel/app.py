"""Entry point for ``panel serve src/trending_panel/app.py`` (settings from the environment)."""

import panel as pn

from trending_panel.dashboard import Dashboard
from trending_panel.settings import Settings

pn.extension(notifications=False)
Dashboard(Settings.from_env()).page().servable(title="Bioreactor trends")

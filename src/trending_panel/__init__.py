"""trending-panel: real-time process-data trending for bioreactors.

In a notebook::

    import panel as pn
    pn.extension()
    from trending_panel import Dashboard
    Dashboard()          # reads POSTGRES_* from the environment
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Dashboard", "Settings", "__version__"]

if TYPE_CHECKING:
    from trending_panel.core.settings import Settings
    from trending_panel.web.dashboard import Dashboard


def __getattr__(name: str) -> Any:
    # Lazy, so that `trending-panel export` and the settings check don't import Panel.
    if name == "Dashboard":
        from trending_panel.web.dashboard import Dashboard

        return Dashboard
    if name == "Settings":
        from trending_panel.core.settings import Settings

        return Settings
    raise AttributeError(name)

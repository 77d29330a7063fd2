"""The process variables: the one place in the code base that names the database tables.

These are the spec's four, used unless ``TRENDING_CONFIG`` names a file of others
(:mod:`trending_panel.config`); the running set travels in ``Settings.variables``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Variable:
    """One trended process variable and the table that holds its history."""

    key: str  #: short, URL- and column-safe name
    table: str  #: exact PostgreSQL table name (contains a slash: always quoted via Identifier)
    label: str
    unit: str  #: "" when dimensionless
    color: str
    #: Decimals shown for the current value (the hover and CSV keep full precision).
    decimals: int = 2
    #: Alarm limits (None: no limit on that side).
    low: float | None = None
    high: float | None = None

    @property
    def title(self) -> str:
        """Name with unit, e.g. ``Temperature (°C)``."""
        return f"{self.label} ({self.unit})" if self.unit else self.label

    @property
    def limits(self) -> tuple[float, float]:
        """(low, high), infinite where there is no limit: what time beyond limits counts."""
        low = self.low if self.low is not None else -math.inf
        high = self.high if self.high is not None else math.inf
        return low, high

    @property
    def csv_header(self) -> str:
        return f"{self.key} [{self.unit}]" if self.unit else self.key


#: Colours for variables a configuration file gives none (Bokeh's Category10, in order).
PALETTE = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")  # fmt: skip

#: The spec's four tables, with alarm limits for a mammalian cell culture (the simulator
#: stays inside them in normal operation).
VARIABLES: tuple[Variable, ...] = (
    Variable("temperature", "CM_HAM_DO_AI1/Temp_value", "Temperature", "°C", "#d62728", 2,
             36.5, 37.8),
    Variable("ph", "CM_HAM_PH_AI1/pH_value", "pH", "", "#1f77b4", 3, 6.9, 7.4),
    Variable("dissolved_oxygen", "CM_PID_DO/Process_DO", "Dissolved oxygen", "%", "#2ca02c", 1,
             30.0, 60.0),
    Variable("pressure", "CM_PRESSURE/Output", "Pressure", "psi", "#9467bd", 3, None, 1.0),
)  # fmt: skip

BY_KEY: dict[str, Variable] = {v.key: v for v in VARIABLES}


def select(
    keys: list[str] | tuple[str, ...] | None, variables: tuple[Variable, ...] = VARIABLES
) -> tuple[Variable, ...]:
    """``variables`` for ``keys``, in ``variables``' order; ``None`` or empty means all."""
    if not keys:
        return variables
    known = {v.key for v in variables}
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise ValueError(
            f"unknown variable(s) {', '.join(unknown)[:200]}; "
            f"choose from {', '.join(v.key for v in variables)}"
        )
    return tuple(v for v in variables if v.key in keys)

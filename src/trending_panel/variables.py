"""The process variables: the one place in the code base that names the database tables."""

from __future__ import annotations

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

    @property
    def title(self) -> str:
        """Name with unit, e.g. ``Temperature (°C)``."""
        return f"{self.label} ({self.unit})" if self.unit else self.label

    @property
    def csv_header(self) -> str:
        return f"{self.key} [{self.unit}]" if self.unit else self.key


VARIABLES: tuple[Variable, ...] = (
    Variable("temperature", "CM_HAM_DO_AI1/Temp_value", "Temperature", "°C", "#d62728", 2),
    Variable("ph", "CM_HAM_PH_AI1/pH_value", "pH", "", "#1f77b4", 3),
    Variable("dissolved_oxygen", "CM_PID_DO/Process_DO", "Dissolved oxygen", "%", "#2ca02c", 1),
    Variable("pressure", "CM_PRESSURE/Output", "Pressure", "psi", "#9467bd", 3),
)

BY_KEY: dict[str, Variable] = {v.key: v for v in VARIABLES}


def select(keys: list[str] | tuple[str, ...] | None) -> tuple[Variable, ...]:
    """Variables for ``keys`` in canonical order; ``None`` or empty means all."""
    if not keys:
        return VARIABLES
    unknown = [k for k in keys if k not in BY_KEY]
    if unknown:
        raise ValueError(
            f"unknown variable(s) {', '.join(unknown)}; choose from {', '.join(BY_KEY)}"
        )
    return tuple(v for v in VARIABLES if v.key in keys)

"""The window's data as pandas frames, for a notebook (``Dashboard.dataframe()``/``.stats()``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd

from trending_panel.core.variables import Variable
from trending_panel.db.store import Store
from trending_panel.read.stats import COLUMNS, Stats


async def rows(
    store: Store, variables: Sequence[Variable], start: datetime, end: datetime
) -> pd.DataFrame:
    """Every row of ``[start, end]``, tidy: ``time``, ``variable`` (key), ``value`` (NaN for
    NULL and NaN), in time order per variable."""
    series = await store.window(list(variables), start, end)
    parts = [
        pd.DataFrame({"time": s.times, "variable": key, "value": s.values})
        for key, s in series.items()
    ]
    if not parts:
        return pd.DataFrame(
            {
                "time": pd.Series(dtype="datetime64[us]"),
                "variable": pd.Series(dtype=str),
                "value": pd.Series(dtype=float),
            }
        )
    return pd.concat(parts, ignore_index=True)


def stats(found: Sequence[Stats]) -> pd.DataFrame:
    """Statistics as a frame: one row per variable, the columns of ``trending-panel stats``."""
    return pd.DataFrame([s.row_values() for s in found], columns=list(COLUMNS))

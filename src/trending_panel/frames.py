"""The window's data as pandas frames, for a notebook (``Dashboard.dataframe()``/``.stats()``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pandas as pd

from .stats import COLUMNS, window_stats
from .store import Store
from .summary import Summary
from .variables import Variable


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


async def stats(
    store: Store,
    variables: Sequence[Variable],
    start: datetime,
    end: datetime,
    gap: timedelta,
    summary: Summary | None = None,
) -> pd.DataFrame:
    """The window's statistics, one row per variable, the columns of ``trending-panel stats``
    (from ``summary`` where it is ready)."""
    found = await window_stats(store, variables, start, end, gap, summary=summary)
    return pd.DataFrame([s.row_values() for s in found], columns=list(COLUMNS))

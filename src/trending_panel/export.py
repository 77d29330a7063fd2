"""CSV export: the raw rows of a window, never the plotted vertices.

Layout: a ``time`` column (ISO 8601, microseconds, in the data's zone) and one column per
variable whose header names it with its unit. The tables never share timestamps, so the file is
an outer join on time: a cell is empty where its variable has no row at that time. A table that
holds two rows with the same time yields two lines for that time; nothing is merged, invented or
dropped. A NULL value is written as ``NULL`` and a NaN as ``NaN``, so both stay distinguishable
from "no row" (pandas reads both as missing).
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from .store import Store
from .variables import Variable


def format_value(value: float | None) -> str:
    if value is None:
        return "NULL"
    if value != value:  # NaN
        return "NaN"
    return repr(float(value))  # shortest text that reads back to the exact same double


def header(variables: Sequence[Variable]) -> str:
    return ",".join(["time", *(_quote(v.csv_header) for v in variables)]) + "\r\n"


def _quote(text: str) -> str:
    return f'"{text}"' if any(c in text for c in ',"\r\n') else text


def _lines(time: datetime, cells: list[list[str]]) -> list[str]:
    stamp = time.isoformat(timespec="microseconds")
    depth = max(len(c) for c in cells)
    return [
        ",".join([stamp, *(c[i] if i < len(c) else "" for c in cells)]) + "\r\n"
        for i in range(depth)
    ]


async def csv_chunks(
    store: Store,
    variables: Sequence[Variable],
    start: datetime | None,
    end: datetime | None,
    *,
    chunk_lines: int = 10_000,
) -> AsyncIterator[str]:
    """The CSV text in chunks, streamed from a server-side cursor (bounded memory)."""
    yield header(variables)
    buffer: list[str] = []
    current: datetime | None = None
    cells: list[list[str]] = [[] for _ in variables]
    async for time, k, value in store.export_rows(variables, start, end):
        if time != current:
            if current is not None:
                buffer.extend(_lines(current, cells))
                cells = [[] for _ in variables]
                if len(buffer) >= chunk_lines:
                    yield "".join(buffer)
                    buffer = []
            current = time
        cells[k].append(format_value(value))
    if current is not None:
        buffer.extend(_lines(current, cells))
    if buffer:
        yield "".join(buffer)


async def csv_bytes(
    store: Store, variables: Sequence[Variable], start: datetime | None, end: datetime | None
) -> io.BytesIO:
    """The whole CSV as a file object (what the download button hands to the browser)."""
    out = io.BytesIO()
    async for chunk in csv_chunks(store, variables, start, end):
        out.write(chunk.encode("utf-8"))
    out.seek(0)
    return out

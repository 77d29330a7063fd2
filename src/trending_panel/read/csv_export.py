"""CSV export: the raw rows of a window, never the plotted vertices.

Layout: a ``time`` column (ISO 8601, microseconds, in the data's zone) and one column per
variable whose header names it with its unit. The tables never share timestamps, so the file is
an outer join on time: a cell is empty where its variable has no row at that time. A table that
holds two rows with the same time yields two lines for that time; nothing is merged, invented or
dropped. A NULL value is written as ``NULL`` and a NaN as ``NaN``, so both stay distinguishable
from "no row" (pandas reads both as missing). Values are Python's ``repr`` of the double.

PostgreSQL writes the lines (``COPY … TO STDOUT``, a time slice per copy row, see
:meth:`Store.export_lines`: one line per instant when the tables log at the same instants,
else one per row); this module adds the header, merges the rows that still share a time
into the layout above, rewrites the few values PostgreSQL prints differently from
Python and ends lines with CRLF. Most blocks need only the CRLF: that check is done by numpy.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

import numpy as np

from trending_panel.core.errors import ExportStalled, ExportTooLarge
from trending_panel.core.variables import Variable
from trending_panel.db.store import Store

#: ``YYYY-MM-DDTHH:MM:SS.ffffff``: every line starts with a time this long.
_TIME_LEN = 26
_MARKED = re.compile(rb"\x01([^,\n]*)")


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


def _lines(time: str, cells: list[list[str]]) -> list[str]:
    """The lines of one instant: line i holds each variable's i-th row at that time."""
    depth = max(len(c) for c in cells)
    return [
        ",".join([time, *(c[i] if i < len(c) else "" for c in cells)]) + "\r\n"
        for i in range(depth)
    ]


def _merge(group: list[bytes], width: int) -> bytes:
    """Lines of one row each, all at one time → the historian's layout for that time.

    A variable's rows at one instant are ordered by their text, so the file is the same
    whatever order the database returned them in.
    """
    cells: list[list[str]] = [[] for _ in range(width)]
    time = group[0][:_TIME_LEN].decode()
    for line in group:
        fields = line.decode().split(",")[1:]
        k = next(i for i, f in enumerate(fields) if f)
        cells[k].append(fields[k])
    for c in cells:
        c.sort()
    return "".join(_lines(time, cells)).encode()


class Rewriter:
    """PostgreSQL's line blocks → the CSV's bytes (see the module docstring)."""

    def __init__(self, width: int) -> None:
        self.width = width
        self._carry = b""  # the last line of a block: the next may share its time

    def feed(self, block: bytes) -> bytes:
        data = self._carry + block
        # Hold back the last line, and every line before it at the same time.
        cut = data.rfind(b"\n", 0, len(data) - 1) + 1
        last = data[cut : cut + _TIME_LEN]
        while cut > 0:
            prev = data.rfind(b"\n", 0, cut - 1) + 1
            if data[prev : prev + _TIME_LEN] != last:
                break
            cut = prev
        self._carry = data[cut:]
        return self._convert(data[:cut])

    def finish(self) -> bytes:
        data, self._carry = self._carry, b""
        return self._convert(data)

    def _convert(self, data: bytes) -> bytes:
        if not data:
            return data
        if b"\x01" in data:
            data = _MARKED.sub(lambda m: repr(float(m.group(1))).encode(), data)
        if _shares_times(data):
            data = self._merge_shared(data)
        return data.replace(b"\n", b"\r\n")

    def _merge_shared(self, data: bytes) -> bytes:
        lines = data.split(b"\n")[:-1]
        out: list[bytes] = []
        i = 0
        while i < len(lines):
            j = i + 1
            while j < len(lines) and lines[j][:_TIME_LEN] == lines[i][:_TIME_LEN]:
                j += 1
            if j - i == 1:
                out.append(lines[i] + b"\n")
            else:
                out.append(_merge(lines[i:j], self.width).replace(b"\r\n", b"\n"))
            i = j
        return b"".join(out)


def _shares_times(data: bytes) -> bool:
    """True when two consecutive lines have the same time (numpy compares every line's
    fixed-width time prefix at once; a Python loop over the lines would cost more than COPY).
    Seconds and microseconds first, the whole prefix only where those agree."""
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    if len(ends) < 2:
        return False
    starts = np.r_[0, ends[:-1] + 1]
    if (ends - starts).min() < _TIME_LEN:
        return True  # not the usual layout (a year past 9999?): let the slow path look

    def same(columns: np.ndarray, rows: np.ndarray) -> np.ndarray:
        a = buf[starts[rows][:, None] + columns]
        b = buf[starts[rows + 1][:, None] + columns]
        return rows[(a == b).all(axis=1)]

    rows = same(np.arange(_TIME_LEN - 9, _TIME_LEN), np.arange(len(starts) - 1))
    return bool(len(rows) and len(same(np.arange(_TIME_LEN), rows)))


async def csv_chunks(
    store: Store,
    variables: Sequence[Variable],
    start: datetime | None,
    end: datetime | None,
    *,
    slices: int = 2000,
    stall: float | None = None,
) -> AsyncIterator[bytes]:
    """The CSV's bytes, a time slice of the window at a time, streamed from ``COPY``.

    With ``stall``, waiting longer than that many seconds for the next block from the
    database (a hung server) raises :class:`ExportStalled`: the export fails, it never hangs.
    """
    yield header(variables).encode()
    rewriter = Rewriter(len(variables))
    blocks = store.export_lines(variables, start, end, slices=slices)
    try:
        while True:
            try:
                async with asyncio.timeout(stall):
                    block = await anext(blocks, None)
            except TimeoutError:
                raise ExportStalled(
                    f"the database sent nothing for {stall:g} s; export abandoned"
                ) from None
            if block is None:
                break
            if chunk := rewriter.feed(block):
                yield chunk
    finally:
        await blocks.aclose()
    if chunk := rewriter.finish():
        yield chunk


async def csv_bytes(
    store: Store,
    variables: Sequence[Variable],
    start: datetime | None,
    end: datetime | None,
    *,
    stall: float | None = None,
    max_bytes: int | None = None,
) -> io.BytesIO:
    """The whole CSV as a file object (the notebook's download button hands it over); more
    than ``max_bytes`` raise :class:`ExportTooLarge` instead of filling the memory."""
    out = io.BytesIO()
    async for chunk in csv_chunks(store, variables, start, end, stall=stall):
        out.write(chunk)
        if max_bytes is not None and out.tell() > max_bytes:
            raise ExportTooLarge(
                f"the CSV of this window is larger than {max_bytes / 1e6:,.0f} MB, too large to "
                "hand over in a notebook; choose a shorter window, or use `trending-panel "
                "export` or the served page's button, which stream it"
            )
    out.seek(0)
    return out

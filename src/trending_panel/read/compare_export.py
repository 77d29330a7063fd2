"""The CSV of compared batches (issue 20: ``export --compare``, ``/export.csv?compare=``):
each batch's raw rows from its zero (its start, or its aligned phase's start) to its end, as
the window's CSV (:mod:`.csv_export`) with two columns in front: ``batch`` (its id) and
``elapsed_s`` (seconds since its zero, exact to the microsecond).

The columns after ``time`` are named by the pens asked; for a batch of another unit each
holds that unit's same tag (see :func:`~..core.compare.swapped`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence

import numpy as np

from trending_panel.core.compare import Compared
from trending_panel.core.rows import to_us
from trending_panel.core.variables import Variable
from trending_panel.db.store import Store
from trending_panel.read.csv_export import _TIME_LEN, _quote, csv_chunks, header


def seconds(us: int) -> str:
    """Microseconds as seconds, without a needless fraction (never in exponent form)."""
    whole, part = divmod(us, 1_000_000)
    return str(whole) if part == 0 else f"{whole}.{part:06d}".rstrip("0")


def prefixed(lines: bytes, batch: bytes, anchor_us: int) -> bytes:
    """Whole CSV lines (CRLF-ended) with ``batch`` and each line's seconds since the anchor
    in front."""
    rows = lines.split(b"\r\n")[:-1]
    if not rows:
        return b""
    times = np.array([row[:_TIME_LEN] for row in rows]).astype("datetime64[us]")
    elapsed = (times.astype("int64") - anchor_us).tolist()
    return b"".join(
        batch + seconds(us).encode() + b"," + row + b"\r\n"
        for us, row in zip(elapsed, rows, strict=True)
    )


async def compare_chunks(
    store: Store,
    compared: Sequence[Compared],
    pens: Sequence[Variable],
    tags: Mapping[str, Variable],
    *,
    stall: float | None = None,
) -> AsyncIterator[bytes]:
    """The CSV's bytes: one header, then each batch's rows in the order given (``tags``:
    every tag a batch reads, by key; each batch has one for every pen)."""
    yield b"batch,elapsed_s," + header(pens).encode()
    for c in compared:
        variables = [tags[c.tags[p.key]] for p in pens]
        batch = (_quote(c.batch.batch_id) + ",").encode()
        anchor = to_us(c.anchor)
        carry = b""
        chunks = csv_chunks(store, variables, c.anchor, c.end, stall=stall)
        async with contextlib.aclosing(chunks):
            first = True
            async for chunk in chunks:
                if first:  # the batch's own header
                    first = False
                    continue
                data = carry + chunk
                at = data.rfind(b"\r\n")
                cut = at + 2 if at >= 0 else 0  # whole lines now, the rest with the next
                carry = data[cut:]
                if block := prefixed(data[:cut], batch, anchor):
                    yield block
        if carry:
            yield prefixed(carry + b"\r\n", batch, anchor)

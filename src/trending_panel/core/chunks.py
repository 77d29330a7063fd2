"""The rollup's levels, and a level's buckets packed into chunks of bytes and back.

The shared rollup (issue 19) keeps every tag's buckets (:class:`~.m4.Buckets`: M4 and the
moments of the statistics) at three widths, each built from the one below by the same exact
merge the in-memory summary uses (:func:`~.m4.regroup`): minutes from rows, hours from
minutes, days from hours. A row of the rollup's table holds a *chunk*: the buckets of one
level that fall in one span of the next (the minutes of an hour, the hours of a day, the days
of :data:`DAYS_PER_CHUNK` days). A year of a tag is then some 9,000 rows instead of half a
million, and a wide window reads a few hundred.

A chunk is packed column by column, each bucket's times as offsets from its own start (small
numbers), its index as an offset in the chunk, the bytes of each 8-byte column shuffled so
that the high bytes (exponents, zeros) lie together, and the whole compressed with zlib: about
70 bytes per minute bucket of 1 Hz rows instead of 168. Nothing here touches the database.
"""

from __future__ import annotations

import itertools
import zlib
from dataclasses import dataclass, fields

import numpy as np

from trending_panel.core.m4 import NONE, Buckets

MINUTE_US = 60_000_000
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US
#: Days held by one chunk of the day level.
DAYS_PER_CHUNK = 32
#: The packing's version, kept beside the chunks: a reader refuses another.
FORMAT = 1

_TIMES = ("first_t", "last_t", "min_t", "max_t", "null_t", "gap_t")
_COLUMNS = tuple(f.name for f in fields(Buckets))
_DTYPES = {name: getattr(Buckets.empty(), name).dtype for name in _COLUMNS}


@dataclass(frozen=True)
class Level:
    """One width of the rollup: its buckets' width, and how many make a chunk."""

    number: int  # 0, 1, 2: the order they are built in
    name: str
    width_us: int
    per_chunk: int

    @property
    def chunk_us(self) -> int:
        return self.width_us * self.per_chunk

    def chunk_of(self, index: np.ndarray | int) -> np.ndarray | int:
        """The chunk (number) holding the bucket(s) ``index``."""
        return index // self.per_chunk


MINUTES = Level(0, "1 min", MINUTE_US, 60)
HOURS = Level(1, "1 h", HOUR_US, 24)
DAYS = Level(2, "1 d", DAY_US, DAYS_PER_CHUNK)
LEVELS = (MINUTES, HOURS, DAYS)


def pack(b: Buckets, level: Level, chunk: int) -> bytes:
    """The buckets of one chunk (all with ``level.chunk_of(index) == chunk``) as bytes."""
    start = b.index * level.width_us
    cols = []
    for name in _COLUMNS:
        col = getattr(b, name)
        if name == "index":
            col = col - chunk * level.per_chunk
        elif name in _TIMES:
            col = np.where(col != NONE, col - start, -1)  # a time is never before its bucket
        cols.append(np.ascontiguousarray(col).view("uint8").reshape(len(b), 8))
    matrix = np.stack(cols)  # columns x buckets x bytes
    shuffled = np.ascontiguousarray(matrix.transpose(0, 2, 1))  # each byte plane together
    return len(b).to_bytes(4, "little") + zlib.compress(shuffled.tobytes(), 1)


def unpack(data: bytes, level: Level, chunk: int) -> Buckets:
    """What :func:`pack` packed."""
    n = int.from_bytes(data[:4], "little")
    if n == 0:
        return Buckets.empty()
    raw = np.frombuffer(zlib.decompress(data[4:]), dtype="uint8")
    planes = raw.reshape(len(_COLUMNS), 8, n).transpose(0, 2, 1)
    out = {}
    for i, name in enumerate(_COLUMNS):
        out[name] = np.ascontiguousarray(planes[i]).view(_DTYPES[name]).reshape(n)
    out["index"] = out["index"] + chunk * level.per_chunk
    start = out["index"] * level.width_us
    for name in _TIMES:
        col = out[name]
        out[name] = np.where(col >= 0, col + start, NONE)
    return Buckets(**out)


def split(b: Buckets, level: Level) -> dict[int, Buckets]:
    """Buckets of ``level`` by the chunk that holds them."""
    if not len(b):
        return {}
    chunk = b.index // level.per_chunk
    cuts = np.flatnonzero(np.r_[True, chunk[1:] != chunk[:-1], True])
    return {int(chunk[a]): b.take(slice(a, z)) for a, z in itertools.pairwise(cuts)}


def replace_span(held: Buckets, new: Buckets, first: int, last: int) -> Buckets:
    """``held`` with its buckets of index ``first..last`` replaced by ``new`` (all in that
    span): what a span read again from the rows leaves, deleted rows' buckets gone."""
    keep = (held.index < first) | (held.index > last)
    merged = Buckets.concat([held.take(keep), new])
    return merged.take(np.argsort(merged.index, kind="stable"))

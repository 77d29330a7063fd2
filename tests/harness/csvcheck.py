"""Reading an exported CSV back into database terms, for comparisons in the tests."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import datetime

import psycopg
from psycopg import sql

from trending_panel.core.ledger import row_key
from trending_panel.core.variables import VARIABLES, Variable


def parse_cell(text: str) -> float | None:
    if text == "NULL":
        return None
    return float(text)  # "NaN" → nan


def csv_rows(text: str) -> tuple[list[str], Counter]:
    """Header and the multiset of (variable key, row key) the file holds."""
    reader = csv.reader(io.StringIO(text))
    head = next(reader)
    keys = [h.split(" [")[0] for h in head[1:]]
    rows: Counter = Counter()
    for line in reader:
        t = datetime.fromisoformat(line[0])
        for key, cell in zip(keys, line[1:], strict=True):
            if cell != "":
                rows[(key, row_key((t, parse_cell(cell))))] += 1
    return head, rows


def db_rows(
    conn: psycopg.Connection,
    variables: tuple[Variable, ...] = VARIABLES,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Counter:
    out: Counter = Counter()
    for var in variables:
        for t, v in conn.execute(
            sql.SQL("SELECT time, value FROM {} WHERE time IS NOT NULL").format(
                sql.Identifier(var.table)
            )
        ):
            if (start is None or t >= start) and (end is None or t <= end):
                out[(var.key, row_key((t, v)))] += 1
    return out


def reference_csv(
    conn: psycopg.Connection,
    variables: tuple[Variable, ...],
    start: datetime | None = None,
    end: datetime | None = None,
) -> bytes:
    """The CSV computed row by row in Python from the database rows (the export's first,
    all-Python implementation): a line per instant and duplicate, ``repr`` of each double."""
    from trending_panel.read.csv_export import _lines, format_value, header

    cells: dict[datetime, list[list[str]]] = {}
    for k, var in enumerate(variables):
        for t, v in conn.execute(
            sql.SQL("SELECT time, value FROM {} WHERE time IS NOT NULL").format(
                sql.Identifier(var.table)
            )
        ):
            if (start is None or t >= start) and (end is None or t <= end):
                cells.setdefault(t, [[] for _ in variables])[k].append(format_value(v))
    out = [header(variables)]
    for t in sorted(cells):
        row = [sorted(c) for c in cells[t]]
        out.extend(_lines(t.isoformat(timespec="microseconds"), row))
    return "".join(out).encode()

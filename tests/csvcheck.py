"""Reading an exported CSV back into database terms, for comparisons in the tests."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import datetime

import psycopg
from psycopg import sql

from trending_panel.ledger import row_key
from trending_panel.variables import VARIABLES, Variable


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

"""``make bench-tags``: the tag catalog over a big plant (issue 18's figure: a search over
10,000 tags, server side, in at most 20 ms).

A private PostgreSQL with 10,000 empty tag tables (100 bioreactors x 100 tags) and a metadata
row for each, a ``[catalog]`` over them: the time to read the catalog (PostgreSQL's catalog
and the metadata table), and the median time of a search. Printed and written to
``benchmarks/results.json`` under ``tags``."""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import psycopg

from benchmarks.common import private_postgres, record
from trending_panel.core.settings import Settings
from trending_panel.core.tags import CatalogSpec, search
from trending_panel.db.store import Store

UNITS, PER_UNIT = 100, 100
KINDS = ["TEMP_PV", "PH_PV", "DO_PV", "PRESSURE_PV", "FEED_RATE", "AGIT_SPEED", "CO2_OUT",
         "O2_OUT", "LEVEL", "WEIGHT"]  # fmt: skip
QUERIES = ["br042", "ph", "dissolved", "temp_pv", "BR099/LEVEL_07", "nothing-like-this", "o2"]


def seed(settings: Settings) -> None:
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        conn.execute(
            f"""DO $$ BEGIN FOR u IN 1..{UNITS} LOOP FOR k IN 0..{PER_UNIT - 1} LOOP
              EXECUTE format('CREATE TABLE %I (time timestamp, value double precision)',
                format('BR%s/%s_%s', lpad(u::text, 3, '0'),
                       (ARRAY{KINDS!r})[k % {len(KINDS)} + 1], lpad((k / {len(KINDS)})::text,
                       2, '0')));
            END LOOP; END LOOP; END $$"""
        )
        conn.execute(
            "CREATE TABLE plant_tags (tag text, label text, unit text, low double precision,"
            " high double precision, description text)"
        )
        conn.execute(
            "INSERT INTO plant_tags SELECT relname, replace(relname, '/', ' '), '', NULL, NULL,"
            " 'Bioreactor ' || split_part(relname, '/', 1) || ', ' || CASE WHEN relname LIKE"
            " '%DO_PV%' THEN 'dissolved oxygen' ELSE 'process value' END FROM pg_class"
            " WHERE relname LIKE 'BR%/%' AND relkind = 'r'"
        )


async def measure(settings: Settings) -> dict:
    spec = CatalogSpec(include=("BR*/*",), metadata="plant_tags")
    async with Store(settings) as store:
        reads = []
        for _ in range(3):
            t = time.perf_counter()
            catalog = await store.tag_catalog(spec, ())
            reads.append(time.perf_counter() - t)
    searches = {}
    for text in QUERIES:
        runs = []
        for _ in range(9):
            t = time.perf_counter()
            found = search(catalog.tags, text)
            runs.append(time.perf_counter() - t)
        searches[text] = {"ms": round(statistics.median(runs) * 1000, 2), "found": len(found)}
    return {"tags": len(catalog.tags), "catalog_read_ms": round(min(reads) * 1000, 1),
            "search": searches,
            "search_median_ms": round(statistics.median(s["ms"] for s in searches.values()), 2),
            "search_max_ms": max(s["ms"] for s in searches.values())}  # fmt: skip


def main() -> None:
    with (
        tempfile.TemporaryDirectory(prefix="trending-tags-") as tmp,
        private_postgres(Path(tmp)) as settings,
    ):
        t = time.perf_counter()
        seed(settings)
        print(f"{UNITS * PER_UNIT:,} tag tables in {time.perf_counter() - t:.0f} s", flush=True)
        out = asyncio.run(measure(settings))
    print(f"{out['tags']:,} tags: catalog read in {out['catalog_read_ms']} ms; a search "
          f"{out['search_median_ms']} ms (median), {out['search_max_ms']} ms (slowest query; "
          "goal <= 20 ms)")  # fmt: skip
    record("tags", {"date": datetime.now().isoformat(timespec="seconds"), **out})


if __name__ == "__main__":
    sys.exit(main())

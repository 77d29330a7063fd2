"""The example notebook runs in a real Jupyter kernel and the dashboard updates live there."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from trending_panel.variables import BY_KEY

from .conftest import insert

NOTEBOOK = Path(__file__).parent.parent / "examples" / "trending_dashboard.ipynb"
NEWEST = datetime(2023, 3, 1, 16, 0)

LIVE_CHECK = """
import asyncio, psycopg
from psycopg import sql
with psycopg.connect(dash.settings.conninfo(), autocommit=True) as c:
    c.execute(sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(sql.Identifier("{table}")),
              (__import__("datetime").datetime(2023, 3, 1, 16, 0, 5), 37.777))
for _ in range(60):
    await asyncio.sleep(0.1)
    if 37.777 in list(dash.sources["temperature"].data["value"]):
        break
print("LIVE", 37.777 in list(dash.sources["temperature"].data["value"]))
"""


def test_example_notebook_renders_and_streams(db, tables):
    temp = BY_KEY["temperature"]
    insert(tables, temp.table, [(NEWEST - timedelta(minutes=m), 37.2) for m in range(120)])
    insert(tables, BY_KEY["ph"].table, [(NEWEST - timedelta(minutes=m), 7.1) for m in range(120)])
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(LIVE_CHECK.replace("{table}", temp.table)))
    env = {
        "POSTGRES_HOST": db.host,
        "POSTGRES_PORT": str(db.port),
        "POSTGRES_USER": db.user,
        "POSTGRES_PASSWORD": db.password,
        "POSTGRES_DB": db.dbname,
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits the environment, as a user's would
    try:
        NotebookClient(
            nb,
            timeout=120,
            kernel_name="python3",
            resources={"metadata": {"path": str(NOTEBOOK.parent)}},
        ).execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    display = nb.cells[2].outputs
    assert any(
        "application/vnd.holoviews_load.v0+json" in o.get("data", {})
        or "text/html" in o.get("data", {})
        for o in display
    )
    frame_plot = nb.cells[6].outputs
    assert frame_plot and not any(o.get("output_type") == "error" for o in frame_plot)
    assert "LIVE True" in "".join(o.get("text", "") for o in nb.cells[-1].outputs)

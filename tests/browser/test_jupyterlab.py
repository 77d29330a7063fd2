"""The example notebook in a real JupyterLab, in Chromium: it renders and updates live."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.harness.browser import browser_page, free_port, http_ok, wait_until
from tests.harness.database import insert
from trending_panel.core.rows import to_ms
from trending_panel.core.variables import BY_KEY

pytestmark = pytest.mark.browser
NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "trending_dashboard.ipynb"
NEWEST = datetime(2023, 3, 1, 16, 0)

SOURCES_JS = """() => { const out = {};
  for (const d of (window.Bokeh && window.Bokeh.documents) || [])
    for (const m of d.all_models)
      if (m.type === 'ColumnDataSource' && m.name && m.name.startsWith('source-')) {
        const get = (k) => Array.from(m.data instanceof Map ? m.data.get(k) : m.data[k]);
        out[m.name.slice(7)] = {time: get('time'), value: get('value')};
      }
  return out; }"""
KERNEL_STATUS_JS = """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return k ? k.status : null; }"""
#: Runs code in the notebook's kernel and gives back the value of its ``_diag`` (for a
#: failure's report; a user expression, which no output capture can swallow).
KERNEL_RUN_JS = """async (code) => { const w = window.jupyterapp.shell.currentWidget;
  const k = w.sessionContext.session.kernel;
  const f = k.requestExecute({code, silent: true, store_history: false,
                              user_expressions: {diag: '_diag'}});
  const late = new Promise((ok) => setTimeout(() => ok('(no answer in 20 s)'), 20000));
  const reply = f.done.then((r) => { const e = r.content.user_expressions.diag;
    return e.status === 'ok' ? e.data['text/plain'] : e.ename + ': ' + e.evalue; });
  return await Promise.race([reply, late]); }"""
#: What the notebook's session and the feed hold, printed when the live row never comes.
SESSION_STATE = """_diag = (dict(
    status=dash.feed.status, polls=dash.feed.polls, error=dash.feed.error,
    latest=dash.feed.latest.get('temperature'), delivered=dash.feed.delivered,
    watched=sorted(dash.feed.watched_keys), feed_task=dash.feed._task,
    loading=dash.loading, message=dash.message, queued=len(dash._sub.batches),
    attached=dash._attached, span=dash._span, ticks=getattr(dash.clock.periodic, 'ticks', None),
    ticker=getattr(dash.clock.periodic, '_task', None), load_task=dash._load_task,
    retry_at=dash.read_again.retry_at, unprimed=dash.read_again.unprimed,
    variables=dash.variables, zoomed=dash._zoomed, extent=dash._extent,
    x_range=(dash.x_range.start, dash.x_range.end), range_set=dash.traces.range_set,
    width=(dash._width, dash._drawn_width)))"""
KERNEL_READY_JS = """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  return !!(w && w.sessionContext && w.sessionContext.session
            && w.sessionContext.session.kernel); }"""


def test_notebook_renders_in_jupyterlab_and_streams_live(db, tables, tmp_path):
    temp, ph = BY_KEY["temperature"], BY_KEY["ph"]
    for var, base in ((temp, 37.2), (ph, 7.1)):
        insert(tables, var.table, [(NEWEST - timedelta(seconds=30 * k), base) for k in range(500)])
    shutil.copy(NOTEBOOK, tmp_path / "example.ipynb")
    port = free_port()
    log_path = tmp_path / "jupyter.log"  # the kernel's log too (it inherits the server's)
    log_file = log_path.open("w")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        **db.to_env(),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    lab = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "jupyter"),
            "lab",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            "--LabApp.expose_app_in_browser=True",
            f"--ServerApp.root_dir={tmp_path}",
        ],
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/api"), timeout=60, what="JupyterLab")
        with browser_page(width=1400, height=1200) as page:
            console: list[str] = []  # the page's errors and warnings, for a failure's report
            page.on(
                "console",
                lambda m: (
                    console.append(f"{m.type}: {m.text}")
                    if m.type in ("error", "warning")
                    else None
                ),
            )
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            page.goto(f"http://127.0.0.1:{port}/lab/tree/example.ipynb")
            wait_until(lambda: page.evaluate(KERNEL_READY_JS), timeout=60, what="the kernel")
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

            def shown():
                sources = page.evaluate(SOURCES_JS)
                return (
                    sources
                    if all(
                        len(sources.get(k, {}).get("time", [])) > 100 for k in ("temperature", "ph")
                    )
                    else None
                )

            try:
                sources = wait_until(
                    shown, timeout=90, what="the dashboard's plots in the notebook"
                )
            except TimeoutError:
                print("outputs:", page.locator(".jp-OutputArea-output").all_inner_texts())
                raise
            assert set(sources) == {"temperature", "ph", "dissolved_oxygen", "pressure"}
            stderr = " ".join(
                page.locator(".jp-OutputArea-output[data-mime-type*='stderr']").all_inner_texts()
            )
            assert "failed" not in stderr and "Traceback" not in stderr, stderr
            # dataframe() drawn with hvplot, and stats() as a table with the CLI's columns.
            wait_until(
                lambda: (
                    "time_weighted_mean"
                    in " ".join(page.locator(".jp-OutputArea-output").all_inner_texts())
                ),
                timeout=60,
                what="the statistics table",
            )
            outputs = " ".join(page.locator(".jp-OutputArea-output").all_inner_texts())
            assert "temperature" in outputs and "coverage" in outputs
            row = (NEWEST + timedelta(seconds=5), 39.876)
            insert(tables, temp.table, [row])
            inserted = time.monotonic()

            def arrived() -> bool:
                src = page.evaluate(SOURCES_JS)["temperature"]
                return [to_ms(row[0]), row[1]] in [
                    list(p) for p in zip(src["time"], src["value"], strict=True)
                ]

            try:
                wait_until(arrived, timeout=60, interval=0.05, what="the new row in the notebook")
            except TimeoutError:  # what the notebook holds and says, for the next reader
                src = page.evaluate(SOURCES_JS).get("temperature", {"time": []})
                print("rows:", len(src["time"]), "last:", src["time"][-3:])
                print("kernel:", page.evaluate(KERNEL_STATUS_JS))
                print("outputs:", page.locator(".jp-OutputArea-output").all_inner_texts())
                print("browser console:", console[-30:])
                print("session:", page.evaluate(KERNEL_RUN_JS, SESSION_STATE))
                print("jupyter log:", log_path.read_text()[-6000:])
                raise
            print(f"insert-to-notebook latency: {(time.monotonic() - inserted) * 1000:.0f} ms")
    finally:
        lab.terminate()
        lab.wait(timeout=20)
        log_file.close()

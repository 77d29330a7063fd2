"""The page's CSV button: streams ``/export.csv`` with a progress line, then saves the file.

A ``FileDownload`` widget sends the whole file base64-encoded over the Bokeh websocket, which
the server must build in memory first; this button fetches the streaming HTTP route instead
and shows how far it is. Notebooks, which have no such route, keep ``FileDownload``.
"""

from __future__ import annotations

from typing import ClassVar

import param
from panel.custom import JSComponent


class CsvButton(JSComponent):
    """A button that downloads ``url`` (same origin, with the page's cookies)."""

    url = param.String(default="", doc="The export route with the window's query string.")
    label = param.String(default="Download CSV")

    _stylesheets: ClassVar[list[str]] = [
        """
.tp-csv-button { background: #0072b5; color: white; border: 1px solid #0072b5;
  border-radius: 4px; padding: 6px 12px; font: 14px sans-serif; cursor: pointer; }
.tp-csv-button:hover { background: #005d94; }
.tp-csv-button:disabled { opacity: 0.6; cursor: progress; }
"""
    ]

    _esm = """
export function render({ model, el }) {
  const button = document.createElement("button")
  button.className = "tp-csv-button"
  button.type = "button"
  button.textContent = model.label
  const status = document.createElement("span")
  status.className = "tp-csv-status"
  status.style.cssText = "margin-left:8px;font:12px sans-serif;opacity:.8"
  const mb = (n) => (n / 1e6).toFixed(1) + " MB"
  button.onclick = async () => {
    if (button.disabled) return
    button.disabled = true
    status.textContent = "Preparing CSV…"
    try {
      const resp = await fetch(model.url, { credentials: "same-origin" })
      if (!resp.ok) {
        status.textContent = "CSV failed: " + (await resp.text()).trim()
        return
      }
      const disposition = resp.headers.get("Content-Disposition") || ""
      const match = disposition.match(/filename="([^"]+)"/)
      const name = match ? match[1] : "trending.csv"
      const reader = resp.body.getReader()
      const parts = []
      let bytes = 0
      let shown = 0
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        parts.push(value)
        bytes += value.length
        if (performance.now() - shown > 250) {  // the progress line, not a relayout per chunk
          status.textContent = "Downloading CSV… " + mb(bytes)
          shown = performance.now()
        }
      }
      const href = URL.createObjectURL(new Blob(parts, { type: "text/csv" }))
      const a = document.createElement("a")
      a.href = href
      a.download = name
      document.body.appendChild(a)
      a.click()
      a.remove()
      setTimeout(() => URL.revokeObjectURL(href), 60000)
      status.textContent = "CSV saved: " + name + " (" + mb(bytes) + ")"
    } catch (err) {
      status.textContent = "CSV failed: " + err
    } finally {
      button.disabled = false
    }
  }
  model.on("label", () => { button.textContent = model.label })
  el.append(button, status)
}
"""

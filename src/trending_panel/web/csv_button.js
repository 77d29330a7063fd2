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

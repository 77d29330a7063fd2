// The page's CSV button. It asks the export route with HEAD first (the same checks as the
// download, no rows read) and shows a refusal in the page; otherwise it lets the browser
// download the file itself, which streams it to disk: the page never holds the file.
export function render({ model, el }) {
  const button = document.createElement("button")
  button.className = "tp-csv-button"
  button.type = "button"
  button.textContent = model.label
  const status = document.createElement("span")
  status.className = "tp-csv-status"
  status.setAttribute("role", "status")
  button.onclick = async () => {
    if (button.disabled) return
    button.disabled = true
    status.textContent = "Preparing CSV…"
    try {
      const resp = await fetch(model.url, { method: "HEAD", credentials: "same-origin" })
      if (!resp.ok) {
        const problem = resp.headers.get("X-Export-Problem")
        status.textContent = "CSV refused: " + (problem ? decodeURIComponent(problem)
                                                         : resp.status + " " + resp.statusText)
        return
      }
      const disposition = resp.headers.get("Content-Disposition") || ""
      const match = disposition.match(/filename="([^"]+)"/)
      const name = match ? match[1] : "trending.csv"
      const a = document.createElement("a")
      a.href = model.url
      a.download = name
      document.body.appendChild(a)
      a.click()
      a.remove()
      status.textContent = "Downloading " + name
    } catch (err) {
      status.textContent = "CSV failed: " + err
    } finally {
      button.disabled = false
    }
  }
  model.on("label", () => { button.textContent = model.label })
  el.append(button, status)
}

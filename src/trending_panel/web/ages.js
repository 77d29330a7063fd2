// Runs once per browser tab, when this module loads. The header's ages ("12 s ago") are
// counted on here, once a second and all in the same frame (a text that changes is laid out
// and painted again), instead of by the server re-sending the whole text each second: each age is a span with its sample's time (data-t), and the text it sits in
// says when the server wrote it (data-now, the server's clock). The server's clock is
// learned from the texts themselves, so a browser whose clock is wrong still counts right.
// The words are the server's own (header.py's age and span_text).
const AGED = "tp-aged"  // the CSS class of the panes that hold ages (ages.AGED)
let offset = null  // the server's clock minus this one (ms): the best seen so far
const fresh = new Set()  // data-now values already learned from (a redraw repeats them)
let views = []
let ticks = 0

function span(s) {
  s = Math.abs(s)
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["min", 60]])
    if (s >= size) return `${(s / size).toFixed(1)} ${unit}`
  return `${s.toFixed(0)} s`
}

function age(s) {
  return s < -0.5 ? `${span(s)} ahead of this clock` : `${span(Math.max(s, 0))} ago`
}

function learn(written, now) {
  if (fresh.has(written)) return
  if (fresh.size > 1000) fresh.clear()
  fresh.add(written)
  // Written before it was seen: the freshest sighting is the closest to the truth. One far
  // below the best so far is the server's clock set back.
  const seen = Number(written) - now
  if (offset === null || seen > offset || seen < offset - 3000) offset = seen
}

function find() {
  const index = window.Bokeh?.index
  if (index == null) return []
  return [...index.query((v) => v.shadow_el != null && v.model.css_classes?.includes(AGED))]
}

function tick() {
  if (document.hidden) return
  const write = ticks % 4 === 0  // the words once a second, all in one frame
  if (ticks++ % 8 === 0 || views.some((v) => !v.el.isConnected)) views = find()
  const now = Date.now()
  for (const view of views) {
    const root = view.shadow_el
    for (const el of root.querySelectorAll("[data-now]")) learn(el.dataset.now, now)
    if (offset === null || !write) continue
    for (const el of root.querySelectorAll(".tp-age[data-t]")) {
      const text = age((now + offset - Number(el.dataset.t)) / 1000)
      if (el.textContent !== text) el.textContent = text
    }
  }
}

if (!window.__tp_ages) {
  window.__tp_ages = true
  setInterval(tick, 250)
}

export function render() {
  const el = document.createElement("span")
  el.style.display = "none"
  return el
}

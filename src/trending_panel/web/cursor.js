const t = cb_obj.x;
if (t == null || !isFinite(t)) return;
for (const s of spans) { s.location = t; s.visible = true; }
const col = (src, k) => { const d = src.data; return d instanceof Map ? d.get(k) : d[k]; };
const parts = [];
for (const v of variables) {
  const T = col(sources[v.key], "time"), V = col(sources[v.key], "value");
  let lo = 0, hi = T.length - 1, i = -1;
  while (lo <= hi) {
    const m = (lo + hi) >> 1;
    if (T[m] <= t) { i = m; lo = m + 1; } else hi = m - 1;
  }
  let value = i < 0 ? NaN : V[i];
  if (i >= 0 && i === T.length - 1 && t > T[i]) {
    const H = col(holds[v.key], "time");
    const held = H.length > 0 && t <= H[H.length - 1];
    if (!held && t - T[i] > gap_ms) value = NaN;
  }
  const text = (value == null || !isFinite(value))
    ? "no data" : value.toFixed(v.decimals) + (v.unit ? " " + v.unit : "");
  parts.push('<span class="tp-cursor-var" data-key="' + v.key + '" data-value="' +
             (isFinite(value) ? value : "") + '"><b style="color:' + v.color + '">' +
             v.label + "</b> " + text + "</span>");
}
const when = new Date(t).toISOString().replace("T", " ").replace("Z", "");
readout.text = '<span class="tp-cursor-time" data-t="' + t + '">' + when + "</span> · " +
  parts.join(" · ");

// Runs once, when this module loads: before the page's plots are laid out or painted.
// BokehJS asks the browser, for every colour, width, font and alignment of every axis,
// label, grid line and band it measures or paints, whether a CSS variable (--bk-...)
// overrides it: getComputedStyle() on the element, which forces the browser to recompute
// the page's styles whenever anything in the page changed since the last ask. While the
// page is being built, that is nearly every time. This page sets no such variable (the
// plots are themed through Bokeh's own properties), so the answer is always "": give it
// without asking.
const visuals = window.Bokeh?.require?.("core/visuals/visual")
const props = visuals?.VisualProperties?.prototype
if (props != null && typeof props._get_css_value === "function" && !props.__tp_css_free) {
  props._get_css_value = function () { return "" }
  props.__tp_css_free = true
}

export function render() {
  const el = document.createElement("span")
  el.style.display = "none"
  return el
}

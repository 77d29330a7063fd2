export function render({ model, view }) {
  const query = window.matchMedia("(prefers-color-scheme: dark)")
  const apply = () => {
    model.dark = query.matches
    let parent = view.parent
    while (parent != null && parent.model.class_name !== "Page") parent = parent.parent
    if (parent != null) parent.model.data.dark_theme = query.matches
  }
  apply()
  query.addEventListener("change", apply)
  const el = document.createElement("span")
  el.style.display = "none"
  return el
}

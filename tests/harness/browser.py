"""The headless-Chromium harness shared by the end-to-end tests and ``make screenshot``.

Debian's Chromium driven by Playwright (never ``playwright install``): the flags keep it off
the network, which is closed on the build machines.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from typing import Any

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: JavaScript that reads every named ColumnDataSource of the page's Bokeh document.
READ_SOURCES_JS = """
() => {
  const out = {};
  const docs = (window.Bokeh && window.Bokeh.documents) || [];
  for (const doc of docs) {
    for (const m of doc.all_models) {
      if (m.type === "ColumnDataSource" && m.name && m.name.startsWith("source-")) {
        const d = m.data;
        const get = (k) => Array.from(d instanceof Map ? d.get(k) : d[k]);
        out[m.name.slice(7)] = {time: get("time"), value: get("value"), sample: get("sample")};
      }
    }
  }
  return out;
}
"""


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        raise RuntimeError("Chromium not found: apt-get install -y chromium (or set CHROMIUM)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(
    predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1, what: str = ""
) -> Any:
    """Poll ``predicate`` until it returns something truthy; raise TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:  # the server may not be up yet
            last_exc = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what or predicate}: {last_exc}")


#: The page is drawn: every root view of Bokeh's document has rendered (is idle), and the
#: template's loading veil (panel-material-ui's ``#loader``, which covers the whole page
#: until then and takes the mouse's events) is hidden. A document's models, data included,
#: arrive before that: under load the veil stays 1-3 s after them. The served page's
#: sidebar (the column named "sidebar") is filled once the trends are drawn: it must hold its
#: widgets, drawn too. A page of the site that is not a Bokeh document (the login page) is
#: drawn once it is loaded.
_RENDERED_JS = """() => {
  if (document.readyState !== "complete") return false;
  const veil = document.getElementById("loader");
  if (!veil && !window.Bokeh) return true;
  if (!(window.Bokeh && Bokeh.index && Bokeh.index.roots.length)) return false;
  if (!Bokeh.index.roots.every(v => v.is_idle)) return false;
  for (const doc of Bokeh.documents || [])
    for (const m of doc.all_models)
      if (m.name === "sidebar" && m.children && m.children.length === 0) return false;
  return !veil || getComputedStyle(veil).display === "none";
}"""


def wait_rendered(page: Any, timeout: float = 30.0) -> None:
    """Wait until ``page`` is drawn and nothing veils it (see ``_RENDERED_JS``)."""
    wait_until(lambda: page.evaluate(_RENDERED_JS), timeout=timeout, what="the page drawn")


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as resp:
        return resp.status == 200


@contextlib.contextmanager
def served(
    cmd: list[str],
    env: Mapping[str, str],
    port: int,
    timeout: float = 60.0,
    log: str | os.PathLike | None = None,
) -> Iterator[subprocess.Popen]:
    """Run ``cmd`` (e.g. ``["trending-panel", "serve"]``) until its liveness endpoint answers.

    The running interpreter's ``bin`` directory leads ``PATH``, so the project's console script
    is found as a container's shell would find it. With ``log``, the server's output goes to
    that file (to be read by the caller), else to a temporary one that ``proc.stdout`` reads.
    """
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    # Never a pipe that nobody drains: a server that logs more than the pipe holds (64 KB:
    # a few page loads' access lines) would block on its next write and stop serving. Without
    # ``log``, a temporary file, readable as ``proc.stdout`` from its start at any time.
    if log is None:
        spool = tempfile.NamedTemporaryFile(  # noqa: SIM115
            "w", prefix="served-", suffix=".log", delete=False
        )
        log = spool.name
        spool.close()
        owned = True
    else:
        owned = False
    out = open(log, "w")  # noqa: SIM115
    proc = subprocess.Popen(
        cmd,
        env={**os.environ, "PATH": path, **env},
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if owned:
        proc.stdout = open(log)  # noqa: SIM115
    try:

        def up() -> bool:
            if proc.poll() is not None:
                output = open(log).read()  # noqa: SIM115
                raise RuntimeError(f"server exited with {proc.returncode}:\n{output}")
            return http_ok(f"http://127.0.0.1:{port}/liveness")

        deadline = time.monotonic() + timeout
        while True:
            try:
                if up():
                    break
            except RuntimeError:
                raise
            except Exception:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"server on port {port} did not come up") from None
                time.sleep(0.2)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(2)  # SIGINT: the same as Ctrl-C
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        out.close()
        if owned:
            os.unlink(log)  # proc.stdout still reads it


#: This process's one Chromium and its Playwright (see ``shared_browser``).
_SHARED: dict[str, Any] = {}


def shared_browser() -> Any:
    """This process's one headless Chromium, started on first use and again if it went away.

    A launch costs about a second and a fresh context (a browser profile of its own) a few
    milliseconds, so every test takes contexts of the same browser. While it runs,
    Playwright's sync API holds an event loop in this thread: ``asyncio.run`` refuses to
    start in it, so a test runs its coroutines in a thread of their own.
    """
    browser = _SHARED.get("browser")
    if browser is not None and browser.is_connected():
        return browser
    if "playwright" not in _SHARED:
        from playwright.sync_api import sync_playwright

        _SHARED["playwright"] = sync_playwright().start()
        atexit.register(close_shared_browser)
    browser = _SHARED["playwright"].chromium.launch(
        executable_path=chromium_path(), args=CHROMIUM_ARGS
    )
    _SHARED["browser"] = browser
    return browser


def close_shared_browser() -> None:
    """Stop the shared Chromium and its Playwright (at the end of the run)."""
    browser, playwright = _SHARED.pop("browser", None), _SHARED.pop("playwright", None)
    for stop in (browser and browser.close, playwright and playwright.stop):
        if stop:
            with contextlib.suppress(Exception):  # already gone: nothing to stop
                stop()


@contextlib.contextmanager
def browser_pages(
    count: int, width: int = 1400, height: int = 1100, color_schemes: list[str] | None = None
) -> Iterator[list[Any]]:
    """``count`` fresh Playwright pages in headless Debian Chromium, each in a context (a
    browser profile) of its own, as separate users' tabs would be; ``color_schemes``: the
    scheme each one's browser prefers ("light" or "dark"; default light). The contexts,
    their pages and those pages' connections are closed on the way out."""
    browser = shared_browser()
    contexts = []
    try:
        pages = []
        for i in range(count):
            scheme = color_schemes[i] if color_schemes else "light"
            context = browser.new_context(
                viewport={"width": width, "height": height},
                accept_downloads=True,
                color_scheme=scheme,
            )
            contexts.append(context)
            pages.append(context.new_page())
        yield pages
    finally:
        for context in contexts:
            with contextlib.suppress(Exception):  # a crashed browser took it with it
                context.close()


@contextlib.contextmanager
def browser_page(
    width: int = 1400, height: int = 1100, color_scheme: str = "light"
) -> Iterator[Any]:
    """A fresh Playwright page in headless Debian Chromium."""
    with browser_pages(1, width, height, [color_scheme]) as pages:
        yield pages[0]


def read_sources(page: Any) -> dict[str, dict[str, list]]:
    return page.evaluate(READ_SOURCES_JS)


#: The boxes of every trend's plot and of the shared time axis, in page pixels.
PLOT_BOXES_JS = """
() => {
  const out = {};
  for (const m of Bokeh.documents[0].all_models) {
    if (m.type !== "Figure" || !m.name) continue;
    const view = Bokeh.index.find_one(m);
    if (view == null) continue;
    const r = view.el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;  // hidden
    out[m.name] = {top: r.top, bottom: r.bottom, left: r.left, right: r.right, height: r.height};
  }
  return out;
}
"""

#: The page's theme as the browser shows it: the Page's switch, the page's background
#: colour, and a trend's plot background (themed with the page).
THEME_JS = """
() => {
  let page = null, trend = null;
  for (const m of Bokeh.documents[0].all_models) {
    if (m.data && m.data.dark_theme !== undefined && m.data.sidebar !== undefined) page = m;
    if (m.name === "trend-temperature") trend = m;
  }
  return {dark: page ? page.data.dark_theme : null,
          plot_background: trend ? trend.background_fill_color : null};
}
"""


def plot_boxes(page: Any) -> dict[str, dict[str, float]]:
    return page.evaluate(PLOT_BOXES_JS)


def theme(page: Any) -> dict[str, Any]:
    return page.evaluate(THEME_JS)


#: The colour an element's text is drawn in and the opaque colour behind it (the first
#: ancestor's background that is not transparent, through shadow roots), as sRGB 0-255.
_COLOURS_JS = """e => {
  const probe = document.createElement("canvas").getContext("2d");
  const rgba = c => {
    probe.clearRect(0, 0, 1, 1); probe.fillStyle = "#000"; probe.fillStyle = c;
    probe.fillRect(0, 0, 1, 1); return [...probe.getImageData(0, 0, 1, 1).data];
  };
  const text = rgba(getComputedStyle(e).color);
  let node = e, layers = [];
  while (node) {
    if (node.nodeType === 1) {
      const bg = getComputedStyle(node).backgroundColor;
      const c = rgba(bg);
      if (bg !== "rgba(0, 0, 0, 0)" && bg !== "transparent") {
        layers.push(c);
        if (c[3] === 255) break;
      }
    }
    node = node.parentNode || node.host;
  }
  if (!layers.length || layers[layers.length - 1][3] !== 255) layers.push([255, 255, 255, 255]);
  let under = layers.pop().slice(0, 3);
  while (layers.length) {
    const [r, g, b, a] = layers.pop(); const k = a / 255;
    under = [r * k + under[0] * (1 - k), g * k + under[1] * (1 - k), b * k + under[2] * (1 - k)];
  }
  return {text: text.slice(0, 3), background: under};
}"""


def _luminance(rgb: list[float]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def ratio(text: list[float], background: list[float], alpha: float = 1.0) -> float:
    """WCAG's contrast ratio of ``text`` (drawn at ``alpha`` over ``background``)."""
    drawn = [t * alpha + b * (1 - alpha) for t, b in zip(text, background, strict=True)]
    hi, lo = sorted((_luminance(drawn), _luminance(background)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def contrast(locator: Any) -> float:
    """WCAG's contrast ratio of an element's text against what is behind it, as drawn (the
    backgrounds of its ancestors composed, through shadow roots): 4.5 for body text, 3 for
    large or bold text."""
    colours = locator.evaluate(_COLOURS_JS)
    return ratio(colours["text"], colours["background"])


#: Every input and button that is drawn, and the sidebar (the Material UI drawer) they sit
#: in, found through shadow roots: boxes in page pixels.
_CONTROLS_JS = """() => {
  const found = [], drawers = [];
  const walk = root => {
    for (const el of root.querySelectorAll("*")) {
      if (el.matches(".MuiDrawer-paper")) drawers.push(el.getBoundingClientRect().toJSON());
      if (el.matches("input:not([type=hidden]), button, [role=button]")) {
        const r = el.getBoundingClientRect();
        const style = getComputedStyle(el);
        // Material UI's native inputs under its switches and checkboxes are invisible on
        // purpose (opacity 0, wider than their control): what is drawn is the control.
        if (r.width > 0 && r.height > 0 && style.visibility !== "hidden" && style.opacity !== "0")
          found.push({
            what: (el.getAttribute("aria-label") || el.name || el.textContent || el.tagName)
              .trim().slice(0, 40),
            ...r.toJSON()});
      }
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  return {controls: found, drawers};
}"""


def controls_outside(page: Any, width: int, height: int) -> list[str]:
    """Inputs and buttons that stick out of the viewport, or out of the sidebar when they
    start in it (each named, with by how many pixels)."""
    found = page.evaluate(_CONTROLS_JS)
    out = []
    drawer = max(found["drawers"], key=lambda d: d["height"], default=None)
    for c in found["controls"]:
        if c["left"] < -0.5 or c["top"] < -0.5 or c["right"] > width + 0.5:
            out.append(f"{c['what']!r} outside the window ({c['left']:.0f}..{c['right']:.0f})")
        if (
            drawer
            and drawer["left"] <= c["left"] < drawer["right"]
            and c["right"] > drawer["right"] + 0.5
        ):
            out.append(
                f"{c['what']!r} sticks out of the sidebar by {c['right'] - drawer['right']:.0f} px"
            )
    return out

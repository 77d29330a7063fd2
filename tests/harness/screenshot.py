"""``make screenshot``: pictures of the real page, light and dark, on a 1366 x 768 laptop.

Starts ``trending-panel demo`` on a free port, waits until every trend has data, and saves
``screenshot-light.png`` and ``screenshot-dark.png`` (the browser preferring each scheme).
The test suite takes the same pictures with :func:`capture` (``tests/test_layout.py``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from tests.harness.browser import browser_pages, free_port, read_sources, served, wait_until

#: A common laptop screen: the page must show every trend on it without scrolling.
LAPTOP = (1366, 768)


def wait_for_data(page: Any, count: int = 4) -> None:
    """Until every trend has data (and the canvas had a moment to draw it)."""

    def all_plotted() -> bool:
        sources = read_sources(page)
        return len(sources) == count and all(len(s["time"]) > 10 for s in sources.values())

    wait_until(all_plotted, timeout=60, what="data in all plots")
    time.sleep(2)


def capture(url: str, out_dir: Path, size: tuple[int, int] = LAPTOP) -> dict[str, Path]:
    """Light and dark pictures of ``url`` in ``out_dir``; returns them by scheme."""
    out_dir.mkdir(parents=True, exist_ok=True)
    shots = {}
    with browser_pages(2, *size, color_schemes=["light", "dark"]) as pages:
        for scheme, page in zip(("light", "dark"), pages, strict=True):
            page.goto(url)
            wait_for_data(page)
            path = out_dir / f"screenshot-{scheme}.png"
            page.screenshot(path=str(path))
            shots[scheme] = path
    return shots


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0] if argv else "docs")
    port = free_port()
    with served(
        ["trending-panel", "demo", "--port", str(port), "--backfill", "2d"], {}, port, timeout=120
    ):
        for path in capture(f"http://localhost:{port}/?window=6h", out_dir).values():
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

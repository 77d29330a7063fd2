"""``make screenshot``: a picture of the real page, taken with the test browser harness.

Starts ``trending-panel demo`` on a free port, waits until every trend has data, and saves a
PNG of the page.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .browser import browser_page, free_port, read_sources, served, wait_until


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "docs/screenshot.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with (
        served(
            ["trending-panel", "demo", "--port", str(port), "--backfill", "2d"],
            {},
            port,
            timeout=120,
        ),
        browser_page(width=1400, height=1250) as page,
    ):
        page.goto(f"http://localhost:{port}/?window=6h")

        def all_plotted() -> bool:
            sources = read_sources(page)
            return len(sources) == 4 and all(len(s["time"]) > 10 for s in sources.values())

        wait_until(all_plotted, timeout=60, what="data in all plots")
        time.sleep(3)  # let live rows arrive and the canvas settle
        page.screenshot(path=str(out), full_page=True)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

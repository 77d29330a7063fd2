"""``python -m benchmarks.loop_probe FILE ARGS...``: ``trending-panel ARGS...`` (``serve`` or
``demo``) with a probe on its event loop, for the benchmarks.

The probe sleeps 5 ms at a time on the server's loop; whenever it wakes later than asked, the
loop was held by something else for that long (a page's build, a tick, a message), and a line
goes to ``FILE`` (JSON: ``{"at": epoch s, "held_ms": ...}``, over 10 ms only). Each answered
``GET /`` is written too (``{"at": ..., "get_ms": ...}``, Tornado's own request time), and
each full collection of Python's garbage collector (``{"at": ..., "gc_ms": ...}``): it runs in
whatever turn of the loop allocated last. The server's code is not changed: the probe starts
with the server's warm-up.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time

from tornado.web import RequestHandler

from trending_panel.ops.cli import main
from trending_panel.serve import server

STEP = 0.005
OVER = 0.010


def _probe(path: str) -> None:
    out = open(path, "a", buffering=1)  # noqa: SIM115  (open as long as the server runs)

    async def watch() -> None:
        while True:
            began = time.perf_counter()
            await asyncio.sleep(STEP)
            held = time.perf_counter() - began - STEP
            if held > OVER:
                out.write(json.dumps({"at": time.time(), "held_ms": round(held * 1000, 1)}) + "\n")

    warm_up = server._warm_up

    def warm_up_and_watch(settings) -> None:
        asyncio.get_running_loop().create_task(watch())
        warm_up(settings)

    server._warm_up = warm_up_and_watch
    finish = RequestHandler.finish

    def finish_and_note(self, *args, **kwargs):
        if self.request.path == "/":
            took = self.request.request_time() * 1000
            out.write(json.dumps({"at": time.time(), "get_ms": round(took, 1)}) + "\n")
        return finish(self, *args, **kwargs)

    RequestHandler.finish = finish_and_note
    began: list[float] = []

    def collected(phase: str, info: dict) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            began[:] = [time.perf_counter()]
        elif began:
            took = (time.perf_counter() - began[0]) * 1000
            out.write(json.dumps({"at": time.time(), "gc_ms": round(took, 1)}) + "\n")

    gc.callbacks.append(collected)


def read(path: str, since: float = 0.0, until: float = float("inf")) -> dict[str, list[float]]:
    """What was noted between two epoch times (ms): the loop's holds (``held``), the ``GET /``
    times (``get``) and the full collections (``gc``)."""
    found: dict[str, list[float]] = {"held": [], "get": [], "gc": []}
    with open(path) as f:
        for line in f:
            row = json.loads(line)
            if since <= row.pop("at") <= until:
                ((key, ms),) = row.items()
                found[key.removesuffix("_ms")].append(ms)
    return found


if __name__ == "__main__":
    _probe(sys.argv[1])
    sys.argv = ["trending-panel", *sys.argv[2:]]
    sys.exit(main())

"""``GET /export.csv``: the CSV of a window, streamed over plain HTTP beside the app.

The page's download button asks with ``HEAD`` first (the same checks, no rows read), shows a
refusal in the page, and otherwise lets the browser download the file natively: it streams
to disk, never through the page's memory, the Bokeh websocket or the server's memory.
Scripts and ``curl`` use it too. It accepts exactly the dashboard's URL
vocabulary and nothing else: ``window=<preset>``, ``start=<ISO 8601>&end=<ISO 8601>`` or
``batch=<id>`` (that batch's span, from ``[events]``) or ``compare=<id>,<id>…`` with an
optional ``align=<phase>`` (those batches' rows with ``batch`` and ``elapsed_s`` columns, see
:mod:`~..read.compare_export`), and ``variables=<key>[,<key>…]``; anything else is refused
with 400 and a message that says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from urllib.parse import quote

import tornado.iostream
from bokeh.server.views.auth_request_handler import AuthRequestHandler

from trending_panel.core import compare
from trending_panel.core.compare import Compared
from trending_panel.core.errors import BadRequest, Busy, error_line
from trending_panel.core.settings import Settings
from trending_panel.core.timewindow import TimeWindow, query_text
from trending_panel.core.variables import select
from trending_panel.live.batch_list import BatchList
from trending_panel.live.hub import hub
from trending_panel.live.tag_list import TagList
from trending_panel.read.compare_export import compare_chunks
from trending_panel.read.csv_export import csv_chunks
from trending_panel.serve.access import signed_in

log = logging.getLogger(__name__)

PATH = "/export.csv"
ALLOWED = ("window", "start", "end", "batch", "compare", "align", "variables")
#: A refusal's sentence in a response to ``HEAD`` (which has no body), percent-encoded UTF-8.
PROBLEM_HEADER = "X-Export-Problem"


def parse_query(
    args: dict[str, list[bytes]],
    settings: Settings,
    tags: TagList | None = None,
    batches: BatchList | None = None,
) -> tuple[TimeWindow, tuple, str]:
    """Validate the query string: the window (or a batch's span, looked up in ``batches``),
    the variables, and the variables' spelling. With a tag list (``tags``), any tag's key;
    without ``variables``, the default page's."""
    unknown = sorted(k for k in args if k not in ALLOWED)
    if unknown:
        raise BadRequest(
            f"unknown parameter(s) {', '.join(unknown)[:200]}; use {', '.join(ALLOWED)}"
        )
    try:
        query = query_text(args, ALLOWED)
        if "compare" in query or "align" in query:
            raise ValueError("compare and align are read by compare_query")
        if "batch" in query:
            window = _batch_window(query, batches, settings)
        else:
            window = TimeWindow.from_query(query, settings.tzinfo)
        keys = [k for k in query.get("variables", "").split(",") if k]
        if tags is None or (settings.catalog is None and not keys):
            variables = select(keys, settings.variables)
        else:
            found, unknown = tags.resolve(keys or tags.default_keys())
            if unknown:
                raise ValueError(f"unknown variable(s) {', '.join(unknown)[:200]}")
            variables = tuple(found)
    except ValueError as exc:
        raise BadRequest(str(exc)[:300]) from None
    return window, variables, query.get("variables", "")


def compare_query(
    args: dict[str, list[bytes]], settings: Settings, tags: TagList, batches: BatchList
) -> tuple[list[Compared], tuple, dict]:
    """``compare=ID1,ID2[&align=PHASE][&variables=…]``: the batches compared, the pens (the
    columns) and every tag the batches read by key; BadRequest names what cannot be."""
    try:
        query = query_text(args, ALLOWED, limit=2000)
        if any(k in query for k in ("window", "start", "end", "batch")):
            raise ValueError("give compare or a window (window, start and end, or batch)")
        if "compare" not in query:
            raise ValueError("align needs compare")
        if not batches.enabled:
            raise ValueError("this site names no events table ([events]): no batches")
        ids = compare.parse_ids(query["compare"])
        keys = [k for k in query.get("variables", "").split(",") if k]
        pens, unknown = tags.resolve(keys or tags.default_keys())
        if unknown:
            raise ValueError(f"unknown variable(s) {', '.join(unknown)[:200]}")
        found, problems = compare.plan(
            batches.batches, ids, query.get("align") or None, [p.key for p in pens],
            tags, settings.now(),
        )  # fmt: skip
        if problems:
            raise ValueError(batches.error or "cannot compare: " + "; ".join(problems))
    except ValueError as exc:
        raise BadRequest(str(exc)[:300]) from None
    used = {key: tags.get(key) for c in found for key in c.tags.values()}
    return found, tuple(pens), used


def _batch_window(query: dict[str, str], batches: BatchList | None, settings: Settings):
    if any(k in query for k in ("window", "start", "end")):
        raise ValueError("give batch or a window (window, start and end), not both")
    if batches is None or not batches.enabled:
        raise ValueError("this site names no events table ([events]): no batches")
    found = batches.batches.get(query["batch"])
    if found is None:
        raise ValueError(batches.error or f"unknown batch {query['batch'][:80]!r}")
    start, end = found.span(settings.now())
    return TimeWindow(preset=None, start=start, end=end)


class ExportHandler(AuthRequestHandler):
    """Streams the CSV in chunks of a few thousand lines, flushing each: bounded memory.
    Behind the same sign-in as the page (the server's auth provider, see :mod:`.access`)."""

    def initialize(self, settings: Settings) -> None:
        self.app_settings = settings

    async def head(self) -> None:
        """Whether ``GET`` would start the file, without reading a row: 200 with its headers,
        or the refusal's status with its sentence in :data:`PROBLEM_HEADER`."""
        await self._prepare()

    async def get(self) -> None:
        rows = await self._prepare()
        if rows is None:
            return
        settings = self.app_settings
        try:
            async with hub(settings).exports.now(settings.max_exports, self._holder()):
                await self._stream(rows)
        except Busy as exc:
            self.set_header("Retry-After", "30")
            self._refuse(429 if "yours" in str(exc) else 503, str(exc))

    def _holder(self) -> str:
        """Who asks: the signed-in user, else the client's address (one export each)."""
        user = self.current_user
        if user:
            return f"user:{user.decode() if isinstance(user, bytes) else user}"
        return f"ip:{self.request.remote_ip}"

    async def _prepare(self) -> Callable[[], AsyncIterator[bytes]] | None:
        """Check who asks, the query and the tables, and set the file's headers: what makes
        the file's bytes, or None when refused (the refusal is sent)."""
        if not signed_in(self):
            self._refuse(401, "sign in first (open the dashboard's page)")
            return None
        shared = hub(self.app_settings)
        args = self.request.query_arguments
        if "batch" in args or "compare" in args:  # read once per process, at most 5 s old
            await shared.batches.wait_loaded(self.app_settings.connect_timeout)
        window, compared, used = None, None, {}
        try:
            if "compare" in args or "align" in args:
                compared, variables, used = compare_query(
                    args, self.app_settings, shared.tags, shared.batches
                )
            else:
                window, variables, _ = parse_query(
                    args, self.app_settings, shared.tags, shared.batches
                )
        except BadRequest as exc:
            self._refuse(400, str(exc))
            return None
        settings = self.app_settings
        store = hub(settings).feed.store
        deadline = settings.query_timeout.total_seconds()
        try:
            async with asyncio.timeout(deadline):
                problems = await store.problems({*variables, *used.values()})
                if problems:
                    why = "; ".join(f"{v.table}: {reason}" for v, reason in problems.items())
                    self._refuse(409, f"cannot export: {why}")
                    return None
                newest = await store.newest_time(variables)
        except TimeoutError:
            self._refuse(503, f"database unavailable: no answer within {deadline:g} s")
            return None
        except Exception as exc:
            self._refuse(503, f"database unavailable: {error_line(exc)}")
            return None
        if compared is not None:
            slug = "compare_" + "_".join(_safe(c.batch.batch_id) for c in compared)[:120]

            def rows() -> AsyncIterator[bytes]:
                return compare_chunks(store, compared, variables, used, stall=deadline)
        else:
            assert window is not None
            slug = window.slug(newest)
            start, end = window.resolve(newest)

            def rows() -> AsyncIterator[bytes]:
                return csv_chunks(store, variables, start, end, stall=deadline)

        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="trending_{slug}.csv"')
        self.set_header("Cache-Control", "no-store")
        return rows

    async def _stream(self, rows: Callable[[], AsyncIterator[bytes]]) -> None:
        try:
            async with contextlib.aclosing(rows()) as chunks:
                async for chunk in chunks:
                    self.write(chunk)
                    await self.flush()
        except tornado.iostream.StreamClosedError:
            log.info("CSV download cancelled by the client")
        except Exception as exc:
            # The status line is gone already: cut the response so it cannot pass as whole.
            log.warning("CSV export failed mid-stream: %s", error_line(exc))
            self.request.connection.close()

    def _refuse(self, status: int, message: str) -> None:
        self.clear_header("Content-Disposition")
        self.set_status(status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header(PROBLEM_HEADER, quote(message[:500], safe=" ,.:;()'/=-"))
        self.finish(message + "\n")


def _safe(text: str) -> str:
    """A batch id as a part of a file name."""
    return "".join(ch if ch.isalnum() or ch in "-." else "-" for ch in text)


def patterns(settings: Settings) -> list[tuple]:
    """Tornado routes to add beside the app (``pn.serve(extra_patterns=…)``)."""
    return [(PATH, ExportHandler, {"settings": settings})]

"""A served page's changes between its pull and its first render (``web/pulled.py``): a real
``trending-panel serve`` and a Bokeh client session, which pulls the document as a browser
does and, like a browser still building the page, has not reported it rendered."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import timedelta

import psycopg
from bokeh.events import DocumentReady
from psycopg import sql

from tests.harness.browser import free_port, served
from tests.harness.database import insert
from trending_panel.core.variables import VARIABLES


def test_the_end_of_a_load_reaches_a_page_pulled_while_it_ran(db, tables):
    """The window's load is held back by a lock on the tables until the page has pulled its
    document (busy); its end (not busy, a panel-material-ui property that Panel changes in a
    ``hold``) must then reach the page, which has not yet said it is rendered. Panel 1.9.4
    dropped it, and the page's busy bar stayed on over the drawn data."""
    from bokeh.client import pull_session

    import trending_panel.serve.server  # noqa: F401  (the page's model classes, named alike)

    _rows(db, tables)
    port = free_port()
    with served(["trending-panel", "serve", "--port", str(port)], db.to_env(), port):
        locker = psycopg.connect(db.conninfo())
        try:
            locker.execute(
                sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
                    sql.SQL(", ").join(sql.Identifier(v.table) for v in VARIABLES)
                )
            )
            session = pull_session(url=f"http://localhost:{port}/", arguments={"window": "1h"})
            page = next(r for r in session.document.roots if "busy" in r.data.properties())
            assert page.data.busy is True  # pulled while the load waits on the lock
        finally:
            locker.rollback()  # the load goes on
            locker.close()
        try:
            done = _until(session, lambda: page.data.busy is False)
            assert done, "the load's end never reached the page"
        finally:
            session.close()


def _until(session, done: Callable[[], bool], seconds: float = 30) -> bool:
    """Run ``session``'s client until ``done()`` (at most ``seconds``): the client takes
    patches only while its loop runs (a reply awaited drops them)."""
    client = session._connection
    stop = client._loop.call_later(seconds, client._loop.stop)
    client._loop_until(done)
    stop.cancel()
    return done()


@contextlib.contextmanager
def _pulled(db, tables) -> Iterator:
    """A served page of the last hour (rows in every table), pulled by a Bokeh client."""
    from bokeh.client import pull_session

    import trending_panel.serve.server  # noqa: F401  (the page's model classes, named alike)

    _rows(db, tables)
    port = free_port()
    with served(["trending-panel", "serve", "--port", str(port)], db.to_env(), port):
        session = pull_session(url=f"http://localhost:{port}/", arguments={"window": "1h"})
        try:
            yield session
        finally:
            session.close()


def _rows(db, tables) -> None:
    now = db.now().replace(microsecond=0)
    for var in VARIABLES:
        insert(tables, var.table, [(now - timedelta(seconds=30 * k), 1.0) for k in range(60)])


def test_a_stale_busy_flag_sent_by_the_page_is_corrected(db, tables):
    """A browser's React state can write the busy flag back after the server's "done" (a
    Page mounting while a load starts and ends); the server then thought the page busy and no
    longer tied the flag to its loads: the bar stayed on. It must answer with the truth."""
    with _pulled(db, tables) as session:
        page = next(r for r in session.document.roots if "busy" in r.data.properties())
        assert _until(session, lambda: page.data.busy is False), "the first load never ended"
        page.data.busy = True  # what the stale React state sent
        assert _until(session, lambda: page.data.busy is False), "the stale flag was kept"


def test_the_sidebar_comes_once_the_page_is_drawn(db, tables):
    """The page a tab pulls holds an empty sidebar (each Material widget would hold back the
    trends' first paint); once the browser says the page is drawn, the server
    adds the controls, the window's ends already in its range fields."""
    with _pulled(db, tables) as session:
        sidebar = next(m for m in session.document.models if m.name == "sidebar")
        assert sidebar.children == []
        page = next(r for r in session.document.roots if "busy" in r.data.properties())
        assert _until(session, lambda: page.data.busy is False), "the first load never ended"
        session.document.callbacks.send_event(DocumentReady())  # what a browser sends
        assert _until(session, lambda: sidebar.children != []), "no controls came"
        labelled = [m.data for m in session.document.models if _labelled(m)]
        assert {"Time window", "Variables", "Live"} <= {d.label for d in labelled}
        ends = [d for d in labelled if str(d.label).startswith(("From", "To"))]
        assert len(ends) == 2 and all(d.value_input for d in ends), "the range fields empty"


def _labelled(model) -> bool:
    """A Material widget's model: its properties (label, value) are in its ``data``."""
    data = getattr(model, "data", None)
    return callable(getattr(data, "properties", None)) and "label" in data.properties()


def test_the_trends_come_once_the_page_has_answered_a_part_at_a_time(db, tables):
    """A tab's ``GET /`` answers before the trends are made (their build held the server's
    loop for every session, 0.3-0.5 s); they follow a part per turn of the loop, in order: the
    cursor's readout, a row per trend (its plot and its statistics), the shared time axis,
    and the window's rows reach them."""
    with _pulled(db, tables) as session:
        body = next(m for m in session.document.models if m.name == "trends-body")
        assert _until(session, lambda: len(body.children) == 2 + len(VARIABLES)), "no trends"
        readout, *rows, axis = body.children
        assert readout.name == "cursor-readout"
        assert [row.children[0].name for row in rows] == [f"trend-{v.key}" for v in VARIABLES]
        assert all(v.label in row.children[1].text for v, row in zip(VARIABLES, rows, strict=True))
        assert axis.children[0].name == "time-axis"
        sources = {m.name: m for m in session.document.models if str(m.name).startswith("source-")}
        assert _until(session, lambda: all(len(s.data["time"]) for s in sources.values()))
        assert len(sources) == len(VARIABLES)

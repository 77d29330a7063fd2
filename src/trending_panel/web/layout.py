"""How a session is laid out: a full-screen page (served) or one block (a notebook output).

Served, a panel-material-ui ``Page``: the controls in its sidebar (which the viewer can fold
away), the status and value cards on top of the main area, and the trends sharing the height
that is left, so every shown trend is on screen from a 1366 x 768 laptop to a 4K control-room
display. The page starts in the browser's light or dark scheme and has a switch for it; the
plots are themed with it. In a notebook, the same views in one column with fixed heights.

The sidebar's widgets are built once the browser has drawn the trends (Panel's ``onload``).
Each Material UI widget mounts in a task of its own, and the page counts as drawn (its
loading veil lifted) only when the last one has: with them in the first paint, the trends
came into view 1.1-1.5 s later on a 2-core machine, and the server's build of a page held
its event loop for them too. The trends are made after the tab's ``GET /`` has answered, a
trend's figure, then a part of the page, per turn of the server's loop
(:meth:`.ticker.Clock.in_steps`): no page's opening holds every other session for its whole
build.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import panel as pn
import panel_material_ui as pmui
import param
from panel.util import edit_readonly

from trending_panel.web.ages import ages
from trending_panel.web.batch_panel import BatchPanel
from trending_panel.web.bokehjs_speed import css_free_visuals
from trending_panel.web.compare_panel import ComparePicker
from trending_panel.web.compare_view import CompareTrends
from trending_panel.web.comparison import Comparison
from trending_panel.web.session import Session
from trending_panel.web.tag_panel import TagPanel
from trending_panel.web.theme import follow_browser
from trending_panel.web.views import Controls, Header, Trends, Trouble

TITLE = "Bioreactor process trends"
SIDEBAR_WIDTH = 290


def page(session: Session) -> pmui.Page:
    """The served page of ``session``: its window's trends, or the batches it compares."""
    busy = session.param.loading
    later: list[Callable[[], pn.viewable.Viewable]] = []  # the sidebar's parts, in order
    shown: dict[str, Trends] = {}  # the window's trends, once made
    steps: Iterator[pn.viewable.Viewer | None]
    if session.compare_ids:  # ?compare=: the batches on an axis of hours since their start
        comparison = Comparison(session, session.compare_ids, session.align)
        busy = comparison.param.loading
        steps = _made_then(lambda: CompareTrends(comparison))
    else:
        steps = Trends.in_steps(session, fill=True)
        later.append(lambda: Controls(session, vertical=True))
    # The trends are made after the tab's ``GET /`` has answered, while the browser loads
    # the page's scripts, a part per turn of the server's loop: built in one piece, they held
    # it for every session at once (0.3-0.5 s with the page's HTML). Mostly done before the
    # page pulls its document; what is not yet reaches it as changes.
    body = pn.Column(sizing_mode="stretch_both", margin=0, name="trends-body")
    main = pn.Column(
        Header(session), _instead_of(body, session), body, sizing_mode="stretch_both",
        margin=0, name="trends",
    )  # fmt: skip

    # The sidebar waits for the page drawn (Panel's ``onload``) and for the trends made (a
    # batch panel shows their phases); on a busy server the page can be drawn first.
    waiting = {"drawn", "made"}

    def arrived(what: str) -> None:
        waiting.discard(what)
        if not waiting and later:
            # A part per turn of the loop too, made then added (Panel makes its models in a
            # turn of their own): in one piece, a plant's sidebar held the loop 0.15-0.4 s.
            session.clock.in_steps(_added(sidebar, later))

    def made(view: pn.viewable.Viewer) -> None:
        if isinstance(view, Trends):
            shown["view"] = view
            # A part a turn too: Panel makes the models of each in a turn of its own.
            session.clock.in_steps(body.append(part) for part in view.parts())
        else:
            body.objects = [pn.panel(view)]
        arrived("made")

    if session.hub.batches.enabled:  # the site's batches, under the window's controls
        if not session.compare_ids:
            later.append(lambda: BatchPanel(session, shown["view"].phases))
        later.append(lambda: ComparePicker(session))
    if session.settings.catalog is not None or session.settings.displays is not None:
        later.insert(0, lambda: TagPanel(session))  # a plant's tags first (the four tables: none)
    # Present from the first paint (so the trends keep their width), filled once drawn.
    sidebar = pn.Column(sizing_mode="stretch_width", margin=0, name="sidebar")
    shell = pmui.Page(
        title=TITLE,
        sidebar=[sidebar] if later else [],
        sidebar_width=SIDEBAR_WIDTH,
        main=[main],
        theme_toggle=True,
    )
    session.clock.in_steps(steps, made)
    pn.state.onload(lambda: arrived("drawn"))
    shell.header = [css_free_visuals(), ages(), *filter(None, [follow_browser(shell)])]
    _busy_bar(shell, busy, session)
    return shell


def _made_then(make: Callable[[], pn.viewable.Viewer]) -> Iterator[pn.viewable.Viewer]:
    """One step: ``make()``, in the first turn of the loop rather than now."""
    yield make()


def _added(column: pn.Column, makers: list[Callable[[], pn.viewable.Viewable]]) -> Iterator[None]:
    """Steps that make each part and add it to ``column``, in order."""
    for make in makers:
        part = make()
        yield None
        column.append(part)
        yield None


def _busy_bar(shell: pmui.Page, busy: param.Parameter, session: Session) -> None:
    """Show ``busy`` (the session's loads) in ``shell``'s busy bar, and keep it so.

    panel-material-ui binds every Page's busy bar to Panel's process-wide busy flag: a
    watcher on a global that is never removed, so each closed page (and its whole session)
    stayed in memory, and any session's callback showed the bar on every page. The bar is
    bound to this session's own loads instead.

    The browser can send the flag back, stale: Panel's React state hook writes a component's
    state to its model, and a Page that mounts while a load starts and ends (the second read
    at the plots' real width) can write "busy" after the server's "done", which also unbinds
    the flag from the loads. Seen on dark pages (their scheme re-renders the Page as it
    mounts): the bar stayed on. A flag that disagrees with the loads is bound again.
    """

    def bind() -> None:
        with edit_readonly(shell):
            shell.busy = busy

    def kept(event: param.parameterized.Event) -> None:
        if event.new != getattr(busy.owner, busy.name):
            session.clock.under_lock(bind)

    bind()
    shell.param.watch(kept, "busy")


def embedded(session: Session) -> pn.viewable.Viewable:
    """``session`` as one output block (a notebook cell)."""
    trends = pn.panel(Trends(session, fill=False))
    return pn.Column(
        css_free_visuals(),
        ages(),
        pn.pane.HTML(f'<h3 class="tp-title">{TITLE}</h3>', margin=(0, 10)),
        Controls(session, vertical=False),
        Header(session),
        _instead_of(trends, session),
        trends,
        sizing_mode="stretch_width",
    )


def _instead_of(trends: pn.viewable.Viewable, session: Session) -> Trouble:
    """The diagnosis of a database that cannot be used, shown in place of ``trends``."""
    trouble = Trouble(session)
    trouble.param.watch(lambda event: setattr(trends, "visible", not event.new), "showing")
    return trouble

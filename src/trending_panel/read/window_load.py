"""Reading a session's window: which tables can be shown, where the window ends, the traces
at the plots' width, and the golden batch's traces beside them.

The result (:class:`Loaded`) is parked by the dashboard and applied to its sources by the
next tick, under the document lock; nothing here touches a Bokeh model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from trending_panel.core.settings import Settings
from trending_panel.core.timewindow import TimeWindow
from trending_panel.core.variables import Variable
from trending_panel.live.feed import LiveFeed
from trending_panel.live.rollup_view import RollupView
from trending_panel.live.summary import Summary
from trending_panel.read import resolution
from trending_panel.read.resolution import Drawn
from trending_panel.read.stats import Stats, from_totals

#: Plot width assumed until the browser reports the real one.
DEFAULT_WIDTH = 1000


@dataclass
class Loaded:
    """A window read from the store, waiting to be applied by the next tick."""

    generation: int
    start: datetime | None  #: the window's ends (None: unbounded, for "all data")
    end: datetime | None
    drawn: dict[str, Drawn]
    problems: dict[str, str]  # table → why it cannot be shown
    #: What the traces cover: the window's ends, or the zoomed range, resolved.
    extent: tuple[datetime | None, datetime | None] = (None, None)
    zoomed: bool = False  #: a zoom/pan range, not the window itself
    #: The reference period's traces (golden batch) and how far they are shifted forward.
    reference: dict[str, Drawn] | None = None
    ref_shift: timedelta = timedelta(0)
    attached: bool = True  #: reaches the live edge: streamed rows continue it
    width: int = DEFAULT_WIDTH
    #: The shown variables by key (for their statistics).
    variables: dict[str, Variable] = field(default_factory=dict)
    #: Why a shown tag is not served by the shared rollup that exists (by key).
    not_rolled: dict[str, str] = field(default_factory=dict)
    #: Shown tags the live feed did not follow yet when this was read: rows written before
    #: it first looks never stream in, so the view is read again once it does.
    unprimed: frozenset[str] = frozenset()

    def stats(self) -> tuple[dict[str, Stats], dict[str, Stats]]:
        """The window's statistics per variable key, and the reference period's (when they
        came with the load: a zoom brings none)."""
        start, end = self.extent
        found: dict[str, Stats] = {}
        ref: dict[str, Stats] = {}
        if start is None or end is None or self.zoomed:
            return found, ref
        for key, drawn in self.drawn.items():
            if drawn.totals is not None:
                found[key] = from_totals(self.variables[key], drawn.totals, start, end)
        for key, drawn in (self.reference or {}).items():
            if drawn.totals is not None:
                ref_start = start - self.ref_shift
                ref[key] = from_totals(
                    self.variables[key], drawn.totals, ref_start, ref_start + (end - start)
                )
        return found, ref

    def notes(self, variables: tuple[Variable, ...]) -> list[str]:
        """What the user should know about how the window is drawn."""
        out = []
        if self.not_rolled:
            shown = [v for v in variables if v.key in self.not_rolled]
            out.append(
                "Summarised in this process, not by the shared rollup: "
                + "; ".join(f"{v.label} ({self.not_rolled[v.key]})" for v in shown)
            )
        for var in variables:
            drawn = self.drawn.get(var.key)
            if drawn is not None and drawn.reduced:
                out.append(
                    f"{var.label}: {drawn.rows:,} rows here, drawn from their {drawn.samples:,} "
                    "first/last/min/max per pixel column; zoom in for every row "
                    "(the CSV always has them all)"
                )
        return out


@dataclass
class Request:
    """What a session asks to see."""

    generation: int
    window: TimeWindow
    variables: list[Variable]  #: the shown ones
    width: int
    #: A zoomed/panned range inside the window, or None for the window itself.
    zoom: tuple[datetime, datetime] | None = None
    #: The window's resolved ends as last loaded (a zoom stays inside them).
    span: tuple[datetime | None, datetime | None] = (None, None)
    ref: datetime | None = None  #: start of the golden batch


class WindowReader:
    """Reads windows for one session; remembers which tables had problems, so a zoom (which
    must feel instant) does not ask the database again."""

    def __init__(
        self,
        feed: LiveFeed,
        summary: Summary | None,
        settings: Settings,
        variables: tuple[Variable, ...] | None = None,
        rollup: RollupView | None = None,
    ) -> None:
        #: The page's variables: a relative window ends at their newest sample.
        self.variables = tuple(variables) if variables is not None else settings.variables
        self.feed = feed
        self.store = feed.store
        self.summary = summary
        #: The shared rollup (wide windows of its tags): the summary's unless given.
        self.rollup = rollup if rollup is not None or summary is None else summary.rollup
        self.settings = settings
        self.problems: dict[Variable, str] | None = None

    async def read(self, req: Request) -> Loaded:
        """The traces of ``req`` (see :class:`Loaded`)."""
        configured = self.variables
        if req.zoom is None or self.problems is None:
            problems = await self.store.problems(configured)
            self.problems = problems
            newest = await self.store.newest_time([v for v in configured if v not in problems])
        else:  # zooming: what the last load found, and the feed's newest row, will do
            problems = self.problems
            latest = self.feed.latest
            newest = max((latest[v.key][0] for v in configured if v.key in latest), default=None)
        selected = [v for v in req.variables if v not in problems]
        # The feed must follow a tag before its rows are read here: a row written between
        # this read and the feed's first look would reach neither (a new page, a new pen).
        wait = self.settings.poll_timeout.total_seconds()
        unprimed = await self.feed.until_primed([v.key for v in selected], wait)
        if req.zoom is None:
            start, end = req.window.resolve(newest if req.window.is_relative else None)
            first, last = start, end
        else:
            start, end = req.span
            first, last = req.zoom
        attached = req.zoom is None or newest is None or last >= newest
        drawn, first, last = await resolution.read(
            self.store,
            self.summary,
            selected,
            first,
            last,
            req.width,
            self.settings,
            # Only a trace that streamed rows continue needs the rows they may repeat.
            tail=self.settings.lookback if attached else timedelta(0),
            with_totals=req.zoom is None,  # the window's statistics, from the same pass
            rollup=self.rollup,
        )
        reference, ref_shift = None, timedelta(0)
        if req.ref is not None and req.zoom is None and first is not None and last is not None:
            # The reference period of the window's length, drawn at the same resolution.
            ref_shift = first - req.ref
            reference, _, _ = await resolution.read(
                self.store, self.summary, selected, req.ref, req.ref + (last - first),
                req.width, self.settings, with_totals=True, rollup=self.rollup,
            )  # fmt: skip
        return Loaded(
            req.generation,
            start,
            end,
            drawn,
            {v.table: why for v, why in problems.items()},
            extent=(first, last),
            zoomed=req.zoom is not None,
            attached=attached,
            width=req.width,
            reference=reference,
            ref_shift=ref_shift,
            variables={v.key: v for v in selected},
            not_rolled={
                v.key: why
                for v in selected
                if self.rollup is not None and (why := self.rollup.why_not(v)) is not None
            },
            unprimed=unprimed,
        )

"""What a session's status line says besides the connection: tables that cannot be shown,
how the window is drawn, spans of the past redrawn, the summary's progress, a load under
way, and input refused. Each is a :class:`Note` of a kind; how a kind looks is the header's
business (the state knows no CSS)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from trending_panel.core.timewindow import format_time
from trending_panel.core.variables import Variable
from trending_panel.live.feed import Change
from trending_panel.live.summary import Summary

if TYPE_CHECKING:
    from trending_panel.web.session import Session

#: How long the status line says that a span of the past was redrawn (seconds).
CHANGE_NOTE_S = 60

Kind = Literal["problem", "note", "changed", "busy"]


@dataclass(frozen=True)
class Note:
    kind: Kind  #: problem: something the user must know is wrong; note: how it is drawn
    text: str
    #: The particulars, for whoever wants them (a tooltip): the status line stays one line.
    detail: str = ""


class Notes:
    """A session's notes: set by its loads and the feed's changes, read by its header."""

    def __init__(self) -> None:
        #: Tables that cannot be shown, and why (from the last window load).
        self.problems: dict[str, str] = {}
        #: How the window is drawn (reduced traces), from the last load.
        self.drawn: list[str] = []
        self._changed: list[tuple[float, str]] = []
        #: What other parts of the page add (a comparison's state), asked each time.
        self.more: list[Callable[[], list[Note]]] = []

    def redrawn(self, var: Variable, change: Change) -> None:
        """Say for a while that ``var``'s rows in ``change``'s span changed and were redrawn."""
        self._changed.append(
            (
                time.monotonic() + CHANGE_NOTE_S,
                f"{var.label}: rows between {format_time(change.start)} and "
                f"{format_time(change.end)} changed in the database (late, corrected or "
                "deleted); redrawn",
            )
        )

    def expire(self) -> None:
        now = time.monotonic()
        self._changed = [(until, text) for until, text in self._changed if until > now]

    def of(self, session: Session) -> list[Note]:
        """Everything the status line says for ``session`` now."""
        notes = [Note("problem", f"{table}: {why}") for table, why in self.problems.items()]
        if self.drawn:
            n = len(self.drawn)
            notes.append(
                Note(
                    "note",
                    f"reduced to the screen: {n} plot{'s' if n > 1 else ''}, zoom in for every row",
                    detail="\n".join(self.drawn),
                )
            )
        notes += [Note("changed", text) for _, text in self._changed]
        summary = session.summary
        if summary is not None and summary.state in ("building", "failed"):
            notes.append(Note("note", summary_note(summary)))
        if session.loading:
            notes.append(Note("busy", "loading…"))
        refused = (session._url_error, session._ref_note, session.message)
        notes += [Note("problem", text) for text in refused if text]
        for more in self.more:
            notes += more()
        return notes


def summary_note(summary: Summary) -> str:
    """The summary's state in words, while it is not ready."""
    if summary.state == "failed":
        return f"history summary failed ({summary.error}); wide windows are read from the database"
    # In tens of percent: each change of the text is a message to every page.
    done = int(summary.progress * 10) * 10
    return f"summarising the history ({done}%): wide windows are read from the database meanwhile"

"""A served session's work in steps: one turn of the event loop per step (web/ticker.py)."""

from __future__ import annotations

from bokeh.document import Document

from trending_panel.web.ticker import Clock


def _pending(doc: Document) -> list:
    return list(doc.session_callbacks)


def test_served_each_step_is_a_turn_of_the_loop_of_its_own_behind_what_waits():
    """Served, nothing runs at once; each step is a timeout callback of 0 ms (which the loop
    runs after the messages and ticks already waiting, unlike a next-tick callback), and the
    next one is asked for only when a step is done; the last value goes to ``done``."""
    doc = Document()  # a real Bokeh document: its callbacks wait here for a session to run them
    clock = Clock(session=None, doc=doc, on_server=True)  # type: ignore[arg-type]
    ran: list[int] = []
    got: list[int] = []

    def steps():
        for n in range(3):
            ran.append(n)
            yield n

    clock.in_steps(steps(), got.append)
    assert ran == [] and got == []
    turns = 0
    while pending := _pending(doc):
        (callback,) = pending  # never two steps asked for at once
        assert callback.timeout == 0
        doc.callbacks.remove_session_callback(callback)  # what the loop does when it fires
        callback.callback()
        turns += 1
        assert ran == list(range(min(turns, 3)))
    assert turns == 4  # three steps, and the turn that finds none left
    assert got == [2]


def test_without_a_server_every_step_runs_now():
    """A notebook's kernel or a script: the same steps, all at once."""
    doc = Document()
    got: list[str] = []
    Clock(session=None, doc=doc, on_server=False).in_steps(iter("abc"), got.append)  # type: ignore[arg-type]
    assert got == ["c"] and _pending(doc) == []

"""Failed sign-ins: five answered per key within five minutes, then a doubling lock."""

from __future__ import annotations

from trending_panel.serve.throttle import FIRST_LOCK_S, MAX_LOCK_S, WINDOW_S, Throttle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_five_failures_then_a_lock_that_doubles_and_a_success_that_clears():
    clock = Clock()
    t = Throttle(clock)
    keys = ("user:operator", "address:10.0.0.5")
    assert [t.failed(*keys) for _ in range(4)] == [0, 0, 0, 0]
    assert t.wait_s(*keys) == 0
    assert t.failed(*keys) == FIRST_LOCK_S  # the fifth
    assert t.wait_s("user:operator") == FIRST_LOCK_S and t.wait_s("address:10.0.0.5") > 0
    assert t.wait_s("user:someone-else") == 0
    clock.now += FIRST_LOCK_S
    assert t.wait_s(*keys) == 0
    assert t.failed(*keys) == 2 * FIRST_LOCK_S  # still five in the window: doubled
    t.succeeded(*keys)
    assert t.wait_s(*keys) == 0 and t.failed(*keys) == 0


def test_failures_older_than_the_window_are_forgotten_and_the_lock_is_capped():
    clock = Clock()
    t = Throttle(clock)
    for _ in range(4):
        t.failed("user:a")
        clock.now += WINDOW_S / 4 + 1  # spread beyond the window: never five at once
    assert t.failed("user:a") == 0
    locks = []
    for _ in range(12):
        locks.append(t.failed("user:b"))
        clock.now += locks[-1]
    assert locks[4:7] == [FIRST_LOCK_S, 2 * FIRST_LOCK_S, 4 * FIRST_LOCK_S]
    assert max(locks) == MAX_LOCK_S

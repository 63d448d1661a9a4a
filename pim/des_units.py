"""The lean DES's scheduling primitives (pim/des.py's docstring says why they time exactly what SimPy's
Resources and processes timed): a first-come-first-served pool of identical units, and the least a
SimPy event needs to be scheduled as a bare call."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable


class Units:
    """`capacity` identical units served first come, first served (a lean SimPy Resource): taking a
    free unit costs no event; a released unit is handed to the first waiter one queue turn later
    (SimPy grants waiting requests in the release event's callback)."""

    __slots__ = ("free", "waiting", "soon")

    def __init__(self, capacity: int, soon: Callable[[Callable[[], None]], None]):
        self.free = capacity
        self.waiting: deque[Callable[[], object]] = deque()
        self.soon = soon

    def take(self, granted: Callable[[], object]) -> bool:
        """True when a unit is free now; otherwise `granted` is called once one is handed over."""
        if self.free and self.waiting:   # a release not yet handed over: its waiters come first
            self._hand_over()
        if self.free:
            self.free -= 1
            return True
        self.waiting.append(granted)
        return False

    def release(self) -> None:
        self.free += 1
        if self.waiting:
            self.soon(self._hand_over)

    def _hand_over(self) -> None:
        while self.free and self.waiting:
            self.free -= 1
            self.waiting.popleft()()


class ScheduledCall:
    """The least a SimPy event needs to be scheduled: calls `then` when the queue reaches it."""

    __slots__ = ("callbacks", "_ok", "_value")

    def __init__(self, then: Callable[[], None]):
        self.callbacks = [lambda _: then()]
        self._ok, self._value = True, None

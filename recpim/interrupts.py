"""Ctrl-C and SIGTERM at a point where the state is consistent.

A KeyboardInterrupt raised by Python's default handler lands between any two bytecodes, e.g.
between `optimizer.step()` and the step counter's update, so a checkpoint written in the handler
would hold weights one step ahead of its counter. Inside `deferred_interrupts()` the first
SIGINT/SIGTERM only sets `requested`; the loop calls `check()` at its step boundaries, which
raises StopRequested there. A second signal raises KeyboardInterrupt at once (the user insists;
the state is then not saved). Outside the main thread signals cannot be caught: the context
then does nothing and `check()` never raises.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequested(KeyboardInterrupt):
    """Raised by Interrupts.check() at a step boundary after SIGINT/SIGTERM; `signum` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Interrupts:
    def __init__(self) -> None:
        self.requested: int | None = None    # the first signal's number
        self.on_request = None               # optional callable(signum), e.g. to print a note

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested is not None:
            raise KeyboardInterrupt(f"second {signal.Signals(signum).name}")
        self.requested = signum
        if self.on_request is not None:
            self.on_request(signum)

    def check(self) -> None:
        if self.requested is not None:
            raise StopRequested(self.requested)


def signal_of(interrupt: BaseException) -> signal.Signals:
    """The signal behind a KeyboardInterrupt recpim raised (StopRequested, the SIGTERM handler's, a
    second signal's, or one that names its signal); SIGINT for Python's own Ctrl-C."""
    signum = getattr(interrupt, "signum", None)
    if signum is not None:
        return signal.Signals(signum)
    name = str(interrupt).removeprefix("second ")
    return signal.Signals[name] if name in signal.Signals.__members__ else signal.SIGINT


def exit_code(interrupt: BaseException) -> int:
    """128 + the signal's number, what a shell reports for a process that signal ended: 130 for
    Ctrl-C (SIGINT), 143 for SIGTERM (timeout, systemctl stop, Slurm's scancel)."""
    return 128 + int(signal_of(interrupt))


def is_second(interrupt: BaseException) -> bool:
    """Whether the interrupt is a second signal (the user insisted while a save was pending)."""
    return str(interrupt).startswith("second ")


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def terminate_as_interrupt() -> None:
    """Make SIGTERM raise KeyboardInterrupt like Ctrl-C (the CLI's entry point calls this), so a
    `kill` or a scheduler's stop saves and cleans up exactly as Ctrl-C does instead of dying mid-write."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)


def default_signals() -> None:
    """SIGINT and SIGTERM back to the system's default (end the process quietly): once a command has
    finished there is nothing left to save, and a KeyboardInterrupt raised while the interpreter
    shuts down would only print an 'Exception ignored' traceback."""
    if threading.current_thread() is threading.main_thread():
        for signum in SIGNALS:
            signal.signal(signum, signal.SIG_DFL)


@contextmanager
def deferred_interrupts() -> Iterator[Interrupts]:
    interrupts = Interrupts()
    if threading.current_thread() is not threading.main_thread():
        yield interrupts
        return
    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
    for signum in SIGNALS:
        signal.signal(signum, interrupts._handle)
    try:
        yield interrupts
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

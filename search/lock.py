"""One driver per study: an exclusive lock on STUDY.lock beside an SQLite study file.

Two `recpim search --resume` on one study would both propose and evaluate the same candidates
(measured: 29 trials for a budget of 16). The lock is an fcntl.flock on the lock file, which the
kernel drops when its holder dies however it dies, so a stale owner (kill -9, a crash, a reboot)
never blocks the next run; the file's text (host, PID, start time) only names the owner in the
refusal. A storage URL (postgresql://...) takes no lock: one driver at a time is then the user's
rule (the study's docstring says so).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from recpim.errors import RecpimError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; runs go unlocked
    fcntl = None  # type: ignore[assignment]


class StudyLockedError(RecpimError):
    """Another live process is running a search on this study."""


def lock_path(study_url: str) -> Path | None:
    """STUDY.lock for a SQLite study URL; None for other storages."""
    if not study_url.startswith("sqlite:///"):
        return None
    database = Path(study_url.removeprefix("sqlite:///"))
    return database.with_name(database.name + ".lock")


def _owner(path: Path) -> str:
    try:
        owner = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return "another process"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(owner.get("started", 0)))
    return f"PID {owner.get('pid', '?')} on {owner.get('host', '?')} (since {started})"


@contextmanager
def study_lock(study_url: str) -> Iterator[Path | None]:
    """Hold the study's lock for the block; StudyLockedError at once when a live process holds it."""
    path = lock_path(study_url)
    if path is None or fcntl is None:
        yield None
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")   # noqa: SIM115 - held open for the whole block: the lock lives with it
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            study = study_url.removeprefix("sqlite:///")
            raise StudyLockedError(f"the study {study} is in use by {_owner(path)}: two drivers on one study "
                                   f"would evaluate the same candidates twice. Wait for that run to finish (or "
                                   f"stop it), then continue with recpim search --resume --study {study}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}))
        handle.flush()
        yield path
    finally:
        handle.close()   # releases the lock; the file stays (removing it would race with a new owner)

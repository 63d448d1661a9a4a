"""A search stopped by a signal: SIGINT (Ctrl-C, the whole process group) or SIGTERM (the driver
alone) ends it within seconds with every finished candidate in the study and a line saying how to
resume; SIGKILL of the driver takes its workers with it; a second driver on the same study is
refused while the first one lives, and accepted once it is dead (however it died)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tiny_supernet import tiny_space, train_tiny_supernet

from recpim.search.lock import StudyLockedError, study_lock
from recpim.search.study import storage_url

TINY = tiny_space("search_signals_tiny")
RECPIM = [sys.executable, "-c", "from recpim.cli import main; main()"]

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.skipif(
    not Path("/proc/self/task").is_dir(), reason="reads the process tree from /proc (Linux)")]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return train_tiny_supernet(TINY, tmp_path_factory.mktemp("supernet"))


def _search(checkpoint: Path, out: Path, budget: int = 60, *extra: str) -> list[str]:
    return [*RECPIM, "search", "--chip", "isaac", "--supernet", str(checkpoint), "--budget", str(budget),
            "--population", "4", "--sample", "2", "--children", "4", "--score-rows", "256", "--batch", "16",
            "--backend", "local", "--workers", "2", "--out", str(out), "--no-report", *extra]


def _trials(study: Path) -> int:
    try:
        with sqlite3.connect(study, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM trials WHERE state IN ('COMPLETE', 'FAIL')").fetchone()[0]
    except sqlite3.Error:
        return 0


def _descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = {int(c) for c in (task / "children").read_text().split()}
            except OSError:
                continue
            todo += sorted(children - found)
            found |= children
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")     # a zombie has exited; only its parent's wait is missing


def _start_and_wait_for(checkpoint: Path, out: Path, trials: int) -> tuple[subprocess.Popen, set[int]]:
    process = subprocess.Popen(_search(checkpoint, out), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 240
    while _trials(out / "study.db") < trials and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, f"the search ended before the signal: {process.stdout.read()[-3000:]}"
    workers = _descendants(process.pid)
    assert len(workers) >= 2, workers      # two pool workers (and multiprocessing's resource tracker)
    return process, workers


def _wait_gone(pids: set[int], seconds: float) -> set[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    return {p for p in pids if _alive(p)}


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "sigterm-group"])
def test_an_interrupted_search_exits_within_seconds_keeping_every_finished_candidate(checkpoint, tmp_path, how):
    process, workers = _start_and_wait_for(checkpoint, tmp_path, trials=3)
    sent = time.monotonic()
    if how == "ctrl-c":
        os.killpg(process.pid, signal.SIGINT)    # a terminal's Ctrl-C reaches the whole group
    elif how == "sigterm":
        process.send_signal(signal.SIGTERM)       # a scheduler stops the driver alone
    else:
        os.killpg(process.pid, signal.SIGTERM)    # timeout, systemctl stop, scancel: the whole group (issue 26)
    output, _ = process.communicate(timeout=60)
    exit_s = time.monotonic() - sent
    # 128 + the signal, as a shell reports it: 130 for SIGINT, 143 for SIGTERM
    assert process.returncode == (130 if how == "ctrl-c" else 143), output
    assert "BrokenProcessPool" not in output and "twice" not in output, output
    assert exit_s < 10, f"{exit_s:.1f} s to exit"
    assert "Traceback" not in output, output
    held = _trials(tmp_path / "study.db")
    assert f"holds {held} evaluated candidates" in output and "--resume --study" in output, output
    assert 3 <= held < 60
    assert _wait_gone(workers, 5) == set(), "workers outlived the interrupted search"


@pytest.mark.slow
def test_workers_die_with_a_driver_killed_by_sigkill(checkpoint, tmp_path):
    process, workers = _start_and_wait_for(checkpoint, tmp_path, trials=1)
    process.kill()                                # the driver alone: no handler runs
    process.communicate(timeout=30)
    assert _wait_gone(workers, 5) == set(), "workers were orphaned by a SIGKILLed driver"


HOLDER = """
import sys, time
from recpim.search.lock import study_lock
with study_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(600)
"""


def test_a_second_driver_is_refused_while_the_first_lives_and_accepted_after_it_died(tmp_path):
    url = storage_url(tmp_path / "study.db")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, url], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StudyLockedError, match=f"in use by PID {holder.pid} on ") as refused:
            with study_lock(url):
                pass
        assert "--resume --study" in str(refused.value)
    finally:
        holder.kill()
        holder.wait()
    with study_lock(url) as path:                 # the dead owner's lock went with it
        assert path.read_text().startswith("{") and str(os.getpid()) in path.read_text()


def test_the_cli_refuses_a_second_search_on_a_locked_study(checkpoint, tmp_path):
    from typer.testing import CliRunner

    from recpim.cli import app

    runner = CliRunner()
    first = runner.invoke(app, [*_search(checkpoint, tmp_path, 2)[3:], "--backend", "serial"])
    assert first.exit_code == 0, first.output
    with study_lock(storage_url(tmp_path / "study.db")):
        second = runner.invoke(app, ["search", "--resume", "--study", str(tmp_path / "study.db"), "--budget", "4",
                                     "--out", str(tmp_path), "--no-report", "--backend", "serial"])
    assert isinstance(second.exception, StudyLockedError)
    assert f"PID {os.getpid()}" in str(second.exception)
    assert _trials(tmp_path / "study.db") == 2    # the refused run evaluated nothing

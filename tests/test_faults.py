"""Faults that used to lose work (issue 26): `--nproc 2` stopped by Ctrl-C, one of its ranks killed,
and a file system that fills up while a run saves.

The ranks are started by the same launcher `recpim supernet train --nproc N` uses
(arch/train/launch.py), running a small script over the same train_supernet and the same exit
handling as the CLI, on a tiny space, so a save takes milliseconds instead of the minute a 388 MB
NASRec-Small checkpoint takes on this machine."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from recpim.arch.train.checkpoints import load_training_state, pending_resume_path, read_checkpoint, resume_state_path

RANK = '''
import sys, torch
from recpim.interrupts import StopRequested, exit_code, terminate_as_interrupt
terminate_as_interrupt()       # what the CLI's entry point does
torch.set_num_threads(1)
from recpim.arch.data.datasets import open_dataset
from recpim.arch.model.space import nasrec_full
from recpim.arch.data.synthetic import synthetic_schema
from recpim.arch.train.distributed import RankLost, init_from_env, shutdown
from recpim.arch.train.loop import TrainConfig, train_supernet
space = nasrec_full(num_blocks=2, name="fault_test", dense_widths=(8, 16), sparse_widths=(4, 8),
                    merger_rows=2, attention_heads=2)
dataset = open_dataset("synthetic:4000", schema=synthetic_schema(num_dense=4, num_sparse=5, vocab_size=30,
                       embedding_dim=4), seed=1)
config = TrainConfig(data="synthetic:4000", data_seed=1, space=space.name, steps=STEPS, batch_size=32, seed=2,
                     checkpoint_every=5)
context = init_from_env(torch.device("cpu"))
print("training", flush=True)
try:
    train_supernet(dataset, config, checkpoint=sys.argv[1], resume=sys.argv[2] == "resume", start_if_missing=True,
                   space=space, distributed=context)
except StopRequested as stop:
    print(f"interrupted ({stop}): saved", flush=True)
    sys.exit(exit_code(stop))
except RankLost as lost:
    print(f"error: {lost}", file=sys.stderr, flush=True)
    sys.exit(2)
shutdown()
print("done", flush=True)
'''
STEPS = 3000


def _launcher(script: Path, checkpoint: Path, mode: str) -> subprocess.Popen:
    code = ("import sys; from recpim.arch.train.launch import launch_ranks; "
            f"sys.exit(launch_ranks(2, [{str(checkpoint)!r}, {mode!r}], program=[sys.executable, {str(script)!r}]))")
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env={**os.environ, "RECPIM_THREADS": "1"})


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _wait_for_first_save(process: subprocess.Popen, checkpoint: Path) -> list[int]:
    """The ranks' pids, once the run has saved at least once (so a signal lands mid-training)."""
    lines = []
    deadline = time.monotonic() + 240
    while not checkpoint.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert checkpoint.exists() and process.poll() is None, "the run ended before its first save"
    line = ""
    while "pids" not in line:
        line = process.stdout.readline()
        lines.append(line)
    return [int(pid) for pid in re.findall(r"\d+", line.split("pids", 1)[1])]


@pytest.fixture
def script(tmp_path) -> Path:
    path = tmp_path / "rank.py"
    path.write_text(RANK.replace("STEPS", str(STEPS)))
    return path


@pytest.mark.slow
def test_nproc_2_ctrl_c_returns_after_the_save_with_no_rank_left(script, tmp_path):
    checkpoint = tmp_path / "n2.pt"
    launcher = _launcher(script, checkpoint, "fresh")
    ranks = _wait_for_first_save(launcher, checkpoint)
    assert len(ranks) == 2
    launcher.send_signal(signal.SIGINT)          # a terminal's Ctrl-C reaches the launcher (its own group)
    output, _ = launcher.communicate(timeout=120)
    assert launcher.returncode == 130, output
    assert "Traceback" not in output and "ChildFailedError" not in output, output
    assert "saved" in output
    assert [pid for pid in ranks if _alive(pid)] == [], "a rank outlived the launcher"
    # resumable at once, nothing half-written: the pair on disk belongs together
    assert not list(tmp_path.glob("*.partial")) and not pending_resume_path(checkpoint).exists()
    state = load_training_state(checkpoint)
    assert 0 < state.step < STEPS and state.continues_optimizer


@pytest.mark.slow
def test_a_killed_rank_ends_the_run_with_a_message_and_the_last_step_saved(script, tmp_path):
    checkpoint = tmp_path / "n2.pt"
    launcher = _launcher(script, checkpoint, "fresh")
    ranks = _wait_for_first_save(launcher, checkpoint)
    first_saved = read_checkpoint(checkpoint).step
    os.kill(ranks[1], signal.SIGKILL)
    output, _ = launcher.communicate(timeout=300)
    assert launcher.returncode not in (0, 130), output
    assert "Traceback" not in output, output
    assert "rank 1" in output and "SIGKILL" in output, output
    assert re.search(r"rank 0 saved step \d+", output), output
    assert [pid for pid in ranks if _alive(pid)] == []
    saved = int(re.search(r"rank 0 saved step (\d+)", output).group(1))
    state = load_training_state(checkpoint)
    assert state.step == saved >= first_saved and state.continues_optimizer


# ---- a full disk keeps the previous checkpoint
@pytest.fixture
def small_filesystem(tmp_path):
    """A 12 MB tmpfs (root only: mounting needs it)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path, leave_bytes: int) -> None:
    """Write a filler file until `leave_bytes` remain free."""
    import shutil

    free = shutil.disk_usage(folder).free
    with open(folder / "filler", "wb") as handle:
        handle.write(b"\0" * max(0, free - leave_bytes))


def _tiny_run(checkpoint: Path, until: int, resume: bool):
    from tiny_supernet import SMALL_SCHEMA, SMALL_TRAIN_DATA, small_full_space, small_train_config

    from recpim.arch.data.datasets import open_dataset
    from recpim.arch.train.loop import train_supernet

    space = small_full_space("full_disk_test")
    return train_supernet(open_dataset(SMALL_TRAIN_DATA, schema=SMALL_SCHEMA, seed=3),
                          small_train_config(space, steps=40, checkpoint_every=5), space=space,
                          checkpoint=checkpoint, until_step=until, resume=resume)


@pytest.mark.parametrize("precheck", [True, False], ids=["free-space-check", "write-fails"])
def test_a_full_disk_says_so_and_keeps_the_previous_checkpoint(small_filesystem, monkeypatch, precheck):
    from recpim.arch.train import checkpoints
    from recpim.errors import RecpimError

    checkpoint = small_filesystem / "c.pt"
    _tiny_run(checkpoint, until=10, resume=False)
    before = load_training_state(checkpoint)
    saved_bytes = checkpoint.stat().st_size + resume_state_path(checkpoint).stat().st_size
    assert before.step == 10
    _fill(small_filesystem, leave_bytes=saved_bytes // 3)
    if not precheck:      # the write itself runs into the full disk (torch's own error)
        monkeypatch.setattr(checkpoints, "require_space", lambda path, needed: None)
    with pytest.raises(RecpimError) as raised:
        _tiny_run(checkpoint, until=20, resume=True)
    message = str(raised.value)
    assert "no space left on device" in message and "needs about" in message and "MB" in message, message
    assert str(checkpoint) in message
    # the previous pair is whole and resumes; nothing half-written is left
    after = load_training_state(checkpoint)
    assert after.step == 10 and after.continues_optimizer
    assert all(torch.equal(after.model[k], before.model[k]) for k in before.model)
    assert not list(small_filesystem.glob("*.partial")) and not pending_resume_path(checkpoint).exists()
    (small_filesystem / "filler").unlink()          # room again: the run continues from step 10
    assert _tiny_run(checkpoint, until=20, resume=True).step == 20


def test_a_save_interrupted_between_its_two_files_resumes_from_the_new_pair(tmp_path):
    """The process dies after CKPT is replaced and before CKPT.resume.next is renamed: the reader finds
    the new resume state by its snapshot id."""
    checkpoint = tmp_path / "c.pt"
    _tiny_run(checkpoint, until=10, resume=False)
    os.replace(resume_state_path(checkpoint), pending_resume_path(checkpoint))
    assert load_training_state(checkpoint).step == 10

"""Real signals at random moments: a training process gets SIGINT or SIGTERM at a random time
(seeded), saves, exits 130; the run resumed from that checkpoint ends with exactly the weights and
losses of an uninterrupted run. The child is a small script over the same train_supernet the CLI
calls (a tiny registered space, so a save takes milliseconds and many signals land mid-step)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

CHILD = '''
import sys, torch
from recpim.interrupts import default_signals, terminate_as_interrupt
terminate_as_interrupt()       # what the CLI's entry point does (and default_signals() when it is done)
torch.set_num_threads(1)
from recpim.arch.data.datasets import open_dataset
from recpim.arch.model.space import nasrec_full
from recpim.arch.data.synthetic import synthetic_schema
from recpim.arch.train.loop import TrainConfig, train_supernet
space = nasrec_full(num_blocks=2, name="signal_test", dense_widths=(8, 16), sparse_widths=(4, 8),
                    merger_rows=2, attention_heads=2)
dataset = open_dataset("synthetic:4000", schema=synthetic_schema(num_dense=4, num_sparse=5, vocab_size=30,
                       embedding_dim=4), seed=1)
config = TrainConfig(data="synthetic:4000", data_seed=1, space=space.name, steps=STEPS, batch_size=32, seed=2,
                     checkpoint_every=7)
print("training", flush=True)
try:
    train_supernet(dataset, config, checkpoint=sys.argv[1], resume=sys.argv[2] == "resume", start_if_missing=True,
                   space=space)
    default_signals()
except KeyboardInterrupt:
    sys.exit(130)
print("done", flush=True)
'''
STEPS = 60


def _start(script: Path, checkpoint: Path, mode: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(script), str(checkpoint), mode], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "RECPIM_THREADS": "1"})


def _finish(process: subprocess.Popen) -> tuple[int, str]:
    out, err = process.communicate(timeout=300)
    return process.returncode, out + err


def _trained(checkpoint: Path) -> dict:
    return torch.load(checkpoint, map_location="cpu", weights_only=True)


@pytest.mark.slow   # about a dozen child processes
def test_training_interrupted_at_random_moments_resumes_bit_identically(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD.replace("STEPS", str(STEPS)))
    baseline = tmp_path / "baseline.pt"
    began = time.perf_counter()
    process = _start(script, baseline, "fresh")
    assert process.stdout.readline().strip() == "training"
    training_began = time.perf_counter()
    assert process.stdout.readline().strip() == "done"
    train_s = time.perf_counter() - training_began
    rc, output = _finish(process)
    assert rc == 0, output
    assert time.perf_counter() - began < 300
    expected = _trained(baseline)

    rng = np.random.default_rng(15)
    interrupted = 0
    for attempt in range(5):
        checkpoint = tmp_path / f"run{attempt}.pt"
        process = _start(script, checkpoint, "fresh")
        assert process.stdout.readline().strip() == "training"
        time.sleep(float(rng.uniform(0.05, 0.9)) * train_s)
        process.send_signal(signal.SIGINT if attempt % 2 == 0 else signal.SIGTERM)
        rc, output = _finish(process)
        # 130: stopped and saved; 0 or killed by the signal: it came after training had finished.
        assert rc == 130 or (rc in (0, -signal.SIGINT, -signal.SIGTERM) and "done" in output), (rc, output)
        assert "Traceback" not in output, output
        assert not list(tmp_path.glob("*.partial"))
        # (no checkpoint yet if the signal came before the first step; a finished one if it came just after the last)
        if rc == 130 and (not checkpoint.exists() or _trained(checkpoint)["step"] < STEPS):
            interrupted += 1
            rc, output = _finish(_start(script, checkpoint, "resume"))
            assert rc == 0, output
        got = _trained(checkpoint)
        assert got["step"] == STEPS and got["losses_tail"] == expected["losses_tail"]
        assert got["model"].keys() == expected["model"].keys()
        different = [k for k in expected["model"] if not torch.equal(got["model"][k], expected["model"][k])]
        assert different == [], f"attempt {attempt}: {len(different)} tensors differ after resuming"
    assert interrupted >= 3    # the signals landed during training, not after it

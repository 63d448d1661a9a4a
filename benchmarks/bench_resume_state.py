"""The size of an unfinished run's saved state (issue 26, item 2): CKPT (weights) and CKPT.resume
(optimizer, schedule, RNG), with the optimizer state stored whole (as before) and with only the
touched rows of its embedding-state tensors (arch/train/checkpoints.py pack_sparse_rows), in the
same run.

    .venv/bin/python benchmarks/bench_resume_state.py [--space small] [--steps 20] [--batch-size 512]

Prints the sizes in MB, the ratio and the share of embedding rows the run touched. The saving
depends on how many rows the steps read: short runs and long-tailed data touch few of them."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from recpim.arch.data.datasets import open_dataset
from recpim.arch.train.checkpoints import read_resume_tensors, resume_state_path, state_bytes
from recpim.arch.train.loop import TrainConfig, train_supernet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", default="small")
    parser.add_argument("--data", default="synthetic:20000")
    parser.add_argument("--steps", type=int, default=20, help="steps run before the run is left unfinished")
    parser.add_argument("--total-steps", type=int, default=1000, help="the run's length (it stops at --steps)")
    parser.add_argument("--batch-size", type=int, default=512)
    args = parser.parse_args()

    dataset = open_dataset(args.data)
    config = TrainConfig(data=args.data, space=args.space, steps=args.total_steps, batch_size=args.batch_size)
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = Path(folder) / "run.pt"
        began = time.perf_counter()
        train_supernet(dataset, config, checkpoint=checkpoint, until_step=args.steps)
        seconds = time.perf_counter() - began
        resume_file = resume_state_path(checkpoint)
        dense = read_resume_tensors(checkpoint)            # the optimizer state as torch holds it
        whole_bytes = state_bytes(dense)
        saved_bytes = resume_file.stat().st_size
        on_disk = torch.load(resume_file, weights_only=True)
        packed = [v for part in on_disk["optimizer"]["parts"] for s in part["state"].values() for v in s.values()
                  if isinstance(v, dict)]
        rows_kept = sum(int(p["index"].numel()) for p in packed)
        rows_all = sum(int(p["shape"][0]) for p in packed)
        print(f"space {args.space}, {args.data}, {args.steps} steps of {args.batch_size} rows ({seconds:.0f} s)")
        print(f"CKPT (weights):                     {checkpoint.stat().st_size / 1e6:9.1f} MB")
        print(f"CKPT.resume, optimizer state whole: {whole_bytes / 1e6:9.1f} MB (tensor bytes)")
        print(f"CKPT.resume, touched rows only:     {saved_bytes / 1e6:9.1f} MB on disk")
        print(f"resume state ratio (touched / whole): {saved_bytes / whole_bytes:.3f}")
        print(f"packed tensors: {len(packed)}; rows kept {rows_kept:,} of {rows_all:,} "
              f"({rows_kept / max(rows_all, 1):.1%})")
        print(f"unfinished run's saved state: {(checkpoint.stat().st_size + saved_bytes) / 1e6:.1f} MB "
              f"(was {(checkpoint.stat().st_size + whole_bytes) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()

"""The size of an unfinished run's saved state (issue 26, item 2), and what the tables' optimizer
costs in quality, with the embedding tables' optimizer state per weight ("elementwise": sparse
Adagrad, or SparseAdam beside Adam) and per row ("rowwise": FBGEMM's EXACT_ROWWISE_ADAGRAD,
arch/train/rowwise.py), in the same run.

    .venv/bin/python benchmarks/bench_resume_state.py [--space small] [--steps 20] [--batch-size 512]
    .venv/bin/python benchmarks/bench_resume_state.py --sizes-only ...
    .venv/bin/python benchmarks/bench_resume_state.py --quality-only --quality-data criteo:PATH ...

Sizes: per embedding optimizer, a supernet run of --total-steps stopped after --steps (what
`--checkpoint-every` leaves), then CKPT (weights) and CKPT.resume (optimizer, schedule, RNG) in MB,
with the optimizer state as torch holds it and as written (only touched rows of mostly-untouched
tensors: checkpoints.pack_sparse_rows), and the ratio rowwise / elementwise.

Quality: per recipe (--recipes, `optimizer:lr`; the CLI's Adagrad 0.12 and bench_ranking's Adam
0.003 by default) and embedding optimizer, --quality-subnets sampled subnets of --quality-space each
trained alone for --quality-steps steps of --quality-batch rows with --quality-seeds seeds, then
their validation log loss (the same subnets, seeds and batches both ways); printed per subnet, with
the median difference rowwise - elementwise (negative: rowwise better). And one short supernet per
recipe and way (--quality-supernet-steps), scored with inherited weights on the same subnets."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from recpim.arch.data.datasets import open_dataset
from recpim.arch.model.space import get_space
from recpim.arch.model.subnet import sample_subnet
from recpim.arch.train.checkpoints import read_resume_tensors, resume_state_path, state_bytes
from recpim.arch.train.loop import TrainConfig, configure_threads, load_supernet, train_supernet
from recpim.arch.train.scoring import score_subnet, train_standalone

WAYS = ("elementwise", "rowwise")


def _packed_rows(resume_file: Path) -> tuple[int, int, int]:
    """(packed tensors, rows kept, rows in them) of a CKPT.resume as written."""
    on_disk = torch.load(resume_file, weights_only=True)
    packed = [v for part in on_disk["optimizer"]["parts"] for s in part["state"].values() for v in s.values()
              if isinstance(v, dict)]
    return (len(packed), sum(int(p["index"].numel()) for p in packed), sum(int(p["shape"][0]) for p in packed))


def sizes(args: argparse.Namespace) -> None:
    dataset = open_dataset(args.data)
    print(f"== sizes: space {args.space}, {args.data}, {args.steps} of {args.total_steps} steps of "
          f"{args.batch_size} rows, optimizer {args.optimizer}")
    saved: dict[str, int] = {}
    for way in WAYS:
        config = TrainConfig(data=args.data, space=args.space, steps=args.total_steps, batch_size=args.batch_size,
                             optimizer=args.optimizer, lr=args.lr, embedding_optimizer=way)
        with tempfile.TemporaryDirectory() as folder:
            checkpoint = Path(folder) / "run.pt"
            began = time.perf_counter()
            train_supernet(dataset, config, checkpoint=checkpoint, until_step=args.steps)
            seconds = time.perf_counter() - began
            resume_file = resume_state_path(checkpoint)
            whole = state_bytes(read_resume_tensors(checkpoint))     # the optimizer state as torch holds it
            on_disk = resume_file.stat().st_size
            weights = checkpoint.stat().st_size
            tensors, kept, rows = _packed_rows(resume_file)
        saved[way] = on_disk
        print(f"{way:>11}: CKPT {weights / 1e6:8.1f} MB | CKPT.resume {on_disk / 1e6:8.1f} MB on disk "
              f"({whole / 1e6:.1f} MB of tensors unpacked; packing {on_disk / whole:.3f}x, {tensors} packed "
              f"tensors keeping {kept:,} of {rows:,} rows) | unfinished run's state {(weights + on_disk) / 1e6:.1f} "
              f"MB | {seconds:.0f} s")
    print(f"CKPT.resume rowwise / elementwise: {saved['rowwise'] / saved['elementwise']:.4f} "
          f"({saved['elementwise'] / saved['rowwise']:.1f}x smaller)")


def quality(args: argparse.Namespace) -> None:
    dataset = open_dataset(args.quality_data, seed=0)
    space = get_space(args.quality_space)
    subnets = [sample_subnet(space, seed) for seed in range(args.quality_subnets)]
    print(f"== quality: {args.quality_data}, space {space.name}, {len(subnets)} subnets x {args.quality_seeds} seeds, "
          f"{args.quality_steps} standalone steps of {args.quality_batch} rows; validation log loss")
    for recipe in args.recipes:
        optimizer, lr = recipe.split(":")
        base = TrainConfig(data=args.quality_data, space=space.name, batch_size=args.quality_batch,
                           optimizer=optimizer, lr=float(lr))
        alone: dict[str, list[float]] = {way: [] for way in WAYS}
        for index, subnet in enumerate(subnets):
            for seed in range(args.quality_seeds):
                row = []
                for way in WAYS:
                    config = base.model_copy(update={"embedding_optimizer": way})
                    score = train_standalone(subnet, dataset, args.quality_steps, seed, config=config,
                                             max_rows=args.score_rows)
                    alone[way].append(score.logloss)
                    row.append(f"{way} {score.logloss:.5f}")
                print(f"  {recipe} subnet {index} seed {seed}: " + ", ".join(row), flush=True)
        diffs = [r - e for r, e in zip(alone["rowwise"], alone["elementwise"], strict=True)]
        print(f"{recipe} standalone: median log loss elementwise {statistics.median(alone['elementwise']):.5f}, "
              f"rowwise {statistics.median(alone['rowwise']):.5f}; median difference rowwise - elementwise "
              f"{statistics.median(diffs):+.5f} (rowwise better in {sum(d < 0 for d in diffs)} of {len(diffs)})")
        if args.quality_supernet_steps:
            inherited: dict[str, list[float]] = {}
            for way in WAYS:
                config = base.model_copy(update={"embedding_optimizer": way, "steps": args.quality_supernet_steps,
                                                 "batch_size": args.quality_batch})
                with tempfile.TemporaryDirectory() as folder:
                    checkpoint = Path(folder) / "s.pt"
                    train_supernet(dataset, config, space=space, checkpoint=checkpoint)
                    loaded = load_supernet(checkpoint)
                    inherited[way] = [score_subnet(loaded.supernet, subnet, dataset, max_rows=args.score_rows).logloss
                                      for subnet in subnets]
            diffs = [r - e for r, e in zip(inherited["rowwise"], inherited["elementwise"], strict=True)]
            print(f"{recipe} supernet ({args.quality_supernet_steps} steps), inherited weights: median log loss "
                  f"elementwise {statistics.median(inherited['elementwise']):.5f}, rowwise "
                  f"{statistics.median(inherited['rowwise']):.5f}; median difference {statistics.median(diffs):+.5f} "
                  f"(rowwise better in {sum(d < 0 for d in diffs)} of {len(diffs)})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", default="small")
    parser.add_argument("--data", default="synthetic:20000")
    parser.add_argument("--steps", type=int, default=20, help="steps run before the run is left unfinished")
    parser.add_argument("--total-steps", type=int, default=1000, help="the run's length (it stops at --steps)")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--optimizer", default="adagrad", choices=["adagrad", "adam"])
    parser.add_argument("--lr", type=float, default=0.12)
    parser.add_argument("--sizes-only", action="store_true")
    parser.add_argument("--quality-only", action="store_true")
    parser.add_argument("--quality-data", default="synthetic:20000")
    parser.add_argument("--quality-space", default="small")
    parser.add_argument("--quality-subnets", type=int, default=3)
    parser.add_argument("--quality-seeds", type=int, default=2)
    parser.add_argument("--quality-steps", type=int, default=200)
    parser.add_argument("--quality-batch", type=int, default=256)
    parser.add_argument("--quality-supernet-steps", type=int, default=0, help="0: no supernet comparison")
    parser.add_argument("--score-rows", type=int, default=None, help="validation rows scored (default: all)")
    parser.add_argument("--recipes", nargs="+", default=["adagrad:0.12", "adam:0.003"])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    configure_threads(args.threads)
    if not args.quality_only:
        sizes(args)
    if not args.sizes_only:
        quality(args)


if __name__ == "__main__":
    main()

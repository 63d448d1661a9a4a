"""Do the shared weights learn? (issue 21's diagnosis) A script that prints its figures, not a test.

Trains the supernet of the ranking benchmark's space several times, each with a different rule for
the subnet a step trains, and logs fixed probe subnets' log loss with inherited weights every few
steps (arch/train/probes.py). Two anchors say what the figures mean, both measured in the same run:
- the base rate: the log loss of predicting the train split's click rate for every row -- a
  supernet whose probes sit there has learned nothing;
- probe 0 trained alone for the same steps and recipe -- what its inherited weights would reach if
  sharing cost nothing.
`learned_fraction` = (base rate - inherited) / (base rate - standalone) for probe 0: 1 means the
shared weights learn what a standalone model learns, 0 means they learn nothing.

Sampling rules (`--variants`):
- uniform: the supernet as trained everywhere else (a fresh uniform subnet every step);
- fixed: every step trains probe 0 (weight sharing with one member: it must match standalone,
  which checks the supernet's slicing and recipe, not sharing);
- widths: probe 0's operators, connections and mergers, each step's widths drawn uniformly;
- structure: each step's operators, connections and mergers drawn uniformly, at probe 0's widths;
- split: uniform subnets, `--split` of them per step, each on its own part of the batch
  (TrainConfig.subnets_per_step, the lever this diagnosis led to).
The rules are swapped in for `recpim.arch.train.sandwich.subnet_for_step` inside each worker
process (a variant owns its process), so training is otherwise exactly `train_supernet`'s.

Run: .venv/bin/python benchmarks/bench_supernet_learning.py [--steps 1500] [--json]
The last line of --json output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from multiprocessing import get_context
from typing import Any

from bench_ranking import (  # benchmarks/ is the script's folder, so it is on sys.path (and the workers')
    BENCH_SPACES,
    emit,
)

VARIANTS = ("uniform", "fixed", "widths", "structure", "split")


def _sampler(variant: str, anchor):
    """The subnet-for-step rule of `variant` (module docstring), built on the uniform one."""
    from recpim.arch.train import sandwich

    uniform = sandwich.subnet_for_step

    def mixed(space, seed: int, step: int, widths_from_sample: bool):
        sample = uniform(space, seed, step)
        base, widths = (anchor, sample) if widths_from_sample else (sample, anchor)
        blocks = tuple(b.model_copy(update={"dense_width": w.dense_width, "sparse_width": w.sparse_width})
                       for b, w in zip(base.blocks, widths.blocks, strict=True))
        return base.model_copy(update={"blocks": blocks}).validate_in(space)

    return {"uniform": uniform,
            "fixed": lambda space, seed, step: anchor,
            "widths": lambda space, seed, step: mixed(space, seed, step, True),
            "structure": lambda space, seed, step: mixed(space, seed, step, False),
            "split": uniform}[variant]


def _variant_job(variant: str, data: str, space_name: str, config_dump: dict, probe_seeds: list[int],
                 probe_every: int, probe_rows: int) -> dict[str, Any]:
    import numpy as np

    from recpim.arch.data.datasets import open_dataset
    from recpim.arch.model.subnet import sample_subnet
    from recpim.arch.train import sandwich
    from recpim.arch.train.loop import TrainConfig, configure_threads, train_supernet
    from recpim.arch.train.probes import ProbeLog

    configure_threads(1)
    space = BENCH_SPACES[space_name]
    dataset = open_dataset(data, seed=0)
    probes_subnets = [sample_subnet(space, seed) for seed in probe_seeds]
    sandwich.subnet_for_step = _sampler(variant, probes_subnets[0])   # this process is this variant's alone
    probes = ProbeLog.sample(dataset, probes_subnets, probe_every, rows=probe_rows)
    began = time.perf_counter()
    config = TrainConfig(**config_dump)
    if variant != "split":
        config = config.model_copy(update={"subnets_per_step": 1})
    result = train_supernet(dataset, config, space=space, probes=probes)
    window = max(1, len(result.losses) // 6)
    return {"variant": variant, "seconds": time.perf_counter() - began,
            "train_loss_windows": [float(np.mean(result.losses[i:i + window]))
                                   for i in range(0, len(result.losses), window)],
            "probes": [asdict(r) for r in probes.records]}


def _anchors_job(data: str, space_name: str, config_dump: dict, probe_seed: int, probe_rows: int) -> dict[str, Any]:
    from recpim.arch.data.datasets import open_dataset
    from recpim.arch.model.subnet import sample_subnet
    from recpim.arch.train.loop import TrainConfig, configure_threads, train_batches
    from recpim.arch.train.scoring import cached_split, log_loss, train_standalone

    configure_threads(1)
    dataset = open_dataset(data, seed=0)
    config = TrainConfig(**config_dump)
    rate = float(next(train_batches(dataset, probe_rows, 0)).label.float().mean())
    val = cached_split(dataset, "val", probe_rows)
    base = log_loss(val.label.numpy(), [math.log(rate / (1 - rate))] * len(val.label))
    probe = sample_subnet(BENCH_SPACES[space_name], probe_seed)
    score = train_standalone(probe, dataset, config.steps, config.seed, config=config, max_rows=probe_rows)
    return {"train_click_rate": rate, "base_rate_logloss": base, "standalone_probe0": score.logloss,
            "standalone_seconds": score.seconds}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from recpim.arch.train.config import TrainConfig

    began = time.perf_counter()
    space = BENCH_SPACES[args.space]
    config = TrainConfig(data=args.data, space=space.name, steps=args.steps, batch_size=args.batch_size,
                         optimizer=args.optimizer, lr=args.lr, full_path_fraction=args.full_path_fraction, seed=0,
                         subnets_per_step=args.split)
    dump = config.model_dump(mode="json")
    probe_seeds = [args.subnet_seed + i for i in range(3)]
    every = max(1, args.steps // 6)
    # one process per job (max_tasks_per_child=1): a variant's sampler swap must not leak into the next job
    with ProcessPoolExecutor(args.workers, get_context("spawn"), max_tasks_per_child=1) as pool:
        anchors = pool.submit(_anchors_job, args.data, space.name, dump, probe_seeds[0], args.probe_rows)
        jobs = [pool.submit(_variant_job, v, args.data, space.name, dump, probe_seeds, every, args.probe_rows)
                for v in args.variants]
        anchor = anchors.result()
        variants = [job.result() for job in jobs]
    base, alone = anchor["base_rate_logloss"], anchor["standalone_probe0"]
    for row in variants:
        last_step = max(r["step"] for r in row["probes"])
        final = {r["probe"]: r["val_logloss"] for r in row["probes"] if r["step"] == last_step}
        row["final_val_logloss"] = [final[i] for i in sorted(final)]
        row["learned_fraction_probe0"] = (base - final[0]) / (base - alone) if base > alone else None
    return {"data": args.data, "space": space.name, "steps": args.steps, "train_config": dump,
            "probe_seeds": probe_seeds, **anchor, "variants": variants, "seconds": time.perf_counter() - began}


def print_summary(result: dict[str, Any], out=sys.stdout) -> None:
    print(f"supernet learning on {result['data']} ({result['space']}), {result['steps']} steps: base rate log loss "
          f"{result['base_rate_logloss']:.4f}; probe 0 trained alone {result['standalone_probe0']:.4f}", file=out)
    for row in result["variants"]:
        fraction = row["learned_fraction_probe0"]
        print(f"  [{row['variant']:9s}] probes' inherited val log loss "
              f"{' / '.join(f'{v:.4f}' for v in row['final_val_logloss'])}; learned fraction (probe 0) "
              f"{'n/a' if fraction is None else f'{fraction:.2f}'}; train loss by sixths "
              f"{' '.join(f'{v:.3f}' for v in row['train_loss_windows'])} ({row['seconds']:.0f} s)", file=out)
    print(f"  total {result['seconds']:.0f} s", file=out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="synthetic:800000:interactions:stream")
    parser.add_argument("--space", default="bench_ranking_full_4_wide", choices=sorted(BENCH_SPACES))
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--optimizer", default="adam", choices=["adam", "adagrad"])
    parser.add_argument("--lr", type=float, default=0.003)
    parser.add_argument("--full-path-fraction", type=float, default=0.0)
    parser.add_argument("--subnet-seed", type=int, default=1000, help="probe i is sample_subnet(space, seed + i)")
    parser.add_argument("--probe-rows", type=int, default=16384)
    parser.add_argument("--split", type=int, default=8, help="subnets per step of the 'split' variant")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="out/bench/supernet_learning.json")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.steps < 6:
        parser.error("--steps must be >= 6 (probes every sixth of the run)")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    return emit(run(args), args.out, args.json, print_summary)


if __name__ == "__main__":
    main()

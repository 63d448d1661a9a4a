"""Device benchmark (issue 13, item 1): prints its figures; a script, not a test.

Supernet training steps (NASRec-Full, 7 blocks, sampled subnets, sparse embedding updates, batch
512, Criteo-shaped synthetic rows) on whatever device is present (--device auto), at each
--precision: steps/s, rows/s (median of --repeats timed windows) and peak memory (CUDA: the
allocator's peak; CPU: the process's peak RSS). Runs unchanged on a GPU machine.

Run: .venv/bin/python benchmarks/bench_device.py [--device auto] [--precisions fp32,bf16] [--steps 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from recpim.arch.data.datasets import open_dataset
from recpim.arch.data.parsing import CtrBatch
from recpim.arch.model.space import get_space
from recpim.arch.model.supernet import Supernet
from recpim.arch.train.device import PrecisionPolicy, memory_stats, resolve_device
from recpim.arch.train.loop import TrainConfig, configure_threads, train_step
from recpim.arch.train.optimizers import make_optimizer
from recpim.arch.train.sandwich import subnet_for_step


def measure(device: torch.device, precision: str, steps: int, repeats: int, batch_size: int) -> dict[str, float]:
    data = open_dataset(f"synthetic:{batch_size * 8}")
    config = TrainConfig(space="nasrec_full", batch_size=batch_size, steps=10_000)
    space = get_space(config.space)
    torch.manual_seed(0)
    supernet = Supernet(space, data.schema, config.input_sharing).to(device)
    optimizer, scheduler = make_optimizer(supernet, config, 10_000)
    policy = PrecisionPolicy(device, precision)
    scaler = policy.grad_scaler()
    batches = [CtrBatch(*(t.to(device) for t in b)) for b in data.batches("train", batch_size, drop_last=True)]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def run(first_step: int) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        began = time.perf_counter()
        for step in range(first_step, first_step + steps):
            subnet = subnet_for_step(space, config.seed, step)
            batch = batches[step % len(batches)]
            train_step(supernet, lambda b, s=subnet: supernet(b.dense, b.sparse, s), batch, optimizer, scheduler,
                       config.grad_clip_norm, policy=policy, scaler=scaler)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - began

    run(0)  # warm-up: allocator, kernels, optimizer state
    seconds = statistics.median(run((r + 1) * steps) for r in range(repeats))
    return {"steps_per_s": steps / seconds, "rows_per_s": steps * batch_size / seconds, **memory_stats(device)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precisions", default="fp32,bf16", help="comma-separated; fp16 needs CUDA")
    parser.add_argument("--steps", type=int, default=20, help="steps per timed window")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    device = resolve_device(args.device)
    print(f"device: {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), "
          f"torch {torch.__version__}, CPU threads {configure_threads(args.threads)}")
    for precision in args.precisions.split(","):
        figures = measure(device, precision.strip(), args.steps, args.repeats, args.batch_size)
        memory = ", ".join(f"{k} {v:.0f}" for k, v in figures.items() if k.endswith("_mib"))
        print(f"  {precision:>4}: {figures['steps_per_s']:.2f} steps/s, {figures['rows_per_s']:,.0f} rows/s, {memory} "
              f"(median of {args.repeats} x {args.steps} steps, batch {args.batch_size})")


if __name__ == "__main__":
    main()

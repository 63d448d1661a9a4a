"""Training throughput (issue 23, item 6): rows/s of supernet steps and standalone steps, in this
tree and in a baseline tree (a git worktree of main with its own .venv) in the same run, interleaved,
with the losses of every timed step compared between the trees (they must be bit-identical: a speed
change that moves a result is not a speed change).

Four kinds of step, each one thread, batch --batch-size of --data, the ranking benchmark's wide
space (bench_ranking_full_4_wide) by default and its recipe (Adam, lr 0.003, sparse embeddings):
- "sampled": NASRec's supernet step, one sampled subnet on the whole batch (subnets_per_step 1);
- "split 16" / "split 8": a supernet step as the default config (and the ranking benchmark) trains it, the
  batch split among 16 sampled subnets in one update (TrainConfig.subnets_per_step, arch/train/sandwich.py;
  8 was the default before issue 21's third session);
- "full path": the whole supernet (Supernet.forward_full, NASRec's warm-up step);
- "standalone": a sampled subnet trained alone (the ground truth's step).
Each figure is the median over --repeats runs of --steps steps (after --warmup steps) of rows per
CPU second of the process (its own CPU time: on the shared machine, wall time measures the load),
with the wall rows/s beside it.

    .venv/bin/python benchmarks/bench_train_speed.py --baseline ../wt-base [--repeats 5] [--steps 6]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Runs inside either tree's interpreter: only names both trees have.
CHILD = r"""
import json, statistics, sys, time
import torch
import torch.nn.functional as F
sys.path.insert(0, sys.argv[1] + "/benchmarks")
from bench_ranking import BENCH_SPACES
from recpim.arch.data.datasets import open_dataset
from recpim.arch.model.space import get_space
from recpim.arch.model.standalone import StandaloneModel
from recpim.arch.model.subnet import sample_subnet
from recpim.arch.model.supernet import Supernet, init_embeddings
from recpim.arch.train.loop import TrainConfig, configure_threads, init_weights, train_batches, train_step
from recpim.arch.train.optimizers import make_optimizer
from recpim.arch.train.sandwich import supernet_step_loss

args = json.loads(sys.argv[2])
configure_threads(1)
space = BENCH_SPACES.get(args["space"]) or get_space(args["space"])
dataset = open_dataset(args["data"])
config = TrainConfig(data=args["data"], space=space.name, steps=1000, batch_size=args["batch_size"],
                     optimizer="adam", lr=0.003, full_path_fraction=0.0, seed=0)
total = args["warmup"] + args["steps"]

def model_and_loss(kind):
    torch.manual_seed(0)
    if kind == "standalone":
        model = StandaloneModel(sample_subnet(space, 1), dataset.schema)
        init_weights(model, config.init)
        init_embeddings(model.embeddings)
        loss = lambda batch, step: F.binary_cross_entropy_with_logits(model(batch.dense, batch.sparse), batch.label)
    else:
        model = Supernet(space, dataset.schema, config.input_sharing)
        if kind == "full path":
            loss = lambda batch, step: F.binary_cross_entropy_with_logits(model.forward_full(batch.dense, batch.sparse),
                                                                          batch.label)
        else:
            split = config.model_copy(update={"subnets_per_step": int(kind.split()[1]) if kind.startswith("split")
                                              else 1})
            loss = lambda batch, step: supernet_step_loss(model, space, split, 0, batch, step)
    return model, loss

out = {}
for kind in args["kinds"]:
    rates, walls, losses = [], [], None
    for repeat in range(args["repeats"]):
        model, loss_of = model_and_loss(kind)
        model.train()
        optimizer, scheduler = make_optimizer(model, config, 1000)
        batches = train_batches(dataset, config.batch_size, config.seed)
        run = []
        for step in range(total):
            batch = next(batches)
            if step == args["warmup"]:
                cpu, wall = time.process_time(), time.perf_counter()
            run.append(train_step(model, None, batch, optimizer, scheduler, config.grad_clip_norm,
                                  loss_fn=lambda b, s=step: loss_of(b, s)))
        rows = args["steps"] * config.batch_size
        rates.append(rows / (time.process_time() - cpu))
        walls.append(rows / (time.perf_counter() - wall))
        if losses is None:
            losses = run
        elif run != losses:
            raise SystemExit(f"{kind}: the losses differ between repeats of the same run")
    out[kind] = {"rows_per_cpu_s": statistics.median(rates), "rows_per_wall_s": statistics.median(walls),
                 "losses": losses}
print(json.dumps(out))
"""

KINDS = ("sampled", "split 16", "split 8", "full path", "standalone")


def measure(tree: Path, settings: dict) -> dict:
    python = tree / ".venv" / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{tree} has no .venv/bin/python: give --baseline a worktree with its own venv")
    done = subprocess.run([str(python), "-c", CHILD, str(tree), json.dumps(settings)], capture_output=True, text=True,
                          cwd=tree, env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PATH": "/usr/bin:/bin",
                                         "RECPIM_THREADS": "1"})
    if done.returncode:
        raise SystemExit(f"timing in {tree} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="worktree of main (or an older commit), with its own .venv")
    parser.add_argument("--space", default="bench_ranking_full_4_wide")
    parser.add_argument("--data", default="synthetic:20000")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (allocations, first-touch)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per tree; each figure is their median")
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    args = parser.parse_args()
    settings = {"space": args.space, "data": args.data, "batch_size": args.batch_size, "steps": args.steps,
                "warmup": args.warmup, "repeats": 1, "kinds": args.kinds}
    trees = [("this tree", ROOT)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    runs: dict[str, list[dict]] = {name: [] for name, _ in trees}
    for _ in range(args.repeats):          # interleaved: the machine's load falls on both trees alike
        for name, tree in trees:
            runs[name].append(measure(tree, settings))
    print(f"{args.space}, {args.data}, batch {args.batch_size}, one thread; median of {args.repeats} runs of "
          f"{args.steps} steps; rows per CPU second (rows per wall second)")
    print(f"{'step':12} {'this tree':>22} {'baseline':>22} {'ratio':>7}  losses")
    for kind in args.kinds:
        def median(name: str, key: str, kind: str = kind) -> float:
            values = sorted(run[kind][key] for run in runs[name])
            return values[len(values) // 2]
        now = median("this tree", "rows_per_cpu_s")
        line = f"{kind:12} {now:10.0f} ({median('this tree', 'rows_per_wall_s'):8.0f})"
        if args.baseline:
            base = median("baseline", "rows_per_cpu_s")
            same = all(run[kind]["losses"] == runs["baseline"][0][kind]["losses"] for run in runs["this tree"])
            line += (f" {base:10.0f} ({median('baseline', 'rows_per_wall_s'):8.0f}) {now / base:6.2f}x  "
                     f"{'bit-identical' if same else 'DIFFER'}")
        print(line, flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()

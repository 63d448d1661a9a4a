"""The size of an unfinished run's saved state (issue 26, item 2), where its bytes are, and what the
ways of shrinking it cost in quality, in the same run: the embedding tables' optimizer state per
weight ("elementwise": sparse Adagrad, or SparseAdam beside Adam) or per row ("rowwise": FBGEMM's
EXACT_ROWWISE_ADAGRAD, arch/train/rowwise.py), and the dense optimizer's state in fp32 or kept in
bf16 during training (TrainConfig optimizer_state_dtype, arch/train/bf16_state.py).

    .venv/bin/python benchmarks/bench_resume_state.py [--space small] [--steps 20] [--batch-size 512]
    .venv/bin/python benchmarks/bench_resume_state.py --sizes-only [--variants elementwise/fp32 rowwise/bf16]
        [--per-parameter 12] [--full-path-fraction 0] ...
    .venv/bin/python benchmarks/bench_resume_state.py --quality-only --quality-compare tables|state_dtype ...

Sizes: per variant (--variants, TABLES/STATE_DTYPE), a supernet run of --total-steps stopped after
--steps (what `--checkpoint-every` leaves), then CKPT (weights) and CKPT.resume (optimizer,
schedule, RNG) in MB: as written (arch/train/packing.py: each large tensor as it is, its touched
rows, or a bit mask and its set values, whichever is smallest), as the row-only packing before the
mask form wrote it (re-saved here from the same state), and the optimizer state as torch holds it;
the part of CKPT.resume that is not optimizer state (schedule, RNG: nothing the weights file holds);
the seconds per step (median of --repeats runs); ratios against the first variant. With
--per-parameter N, the N largest dense optimizer-state tensors of the first variant: parameter,
shape, MB, the share of set (non +0) values and the bounding box of the set values.

Quality: --quality-compare "tables" (elementwise vs rowwise tables) or "state_dtype" (dense
optimizer state fp32 vs bf16); per recipe (--recipes, `optimizer:lr`; the CLI's Adagrad 0.12 and
bench_ranking's Adam 0.003 by default), --quality-subnets sampled subnets of --quality-space each
trained alone for --quality-steps steps of --quality-batch rows with --quality-seeds seeds, then their
validation log loss (the same subnets, seeds and batches both ways); printed per subnet, with the
median difference second - first (negative: the second better). And one short supernet per recipe and
way (--quality-supernet-steps), scored with inherited weights on the same subnets."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from recpim.arch.data.datasets import open_dataset
from recpim.arch.model.space import get_space
from recpim.arch.model.subnet import sample_subnet
from recpim.arch.train.checkpoints import read_resume_tensors, resume_state_path, state_bytes
from recpim.arch.train.loop import TrainConfig, configure_threads, load_supernet, train_supernet
from recpim.arch.train.optimizers import embedding_parameters, make_optimizer
from recpim.arch.train.packing import PACK_MAX_FRACTION, PACK_MIN_ELEMENTS, PACKED_ROWS, set_elements
from recpim.arch.train.scoring import score_subnet, train_standalone

COMPARISONS = {"tables": ("embedding_optimizer", ("elementwise", "rowwise")),
               "state_dtype": ("optimizer_state_dtype", ("fp32", "bf16"))}


def _variant(text: str) -> dict[str, str]:
    tables, _, dtype = text.partition("/")
    table_ways, dtypes = COMPARISONS["tables"][1], COMPARISONS["state_dtype"][1]
    if tables not in table_ways or dtype not in dtypes:
        raise argparse.ArgumentTypeError(f"{text!r}: give TABLES/STATE_DTYPE, TABLES one of {table_ways}, "
                                         f"STATE_DTYPE one of {dtypes}")
    return {"embedding_optimizer": tables, "optimizer_state_dtype": dtype}


def _rows_only(state: Any) -> Any:
    """The optimizer state as CKPT.resume held it before the mask form (commit 0f6eead's packing: only
    the touched rows of a 2-D-or-more tensor, when that takes at most PACK_MAX_FRACTION of it)."""
    if isinstance(state, torch.Tensor):
        if not state.is_floating_point() or state.dim() < 2 or state.numel() < PACK_MIN_ELEMENTS:
            return state
        flat = state.reshape(state.shape[0], -1)
        rows = set_elements(flat).any(dim=1).nonzero().flatten()
        if rows.numel() * (8 + flat.shape[1] * state.element_size()) > PACK_MAX_FRACTION * state_bytes(state):
            return state
        return {PACKED_ROWS: True, "index": rows, "values": state[rows].clone(), "shape": list(state.shape)}
    if isinstance(state, dict):
        return {key: _rows_only(value) for key, value in state.items()}
    if isinstance(state, list | tuple):
        return type(state)(_rows_only(value) for value in state)
    return state


def _saved_size(state: dict[str, Any], folder: Path) -> int:
    path = folder / "resave.pt"
    torch.save(state, path)
    size = path.stat().st_size
    path.unlink()
    return size


def _per_parameter(model: torch.nn.Module, optimizer_state: dict[str, Any], shown: int) -> None:
    """The largest dense optimizer-state tensors: where CKPT.resume's bytes are."""
    tables = {id(p) for p in embedding_parameters(model)}
    dense = [(name, p) for name, p in model.named_parameters() if id(p) not in tables]
    part = optimizer_state["parts"][0]["state"]
    rows = []
    for index, (name, param) in enumerate(dense):
        for key, value in part.get(index, {}).items():
            if key == "step":
                continue
            flags = set_elements(value)
            box = [int(flags.any(dim=1 - d).nonzero().max()) + 1 if bool(flags.any()) else 0
                   for d in range(2)] if value.dim() == 2 else []
            rows.append((state_bytes(value), name, tuple(param.shape), key, float(flags.float().mean()), box))
    rows.sort(key=lambda row: -row[0])
    total = sum(row[0] for row in rows)
    print(f"  dense optimizer state: {total / 1e6:.1f} MB in {len(rows)} tensors of {len(dense)} parameters "
          f"({len(part)} with state); the {shown} largest:")
    for size, name, shape, key, share, box in rows[:shown]:
        bounding = f", set values within [:{box[0]}, :{box[1]}]" if box else ""
        print(f"    {size / 1e6:7.2f} MB {name} {list(shape)} {key}: {share:.3f} set{bounding}")


def _dense_step_seconds(model: torch.nn.Module, config: TrainConfig, repeats: int = 5) -> float:
    """The median seconds of one step of the dense optimizer over every dense parameter (random gradients):
    what the state dtype changes in a training step's time."""
    optimizer, _ = make_optimizer(model, config, config.steps or 1)
    dense = optimizer.parts[0]
    generator = torch.Generator().manual_seed(0)
    for group in dense.param_groups:
        for param in group["params"]:
            param.grad = torch.randn(param.shape, generator=generator) * 1e-3
    seconds = []
    for _ in range(repeats):
        began = time.perf_counter()
        dense.step()
        seconds.append(time.perf_counter() - began)
    dense.zero_grad(set_to_none=True)
    return statistics.median(seconds)


def sizes(args: argparse.Namespace) -> None:
    dataset = open_dataset(args.data)
    print(f"== sizes: space {args.space}, {args.data}, {args.steps} of {args.total_steps} steps of "
          f"{args.batch_size} rows, optimizer {args.optimizer} {args.lr}, full-path fraction {args.full_path_fraction}")
    saved: dict[str, int] = {}
    per_step: dict[str, float] = {}
    dense_step: dict[str, float] = {}
    for index, variant in enumerate(args.variants):
        label = f"{variant['embedding_optimizer']}/{variant['optimizer_state_dtype']}"
        config = TrainConfig(data=args.data, space=args.space, steps=args.total_steps, batch_size=args.batch_size,
                             optimizer=args.optimizer, lr=args.lr, full_path_fraction=args.full_path_fraction,
                             **variant)
        seconds = []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as folder:
                checkpoint = Path(folder) / "run.pt"
                began = time.perf_counter()
                result = train_supernet(dataset, config, checkpoint=checkpoint, until_step=args.steps)
                seconds.append((time.perf_counter() - began) / args.steps)
                resume_file = resume_state_path(checkpoint)
                unpacked = read_resume_tensors(checkpoint)     # the optimizer state as torch holds it
                whole = state_bytes(unpacked["optimizer"])
                on_disk = resume_file.stat().st_size
                weights = checkpoint.stat().st_size
                rows_only = _saved_size({**unpacked, "optimizer": _rows_only(unpacked["optimizer"])}, Path(folder))
                other = state_bytes({k: v for k, v in unpacked.items() if k != "optimizer"})
                if index == 0 and args.per_parameter and len(seconds) == 1:
                    _per_parameter(result.model, unpacked["optimizer"], args.per_parameter)
        saved[label], per_step[label] = on_disk, statistics.median(seconds)
        dense_step[label] = _dense_step_seconds(result.model, config)
        print(f"{label:>17}: CKPT {weights / 1e6:6.1f} MB | CKPT.resume {on_disk / 1e6:6.1f} MB as written, "
              f"{rows_only / 1e6:6.1f} MB with rows-only packing, {whole / 1e6:6.1f} MB of optimizer state unpacked, "
              f"{other / 1e3:.1f} kB besides it | unfinished run's state {(weights + on_disk) / 1e6:.1f} MB | "
              f"{per_step[label]:.2f} s per step with one save (median of {len(seconds)}), dense optimizer step "
              f"{dense_step[label]:.3f} s (median of 5)", flush=True)
    first = next(iter(saved))
    for label in list(saved)[1:]:
        print(f"{label} vs {first}: CKPT.resume {saved[label] / saved[first]:.4f}x "
              f"({saved[first] / saved[label]:.2f}x smaller); dense optimizer step "
              f"{dense_step[label] / dense_step[first]:.2f}x")


def quality(args: argparse.Namespace) -> None:
    dataset = open_dataset(args.quality_data, seed=0)
    space = get_space(args.quality_space)
    subnets = [sample_subnet(space, seed) for seed in range(args.quality_subnets)]
    key, ways = COMPARISONS[args.quality_compare]
    first, second = ways
    print(f"== quality, {key} {first} vs {second}: {args.quality_data}, space {space.name}, {len(subnets)} subnets x "
          f"{args.quality_seeds} seeds, {args.quality_steps} standalone steps of {args.quality_batch} rows; "
          "validation log loss")
    for recipe in args.recipes:
        optimizer, lr = recipe.split(":")
        base = TrainConfig(data=args.quality_data, space=space.name, batch_size=args.quality_batch,
                           optimizer=optimizer, lr=float(lr))
        if args.quality_steps:        # 0: the supernet comparison only (keeps each run under ~10 min)
            alone: dict[str, list[float]] = {way: [] for way in ways}
            for index, subnet in enumerate(subnets):
                for seed in range(args.quality_seeds):
                    row = []
                    for way in ways:
                        config = base.model_copy(update={key: way})
                        score = train_standalone(subnet, dataset, args.quality_steps, seed, config=config,
                                                 max_rows=args.score_rows)
                        alone[way].append(score.logloss)
                        row.append(f"{way} {score.logloss:.5f}")
                    print(f"  {recipe} subnet {index} seed {seed}: " + ", ".join(row), flush=True)
            diffs = [b - a for b, a in zip(alone[second], alone[first], strict=True)]
            print(f"{recipe} standalone: median log loss {first} {statistics.median(alone[first]):.5f}, "
                  f"{second} {statistics.median(alone[second]):.5f}; median difference {second} - {first} "
                  f"{statistics.median(diffs):+.5f} ({second} better in {sum(d < 0 for d in diffs)} of {len(diffs)})")
        if args.quality_supernet_steps:
            inherited: dict[str, list[float]] = {}
            for way in ways:
                config = base.model_copy(update={key: way, "steps": args.quality_supernet_steps,
                                                 "batch_size": args.quality_batch})
                with tempfile.TemporaryDirectory() as folder:
                    checkpoint = Path(folder) / "s.pt"
                    train_supernet(dataset, config, space=space, checkpoint=checkpoint)
                    loaded = load_supernet(checkpoint)
                    inherited[way] = [score_subnet(loaded.supernet, subnet, dataset, max_rows=args.score_rows).logloss
                                      for subnet in subnets]
            diffs = [b - a for b, a in zip(inherited[second], inherited[first], strict=True)]
            print(f"{recipe} supernet ({args.quality_supernet_steps} steps), inherited weights: median log loss "
                  f"{first} {statistics.median(inherited[first]):.5f}, {second} "
                  f"{statistics.median(inherited[second]):.5f}; median difference {statistics.median(diffs):+.5f} "
                  f"({second} better in {sum(d < 0 for d in diffs)} of {len(diffs)})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", default="small")
    parser.add_argument("--data", default="synthetic:20000")
    parser.add_argument("--steps", type=int, default=20, help="steps run before the run is left unfinished")
    parser.add_argument("--total-steps", type=int, default=1000, help="the run's length (it stops at --steps)")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--optimizer", default="adagrad", choices=["adagrad", "adam"])
    parser.add_argument("--lr", type=float, default=0.12)
    parser.add_argument("--full-path-fraction", type=float, default=TrainConfig().full_path_fraction,
                        help="NASRec's full-path warm-up (its first step trains every weight); 0: sampled subnets only")
    parser.add_argument("--variants", type=_variant, nargs="+",
                        default=[_variant(v) for v in ("elementwise/fp32", "rowwise/fp32", "elementwise/bf16",
                                                       "rowwise/bf16")],
                        help="TABLES/STATE_DTYPE: elementwise|rowwise / fp32|bf16; ratios are against the first")
    parser.add_argument("--repeats", type=int, default=1, help="runs per variant (the time per step is their median)")
    parser.add_argument("--per-parameter", type=int, default=0, help="show the N largest dense state tensors")
    parser.add_argument("--sizes-only", action="store_true")
    parser.add_argument("--quality-only", action="store_true")
    parser.add_argument("--quality-compare", default="tables", choices=sorted(COMPARISONS))
    parser.add_argument("--quality-data", default="synthetic:20000")
    parser.add_argument("--quality-space", default="small")
    parser.add_argument("--quality-subnets", type=int, default=3)
    parser.add_argument("--quality-seeds", type=int, default=2)
    parser.add_argument("--quality-steps", type=int, default=200, help="0: no standalone comparison")
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

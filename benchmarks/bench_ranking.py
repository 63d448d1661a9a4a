"""Does the supernet rank subnets? (issue 11) A script that prints its figures, not a test.

Trains one weight-sharing supernet and, as the ground truth, every one of `--subnets` random
subnets standalone from scratch with `--truth-seeds` seeds; then scores each subnet with inherited
weights, plain and after NASRec's logit fine-tuning, and compares the orders:

- tau_plain / tau_finetuned / spearman_finetuned: Kendall's tau (Spearman's rho) between the
  supernet's and the standalone (seed-mean) validation log loss;
- noise_ceiling_tau: tau between two standalone seeds, the best any predictor can hope for;
- top3_overlap: how many of the true top 3 the supernet's top 3 holds;
- truth_span / predicted_span: max - min log loss; gap_finetuned_max: the largest |supernet after
  fine-tuning - standalone| over the subnets;
- baselines (logistic regression, DLRM, DeepFM, trained the same steps) say whether the task rewards
  architectures at all: logistic regression should be clearly worse than the best subnet;
- fc_blocks_spearman_*: Spearman between a subnet's number of FC blocks and its standalone /
  supernet log loss (a bias toward or against an operator shows as different signs).

Work runs in `--workers` processes (one torch thread each): the supernet in one while the others
train the standalone models. Any dataset spec the CLI accepts works (`--data criteo:PATH` for a
Criteo-format TSV). The default task is recpim's synthetic "interactions" task, where pairwise,
third-order and dense x sparse interactions decide the label.

Run: .venv/bin/python benchmarks/bench_ranking.py [--json] [--subnets 16] [--supernet-steps N] ...
The last line of --json output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np
from ranking_jobs import (  # benchmarks/ is the script's folder, so it is on sys.path (and the workers')
    CACHED_FEATURE_ROWS,
    TruthCache,
    _baseline_job,
    _converged_job,
    _few_shot_job,
    _score_job,
    _standalone_job,
    _train_supernet_job,
    _worker_init,
)
from scipy.stats import kendalltau, spearmanr

from recpim.arch.model.space import DenseOp, get_space, nasrec_full
from recpim.arch.model.subnet import sample_subnet
from recpim.arch.train.loop import TrainConfig
from recpim.arch.train.scoring import FinetuneRecipe
from recpim.search.run import SearchSettings

# The spaces: NASRec-Full's operators in 4 blocks. The wide one (the default, issue 21) holds
# DLRM-class models: dense widths to 512, where a Dot-Product projects the sparse rows to
# round(sqrt(2 x 512)) = 32 rows and so sees all 26 sparse inputs; the narrow one is the earlier space
# (widths to 128: its Dot-Product sees at most 16 rows).
BENCH_SPACE = nasrec_full(num_blocks=4, name="bench_ranking_full_4_wide", dense_widths=(32, 128, 256, 512),
                          sparse_widths=(8, 16))
NARROW_SPACE = nasrec_full(num_blocks=4, name="bench_ranking_full_4", dense_widths=(16, 32, 64, 128),
                           sparse_widths=(8, 16))
BENCH_SPACES = {space.name: space for space in (BENCH_SPACE, NARROW_SPACE)}
# Streamed: fresh training rows every batch (the supernet never repeats a row); val/test are the fixed
# 800 k-row draw's 80 k + 80 k rows.
DEFAULT_DATA = "synthetic:800000:interactions:stream"
# the search's scoring as `recpim search` runs it by default: the logit fine-tuned on cached body features
# of this many train rows (read from the search's settings, so the figure cannot drift from what it names)
SEARCH_FEATURE_ROWS = SearchSettings.model_fields["finetune_feature_rows"].default


# ---- the driver
def _tau(a: list[float], b: list[float]) -> float:
    return float(kendalltau(a, b).statistic)


def _top3_overlap(predicted: list[float], truth: list[float]) -> int:
    return len(set(np.argsort(predicted)[:3]) & set(np.argsort(truth)[:3]))


def _span(values: list[float]) -> float:
    return float(max(values) - min(values))


def parse_lever(text: str) -> tuple[str, dict[str, Any]]:
    """`NAME:key=value,key=value` (TrainConfig fields of the supernet) -> (NAME, overrides)."""
    name, _, settings = text.partition(":")
    overrides: dict[str, Any] = {}
    for item in filter(None, settings.split(",")):
        key, _, value = item.partition("=")
        if key not in TrainConfig.model_fields:
            raise SystemExit(f"--lever {text!r}: {key!r} is not a TrainConfig field")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value        # a word: per_operator, adam, largest_subnet ...
    return name, overrides


def _figures(scores: list[dict], truth: list[float], converged: list[float] | None) -> dict[str, Any]:
    """The ranking figures of one supernet's scores against the truths."""
    plain = [s["plain"] for s in scores]
    tuned = [s["finetuned"] for s in scores]
    out = {"tau_plain": _tau(plain, truth), "tau_finetuned": _tau(tuned, truth),
           "tau_finetuned_cached": _tau([s["cached"] for s in scores], truth),
           "tau_search_scoring": _tau([s["search"] for s in scores], truth),
           "spearman_plain": float(spearmanr(plain, truth).statistic),
           "spearman_finetuned": float(spearmanr(tuned, truth).statistic),
           "predicted_span": _span(plain), "finetuned_span": _span(tuned),
           "top3_overlap": _top3_overlap(plain, truth), "top3_overlap_finetuned": _top3_overlap(tuned, truth),
           "gap_plain_median": float(statistics.median(abs(a - b) for a, b in zip(plain, truth, strict=True))),
           "gap_finetuned_max": float(max(abs(a - b) for a, b in zip(tuned, truth, strict=True))),
           "gap_finetuned_median": float(statistics.median(abs(a - b) for a, b in zip(tuned, truth, strict=True))),
           "finetune_seconds_per_subnet": float(statistics.median(s["finetune_seconds"] for s in scores)),
           "cached_finetune_seconds_per_subnet": float(statistics.median(s["cached_finetune_seconds"]
                                                                         for s in scores)),
           "search_finetune_seconds_per_subnet": float(statistics.median(s["search_finetune_seconds"]
                                                                         for s in scores))}
    if converged is not None:
        out["tau_converged_plain"] = _tau(plain, converged)
        out["tau_converged"] = _tau(tuned, converged)
        out["tau_converged_search_scoring"] = _tau([s["search"] for s in scores], converged)
        out["top3_overlap_converged"] = _top3_overlap(tuned, converged)
    return out


def _reused_supernet(path: str, config: TrainConfig) -> Future:
    """`--supernet CKPT`: the defaults row scores this trained supernet instead of training one. It must
    be the supernet the arguments describe (same space, data and recipe), or the row would not say what
    it claims; its training time is the checkpoint's, not this run's."""
    from recpim.arch.train.checkpoints import read_checkpoint

    trained = read_checkpoint(path)
    differing = sorted(key for key, value in config.model_dump(mode="json").items()
                       if trained.config.model_dump(mode="json").get(key) != value)
    if trained.space.name != config.space or differing:
        raise SystemExit(f"--supernet {path}: trained with another recipe than these arguments describe "
                         f"(space {trained.space.name!r} vs {config.space!r}; differing settings: "
                         f"{', '.join(differing) or 'none'}); pass the arguments it was trained with")
    done: Future = Future()
    done.set_result({"seconds": 0.0, "steps": trained.step, "ms_per_step": 0.0, "probes": [], "reused": path})
    return done


def run(args: argparse.Namespace) -> dict[str, Any]:
    began = time.perf_counter()
    space = BENCH_SPACES.get(args.space) or get_space(args.space)
    space_dump = space.model_dump(mode="json")
    subnets = [sample_subnet(space, args.subnet_seed + i) for i in range(args.subnets)]
    supernet_config = TrainConfig(
        data=args.data, data_seed=args.data_seed, space=space.name, steps=args.supernet_steps,
        batch_size=args.batch_size, optimizer=args.supernet_optimizer or args.optimizer,
        lr=args.supernet_lr or args.lr, seed=0, quant_aware=args.at_bits,
        input_sharing=args.input_sharing, full_path_fraction=args.full_path_fraction, init=args.init,
        adagrad_eps=args.adagrad_eps, sparse_embeddings=not args.dense_embeddings,
        sandwich_students=args.sandwich_students, distill_weight=args.distill_weight,
        embedding_lr=args.embedding_lr, embedding_l2=args.embedding_l2,
        subnets_per_step=(args.subnets_per_step if args.subnets_per_step is not None else 1 if args.sandwich_students
                          else TrainConfig.model_fields["subnets_per_step"].default))
    levers = [("defaults", {})] + [parse_lever(text) for text in args.lever]
    # a sandwich lever is its own step rule: one subnet per step unless the lever says otherwise
    lever_configs = [(name, TrainConfig(**{**supernet_config.model_dump(),
                                           **({"subnets_per_step": 1} if overrides.get("sandwich_students") else {}),
                                           **overrides}))
                     for name, overrides in levers]
    # The supernet-only levers do not touch a standalone run: fixed here so the truth cache's keys
    # stay the same while a lever study changes them.
    standalone_config = supernet_config.model_copy(update={
        "steps": args.standalone_steps, "quant_aware": False, "optimizer": args.optimizer, "lr": args.lr,
        "input_sharing": "per_operator", "full_path_fraction": 0.0, "sandwich_students": 0, "distill_weight": 0.0,
        "embedding_lr": None, "embedding_l2": 0.0, "sandwich_teacher": "largest_subnet", "subnets_per_step": 1})
    if args.supernet_only:
        # only the checkpoint the benchmark would score (bench_codesign.py --vs-zoo reads it): no truths;
        # one thread, as in the benchmark's workers
        _worker_init()
        info = _train_supernet_job(args.data, args.data_seed, space_dump, supernet_config.model_dump(mode="json"),
                                   args.keep_checkpoint)
        return {"kind": "ranking_supernet", "data": args.data, "space": space.name, "checkpoint": args.keep_checkpoint,
                "train_config": supernet_config.model_dump(mode="json"), **info,
                "seconds": time.perf_counter() - began}
    recipe = FinetuneRecipe(lr=args.finetune_lr, optimizer=args.finetune_optimizer)
    search_rows = SEARCH_FEATURE_ROWS
    rows = args.score_rows
    log = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.json else (lambda *a: print(*a, flush=True))
    context = multiprocessing.get_context("spawn")
    with TemporaryDirectory() as tmp, ProcessPoolExecutor(args.workers, context, initializer=_worker_init) as pool:
        checkpoints = [str(Path(tmp) / f"supernet_{i}.pt") for i in range(len(lever_configs))]
        if args.keep_checkpoint:
            checkpoints[0] = args.keep_checkpoint
        reused = _reused_supernet(args.supernet, supernet_config) if args.supernet else None
        if reused is not None:
            checkpoints[0] = args.supernet
        probe_subnets = [s.to_json() for s in subnets[:3]]
        supernet_futures = [pool.submit(_train_supernet_job, config.data, args.data_seed, space_dump,
                                        config.model_dump(mode="json"), path, probe_subnets, args.probe_every)
                            if not (i == 0 and reused) else reused
                            for i, ((_, config), path) in enumerate(zip(lever_configs, checkpoints, strict=True))]
        standalone_dump = standalone_config.model_dump(mode="json")
        cache = TruthCache(Path(args.truth_cache)) if args.truth_cache else None

        def truth(job, *job_args) -> Future:
            return cache.submit(pool, job, *job_args) if cache else pool.submit(job, *job_args)

        truth_futures = [[truth(_standalone_job, args.data, args.data_seed, space_dump, subnet.to_json(),
                                standalone_dump, seed, args.at_bits, rows)
                          for seed in range(args.truth_seeds)] for subnet in subnets]
        converged_futures = ([truth(_converged_job, args.data, args.data_seed, space_dump, subnet.to_json(),
                                    standalone_dump, 0, args.converged_steps, rows) for subnet in subnets]
                             if args.converged_steps else [])
        baseline_futures: dict[str, list[Future]] = {
            name: [truth(_baseline_job, args.data, args.data_seed, name, standalone_dump, seed, rows)
                   for seed in range(args.truth_seeds)]
            for name in args.baselines}
        lever_scores = []
        for (name, _), future, path in zip(lever_configs, supernet_futures, checkpoints, strict=True):
            info = future.result()
            log(f"supernet [{name}]: {info['steps']} steps in {info['seconds']:.0f} s ({info['ms_per_step']:.1f} "
                "ms/step)")
            lever_scores.append((info, [pool.submit(_score_job, args.data, args.data_seed, space_dump, path,
                                                    subnet.to_json(), args.at_bits, rows, args.finetune_steps,
                                                    recipe, search_rows) for subnet in subnets]))
        few_shot_future = (pool.submit(_few_shot_job, args.data, args.data_seed, space_dump, checkpoints[0],
                                       [s.to_json() for s in subnets], args.at_bits, rows, args.finetune_steps, recipe,
                                       search_rows, args.few_shot_steps) if args.few_shot_steps else None)
        truths = [[f.result() for f in futures] for futures in truth_futures]
        converged_runs = [f.result() for f in converged_futures]
        lever_results = [(info, [f.result() for f in futures]) for info, futures in lever_scores]
        if few_shot_future is not None:
            lever_results.append(few_shot_future.result())
            levers.append(("few_shot", {"steps_per_part": args.few_shot_steps, "split": "block 1 dense operator",
                                        "warm_start": "defaults"}))
        baselines = {name: [f.result() for f in futures] for name, futures in baseline_futures.items()}
        if cache:
            cache.save()
    truth = [float(np.mean([t["logloss"] for t in seeds])) for seeds in truths]
    converged = [r["logloss"] for r in converged_runs] if converged_runs else None
    supernet_info, scores = lever_results[0]
    fc_blocks = [sum(b.dense_op == DenseOp.FC for b in subnet.blocks) for subnet in subnets]
    rows_out = []
    for i, subnet in enumerate(subnets):
        rows_out.append({"index": i, "seed": args.subnet_seed + i, "standalone": [t["logloss"] for t in truths[i]],
                         "standalone_mean": truth[i], "supernet_plain": scores[i]["plain"],
                         "supernet_finetuned": scores[i]["finetuned"],
                         "supernet_finetuned_cached": scores[i]["cached"],
                         "supernet_search_scoring": scores[i]["search"],
                         "converged": converged_runs[i] if converged_runs else None,
                         "fc_blocks": fc_blocks[i], "ops": [f"{b.dense_op.value}/{b.sparse_op.value}"
                                                            for b in subnet.blocks],
                         "subnet": subnet.to_dict()})
        log(f"  subnet {i:2d}: standalone {' / '.join(f'{t:.4f}' for t in rows_out[-1]['standalone'])}"
            + (f"  converged {converged[i]:.4f}" if converged else "")
            + f"  supernet {scores[i]['plain']:.4f}  fine-tuned {scores[i]['finetuned']:.4f}  "
              f"({', '.join(rows_out[-1]['ops'])})")
    baseline_means = {name: float(np.mean([r["logloss"] for r in runs])) for name, runs in baselines.items()}
    result: dict[str, Any] = {
        "data": args.data, "space": space.name, "subnets": rows_out, "at_bits": args.at_bits,
        "supernet_steps": args.supernet_steps, "standalone_steps": args.standalone_steps,
        "converged_steps_cap": args.converged_steps,
        "truth_seeds": args.truth_seeds, "finetune_steps": args.finetune_steps,
        "train_config": supernet_config.model_dump(mode="json"),
        **_figures(scores, truth, converged),
        "cached_feature_rows": CACHED_FEATURE_ROWS, "search_feature_rows": search_rows,
        "noise_ceiling_tau": (_tau([t[0]["logloss"] for t in truths], [t[1]["logloss"] for t in truths])
                              if args.truth_seeds > 1 else None),
        "truth_span": _span(truth), "truth_best": min(truth),
        "converged_best": min(converged) if converged else None,
        "converged_steps_median": (float(statistics.median(r["best_step"] for r in converged_runs))
                                   if converged_runs else None),
        "fc_blocks_spearman_standalone": float(spearmanr(fc_blocks, truth).statistic),
        "fc_blocks_spearman_supernet": float(spearmanr(fc_blocks, [s["finetuned"] for s in scores]).statistic),
        "baselines": baseline_means,
        "best_sampled_vs_dlrm": (min(truth) - baseline_means["dlrm"]) if "dlrm" in baseline_means else None,
        "best_sampled_vs_deepfm": (min(truth) - baseline_means["deepfm"]) if "deepfm" in baseline_means else None,
        "supernet_seconds": supernet_info["seconds"], "supernet_ms_per_step": supernet_info["ms_per_step"],
        "standalone_seconds_per_model": float(statistics.median(t["seconds"] for seeds in truths for t in seeds)),
        "levers": [{"lever": name, "settings": dict(overrides), "supernet_seconds": info["seconds"],
                    "supernet_ms_per_step": info["ms_per_step"], "probes": info.get("probes", []),
                    **_figures(lever_scores_, truth, converged)}
                   for (name, overrides), (info, lever_scores_) in zip(levers, lever_results, strict=True)],
        "seconds": time.perf_counter() - began,
    }
    if result["noise_ceiling_tau"]:
        result["tau_finetuned_of_ceiling"] = result["tau_finetuned"] / result["noise_ceiling_tau"]
        for row in result["levers"]:
            row["tau_finetuned_of_ceiling"] = row["tau_finetuned"] / result["noise_ceiling_tau"]
    return result


def print_summary(result: dict[str, Any], out=sys.stdout) -> None:
    def line(text: str) -> None:
        print(text, file=out, flush=True)

    ceiling = result["noise_ceiling_tau"]
    line(f"ranking on {result['data']} ({result['space']}, {'at each subnet bits' if result['at_bits'] else 'float'}):"
         f" {len(result['subnets'])} subnets; supernet {result['supernet_steps']} steps "
         f"({result['supernet_seconds']:.0f} s, {result['supernet_ms_per_step']:.1f} ms/step), standalone "
         f"{result['standalone_steps']} steps x {result['truth_seeds']} seeds")
    line(f"  standalone log loss {result['truth_best']:.4f} .. {result['truth_best'] + result['truth_span']:.4f} "
         f"(span {result['truth_span']:.4f}); noise ceiling tau {ceiling if ceiling is None else round(ceiling, 3)}")
    if result.get("converged_best") is not None:
        line(f"  converged truth (early stopping, cap {result['converged_steps_cap']} steps): best "
             f"{result['converged_best']:.4f}, median stop {result['converged_steps_median']:.0f} steps")
    line("  baselines: " + ", ".join(f"{k} {v:.4f}" for k, v in result["baselines"].items()))
    if result.get("best_sampled_vs_dlrm") is not None:
        line(f"  best sampled subnet vs DLRM: {result['best_sampled_vs_dlrm']:+.4f}"
             + (f", vs DeepFM: {result['best_sampled_vs_deepfm']:+.4f}" if result.get("best_sampled_vs_deepfm")
                is not None else "") + " (negative: the subnet is better)")
    for row in result["levers"]:
        converged = (f", tau vs converged {row['tau_converged']:.3f}" if "tau_converged" in row else "")
        line(f"  [{row['lever']}] {row['settings'] or ''} supernet {row['supernet_seconds']:.0f} s: tau plain "
             f"{row['tau_plain']:.3f}, fine-tuned {row['tau_finetuned']:.3f} ({row['finetune_seconds_per_subnet']:.1f}"
             f" s/subnet), search scoring {row['tau_search_scoring']:.3f} "
             f"({row['search_finetune_seconds_per_subnet']:.1f} s/subnet), cached-64k {row['tau_finetuned_cached']:.3f}"
             f"{converged}; top-3 {row['top3_overlap_finetuned']}/3; |fine-tuned - standalone| median "
             f"{row['gap_finetuned_median']:.4f} (plain {row['gap_plain_median']:.4f})")
    line(f"  FC blocks vs log loss (spearman): standalone {result['fc_blocks_spearman_standalone']:+.2f}, supernet "
         f"{result['fc_blocks_spearman_supernet']:+.2f}")
    line(f"  total {result['seconds']:.0f} s")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA, help="dataset spec: synthetic:ROWS[:TASK], criteo:PATH, ...")
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--space", default=BENCH_SPACE.name,
                        help=f"a registered space name or one of {', '.join(BENCH_SPACES)} (default: the wide one)")
    parser.add_argument("--subnets", type=int, default=16)
    parser.add_argument("--subnet-seed", type=int, default=1000)
    parser.add_argument("--supernet-steps", type=int, default=4000)  # 3.2 epochs: more overfits (README)
    parser.add_argument("--standalone-steps", type=int, default=1000)
    parser.add_argument("--truth-seeds", type=int, default=2)
    parser.add_argument("--score-rows", type=int, default=None, help="val rows scored (default: the whole split)")
    parser.add_argument("--finetune-steps", type=int, default=500)
    parser.add_argument("--finetune-lr", type=float, default=0.04)
    parser.add_argument("--finetune-optimizer", default="adagrad", choices=["adagrad", "adam"])
    parser.add_argument("--at-bits", action="store_true", help="train and score every model at its subnet's bits")
    parser.add_argument("--batch-size", type=int, default=512)
    # Adam 3e-3: NASRec's Adagrad lr 0.12 is tuned for ~70k-step runs (arch/train/loop.py).
    parser.add_argument("--optimizer", default="adam", choices=["adagrad", "adam"])
    parser.add_argument("--lr", type=float, default=0.003)
    parser.add_argument("--supernet-optimizer", default=None, choices=["adagrad", "adam"],
                        help="the supernet's optimizer if not --optimizer (the standalone models keep --optimizer)")
    parser.add_argument("--supernet-lr", type=float, default=None, help="the supernet's lr if not --lr")
    parser.add_argument("--input-sharing", default="per_operator", choices=["per_source", "per_operator"])
    parser.add_argument("--full-path-fraction", type=float, default=0.1)
    parser.add_argument("--init", default="torch", choices=["torch", "xavier"])
    parser.add_argument("--adagrad-eps", type=float, default=1e-2)
    parser.add_argument("--dense-embeddings", action="store_true", help="dense embedding gradients (the old path)")
    parser.add_argument("--sandwich-students", type=int, default=0, help="children per supernet step (0: NASRec's one)")
    parser.add_argument("--distill-weight", type=float, default=0.0)
    parser.add_argument("--subnets-per-step", type=int, default=None,
                        help="each supernet step splits its batch among this many sampled subnets (1: NASRec's one; "
                             "default TrainConfig's 8, or 1 with --sandwich-students)")
    parser.add_argument("--embedding-lr", type=float, default=None)
    parser.add_argument("--embedding-l2", type=float, default=0.0)
    parser.add_argument("--lever", action="append", default=[],
                        help="NAME:key=value,... another supernet with these TrainConfig overrides, scored against the "
                             "same truth (one row each in 'levers'); repeatable")
    parser.add_argument("--probe-every", type=int, default=0,
                        help="log the inherited train/val log loss of the first 3 subnets every N supernet steps")
    parser.add_argument("--few-shot-steps", type=int, default=0,
                        help="few-shot lever: split the defaults' supernet on block 1's dense operator and train "
                             "each part this many more steps (0: skip)")
    parser.add_argument("--converged-steps", type=int, default=4000,
                        help="the converged truth's step cap (early stopping on the test split); 0: skip it")
    parser.add_argument("--quick", action="store_true",
                        help="a smaller run (8 subnets, 1500 supernet / 600 standalone steps, converged cap 2000, "
                             "16 k val rows) for a first look")
    parser.add_argument("--baselines", nargs="*", default=["logistic_regression", "dlrm", "deepfm"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=["cpu"], help="only the CPU for now (issue 13)")
    parser.add_argument("--truth-cache", default=None,
                        help="JSON file of standalone results to reuse across runs (default: train them all)")
    parser.add_argument("--keep-checkpoint", default=None,
                        help="write the supernet checkpoint here (bench_codesign.py --vs-zoo reads it)")
    parser.add_argument("--supernet", default=None, metavar="CKPT",
                        help="score this trained supernet (e.g. from --supernet-only) instead of training one; it "
                             "must have been trained with the recipe these arguments describe")
    parser.add_argument("--supernet-only", action="store_true",
                        help="train only the benchmark's supernet to --keep-checkpoint (no truths, no scores)")
    parser.add_argument("--out", default="out/bench/ranking.json", help="also write the result (and inputs) here")
    parser.add_argument("--json", action="store_true", help="progress to stderr, one JSON object last on stdout")
    args = parser.parse_args(argv)
    if args.quick:
        given = set(argv if argv is not None else sys.argv[1:])
        for option, value in (("--subnets", 8), ("--supernet-steps", 1500), ("--standalone-steps", 600),
                              ("--converged-steps", 2000), ("--score-rows", 16384), ("--finetune-steps", 300)):
            if option not in given:
                setattr(args, option[2:].replace("-", "_"), value)
    if args.supernet_only and not args.keep_checkpoint:
        parser.error("--supernet-only writes the supernet to --keep-checkpoint PATH: give it")
    if args.truth_seeds < 1 or args.subnets < 3:
        parser.error("--truth-seeds must be >= 1 and --subnets >= 3")
    return args


def emit(result: dict[str, Any], out: str, as_json: bool, summary) -> dict[str, Any]:
    """The benchmarks' way out: `summary(result, stream)` (to stderr with --json), the result written to
    `out`, and with --json the result as the last line of stdout."""
    summary(result, sys.stderr if as_json else sys.stdout)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=1))
    if as_json:
        print(json.dumps(result))
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.supernet_only:
        return emit(run(args), args.out, args.json,
                    lambda r, out: print(f"supernet: {r['steps']} steps in {r['seconds']:.0f} s "
                                         f"({r['ms_per_step']:.1f} ms/step) -> {r['checkpoint']}", file=out))
    return emit(run(args), args.out, args.json, print_summary)


if __name__ == "__main__":
    main()

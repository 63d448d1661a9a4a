"""Does the search pay off? (issue 21, part 6; run through `bench_codesign.py --vs-zoo CKPT`)

With a supernet trained on the ranking benchmark's task (bench_ranking.py --keep-checkpoint CKPT),
a joint co-search (Pareto front of hardware-aware log loss, energy and latency) runs for the
`default` chip; its study and a summary of every candidate are written before anything else runs,
so a later failure loses no search (a rerun resumes the study). DLRM and DeepFM from the zoo are
costed on the same chip (8-bit) and trained standalone with `--zoo-seeds` seeds. Among the search's
candidates that cost less energy per inference than the cheaper zoo model, the `--retrain` best by
supernet score are trained standalone the same way (same steps, recipe and data; quantisation-aware
at their own bits, the bits their energy assumes), with the same seeds.

Selection and report are kept apart: the searched model is the retrained candidate with the best
mean VALIDATION log loss; every figure reported is on the TEST split (the same number of rows,
`--score-rows`), as mean and standard deviation over the seeds. The searched model "pays off" when
its test log loss is lower than both zoo models' by more than the seed-to-seed spread (the largest
standard deviation of the three) at lower energy per inference.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ranking_jobs import _baseline_job  # benchmarks/ is the script's folder, so it is on sys.path

from recpim.arch.train.checkpoints import read_checkpoint
from recpim.arch.train.scoring import score_standalone, train_standalone


def _spread(values: list[float]) -> float:
    return float(statistics.stdev(values)) if len(values) > 1 else 0.0


def run_vs_zoo(args: argparse.Namespace) -> dict[str, Any]:
    from recpim.pim.presets import load_chip
    from recpim.search.evaluate import worker_state
    from recpim.search.evolution import EvolutionSettings
    from recpim.search.objectives import Objective
    from recpim.search.run import resolve_settings, run_search
    from recpim.search.zoo_baselines import zoo_points

    began = time.perf_counter()
    checkpoint = Path(args.vs_zoo)
    trained = read_checkpoint(checkpoint).config
    chip = load_chip(args.chip)
    evolution = EvolutionSettings(population=args.population, sample=args.sample, children=args.children,
                                  seed=args.seeds[0])
    settings = resolve_settings(chip, checkpoint, None, objective=Objective(kind="pareto"), accuracy="crossbar",
                                evolution=evolution, score_rows=args.score_rows)
    folder = args.out / "vs_zoo"
    folder.mkdir(parents=True, exist_ok=True)
    study = folder / "study.db"
    resume = study.is_file() and not args.fresh_search
    if args.fresh_search:
        study.unlink(missing_ok=True)
    search = run_search(settings, args.budget, study, resume=resume, backend="local", workers=args.workers,
                        progress=True, resimulate=False)
    search_s = time.perf_counter() - began
    # the search's result on disk before any retraining (a crash later loses nothing)
    summary = [{"index": r.index, "feasible": r.feasible, "subnet": r.candidate.subnet.to_dict(),
                **({"logloss": r.metrics.logloss, "energy_pj_per_inference": r.metrics.energy_pj_per_inference,
                    "latency_ns_per_inference": r.metrics.latency_ns_per_inference} if r.metrics else {})}
               for r in search.history]
    (folder / "search_candidates.json").write_text(json.dumps({"kind": "search_candidates", "study": str(study),
                                                              "candidates": summary}, indent=1) + "\n")
    dataset = worker_state(settings.eval_context()).dataset
    rows = args.score_rows
    seeds = list(range(args.zoo_seeds))
    recipe = trained.model_copy(update={"steps": args.zoo_steps, "seed": 0})
    zoo = {p.name: asdict(p) for p in zoo_points(chip, dataset, 0, 64, rows or 1024, data=settings.data)}
    for name, point in zoo.items():
        runs = [_baseline_job(settings.data, settings.data_seed, name, recipe.model_dump(mode="json"), seed, rows,
                              test_split=True) for seed in seeds]
        point["val_logloss"] = [r["logloss"] for r in runs]
        point["test_logloss"] = [r["logloss_test"] for r in runs]
        print(f"  {name}: test {statistics.mean(point['test_logloss']):.4f} "
              f"(+- {_spread(point['test_logloss']):.4f})", file=sys.stderr)
    cheapest_zoo = min(p["energy_pj_per_inference"] for p in zoo.values())
    cheaper = sorted((r for r in search.history if r.feasible and r.metrics.energy_pj_per_inference < cheapest_zoo),
                     key=lambda r: r.metrics.logloss)
    retrained = []
    for record in cheaper[: args.retrain]:
        val, test = [], []
        for seed in seeds:
            score, model = train_standalone(record.candidate.subnet, dataset, args.zoo_steps, seed, config=recipe,
                                            quant=True, max_rows=rows, return_model=True)
            val.append(score.logloss)
            test.append(score_standalone(model, dataset, "test", None, rows)[0])
        retrained.append({"index": record.index, "supernet_logloss": record.metrics.logloss,
                          "val_logloss": val, "test_logloss": test,
                          "energy_pj_per_inference": record.metrics.energy_pj_per_inference,
                          "latency_ns_per_inference": record.metrics.latency_ns_per_inference,
                          "subnet": record.candidate.subnet.to_dict()})
        print(f"  candidate {record.index}: supernet {record.metrics.logloss:.4f}, standalone at its bits "
              f"val {statistics.mean(val):.4f} test {statistics.mean(test):.4f}, "
              f"{record.metrics.energy_pj_per_inference:.4g} pJ/inf", file=sys.stderr)
    pick = min(retrained, key=lambda r: statistics.mean(r["val_logloss"])) if retrained else None
    verdict: dict[str, Any] = {}
    if pick is not None:
        spread = max([_spread(pick["test_logloss"])] + [_spread(p["test_logloss"]) for p in zoo.values()])
        pick_test = statistics.mean(pick["test_logloss"])
        for name, point in zoo.items():
            margin = statistics.mean(point["test_logloss"]) - pick_test     # > 0: the searched model is better
            verdict[name] = {"test_margin": margin, "beats_beyond_spread": margin > spread,
                             "energy_ratio": pick["energy_pj_per_inference"] / point["energy_pj_per_inference"]}
        verdict["spread"] = spread
    supernet_order = [r["index"] for r in retrained]
    standalone_order = [r["index"] for r in sorted(retrained, key=lambda r: statistics.mean(r["val_logloss"]))]
    return {"kind": "codesign_vs_zoo", "chip": chip.name, "data": settings.data, "supernet": str(checkpoint),
            "budget": args.budget, "standalone_steps": args.zoo_steps, "seeds": seeds, "score_rows": rows,
            "recipe": recipe.model_dump(mode="json"), "candidates_cheaper_than_zoo": len(cheaper),
            "retrained": retrained, "pick": pick["index"] if pick else None,
            "supernet_pick_is_standalone_best": bool(retrained and supernet_order[0] == standalone_order[0]),
            "zoo": {name: {k: p[k] for k in ("energy_pj_per_inference", "latency_ns_per_inference", "val_logloss",
                                             "test_logloss")} for name, p in zoo.items()},
            "verdict": verdict,
            "pays_off": bool(verdict and all(v["beats_beyond_spread"] and v["energy_ratio"] < 1
                                             for k, v in verdict.items() if k != "spread")),
            "search_s": round(search_s, 1), "wall_s": round(time.perf_counter() - began, 1)}


def print_vs_zoo(result: dict[str, Any]) -> None:
    print(f"searched model vs zoo on {result['chip']} ({result['data']}; {result['budget']}-candidate co-search in "
          f"{result['search_s']} s; every model trained {result['standalone_steps']} steps with the same recipe, "
          f"seeds {result['seeds']}; test log loss mean +- std, the pick chosen on validation)")
    print(f"{'model':34s} {'test log loss':>18s} {'pJ/inf':>11s} {'ns/inf':>11s}")

    def cell(values: list[float]) -> str:
        return f"{statistics.mean(values):.4f} +- {_spread(values):.4f}"

    for name, point in result["zoo"].items():
        print(f"{name + ' (zoo, 8-bit)':34s} {cell(point['test_logloss']):>18s} "
              f"{point['energy_pj_per_inference']:11.4g} {point['latency_ns_per_inference']:11.4g}")
    for row in result["retrained"]:
        mark = " <- pick" if row["index"] == result["pick"] else ""
        print(f"{'searched candidate ' + str(row['index']) + mark:34s} {cell(row['test_logloss']):>18s} "
              f"{row['energy_pj_per_inference']:11.4g} {row['latency_ns_per_inference']:11.4g}")
    for name, v in result["verdict"].items():
        if name != "spread":
            print(f"  vs {name}: {v['test_margin']:+.4f} log loss (positive: searched better), spread "
                  f"{result['verdict']['spread']:.4f}, energy x{v['energy_ratio']:.2f}")
    print(f"{result['candidates_cheaper_than_zoo']} candidates cost less energy than both zoo models; pays off: "
          f"{'yes' if result['pays_off'] else 'no'}; the supernet's favourite is the standalone best: "
          f"{'yes' if result['supernet_pick_is_standalone_best'] else 'no'}")

"""Does the search pay off? (issue 11, part 5; run through `bench_codesign.py --vs-zoo CKPT`)

With a supernet trained on the ranking benchmark's task (bench_ranking.py --keep-checkpoint CKPT),
a joint co-search (Pareto front of hardware-aware log loss, energy and latency) runs for the
`default` chip. DLRM and DeepFM from the zoo are costed on the same chip (8-bit). Among the
front's candidates that cost less energy per inference than the cheaper of the two, the
`--retrain` best by supernet score are trained standalone -- same steps, recipe and data as DLRM
and DeepFM, quantisation-aware at their own bits (the bits their energy assumes) -- and all are
scored on the whole validation split. The searched model "pays off" when it matches or beats both
zoo models' log loss at lower energy.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench_ranking import _baseline_job  # benchmarks/ is the script's folder, so it is on sys.path

from recpim.arch.train.checkpoints import load_checkpoint
from recpim.arch.train.loop import TrainConfig
from recpim.arch.train.scoring import train_standalone


def run_vs_zoo(args: argparse.Namespace) -> dict[str, Any]:
    from recpim.pim.presets import load_chip
    from recpim.search.evaluate import worker_state
    from recpim.search.evolution import EvolutionSettings
    from recpim.search.objectives import Objective
    from recpim.search.run import resolve_settings, run_search
    from recpim.search.zoo_baselines import zoo_points

    began = time.perf_counter()
    checkpoint = Path(args.vs_zoo)
    trained = TrainConfig(**load_checkpoint(checkpoint)["config"])
    chip = load_chip(args.chip)
    evolution = EvolutionSettings(population=args.population, sample=args.sample, children=args.children,
                                  seed=args.seeds[0])
    settings = resolve_settings(chip, checkpoint, None, objective=Objective(kind="pareto"), accuracy="crossbar",
                                evolution=evolution, score_rows=args.score_rows)
    folder = args.out / "vs_zoo"
    folder.mkdir(parents=True, exist_ok=True)
    study = folder / "study.db"
    study.unlink(missing_ok=True)
    search = run_search(settings, args.budget, study, backend="local", workers=args.workers, progress=True,
                        resimulate=False)
    search_s = time.perf_counter() - began
    dataset = worker_state(settings.eval_context()).dataset
    zoo = {p.name: asdict(p) for p in zoo_points(chip, dataset, 0, 64, args.score_rows, data=settings.data)}
    recipe = trained.model_copy(update={"steps": args.zoo_steps, "seed": 0})
    for name, point in zoo.items():
        point["logloss_standalone"] = _baseline_job(settings.data, settings.data_seed, name,
                                                    recipe.model_dump(mode="json"), 0, None)["logloss"]
    cheapest_zoo = min(p["energy_pj_per_inference"] for p in zoo.values())
    cheaper = sorted((r for r in search.history if r.feasible and r.metrics.energy_pj_per_inference < cheapest_zoo),
                     key=lambda r: r.metrics.logloss)
    retrained = []
    for record in cheaper[: args.retrain]:
        score = train_standalone(record.candidate.subnet, dataset, args.zoo_steps, 0, config=recipe, quant=True)
        retrained.append({"index": record.index, "supernet_logloss": record.metrics.logloss,
                          "logloss_standalone_at_bits": score.logloss,
                          "energy_pj_per_inference": record.metrics.energy_pj_per_inference,
                          "latency_ns_per_inference": record.metrics.latency_ns_per_inference,
                          "subnet": record.candidate.subnet.to_dict()})
        print(f"  candidate {record.index}: supernet {record.metrics.logloss:.4f}, standalone at its bits "
              f"{score.logloss:.4f}, {record.metrics.energy_pj_per_inference:.4g} pJ/inf", file=sys.stderr)
    best_zoo = min(p["logloss_standalone"] for p in zoo.values())
    first = retrained[0] if retrained else None
    return {"chip": chip.name, "data": settings.data, "supernet": str(checkpoint), "budget": args.budget,
            "standalone_steps": args.zoo_steps, "recipe": recipe.model_dump(mode="json"),
            "candidates_cheaper_than_zoo": len(cheaper), "retrained": retrained,
            "zoo": {name: {k: p[k] for k in ("energy_pj_per_inference", "latency_ns_per_inference",
                                             "logloss_standalone")} for name, p in zoo.items()},
            "searched_pick_beats_zoo": bool(first and first["logloss_standalone_at_bits"] <= best_zoo),
            "best_retrained_beats_zoo": bool(retrained and min(r["logloss_standalone_at_bits"] for r in retrained)
                                             <= best_zoo),
            "search_s": round(search_s, 1), "wall_s": round(time.perf_counter() - began, 1)}


def print_vs_zoo(result: dict[str, Any]) -> None:
    print(f"searched model vs zoo on {result['chip']} ({result['data']}; {result['budget']}-candidate co-search in "
          f"{result['search_s']} s; every model trained {result['standalone_steps']} steps with the same recipe)")
    print(f"{'model':34s} {'log loss':>9s} {'pJ/inf':>11s} {'ns/inf':>11s}")
    for name, point in result["zoo"].items():
        label = f"{name} (zoo, 8-bit)"
        print(f"{label:34s} {point['logloss_standalone']:9.4f} {point['energy_pj_per_inference']:11.4g}"
              f" {point['latency_ns_per_inference']:11.4g}")
    for rank, row in enumerate(result["retrained"], 1):
        label = f"searched #{rank} (candidate {row['index']})"
        print(f"{label:34s} {row['logloss_standalone_at_bits']:9.4f} "
              f"{row['energy_pj_per_inference']:11.4g} {row['latency_ns_per_inference']:11.4g}")
    print(f"{result['candidates_cheaper_than_zoo']} candidates cost less energy than both zoo models; the search's "
          f"pick {'matches or beats' if result['searched_pick_beats_zoo'] else 'does not match'} the better zoo "
          f"model's log loss (best of the retrained: {'yes' if result['best_retrained_beats_zoo'] else 'no'})")

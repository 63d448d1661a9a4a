"""Regularized evolution against random search at equal budget (issue 27, item 5).

Does the evolution (search/evolution.py) find better candidates than drawing the same number at
random? On synthetic CTR data with one supernet trained here (or --supernet CKPT), for each seed:

- evolution: the search's own regularized evolution (pareto objective: log loss, energy, latency),
  generation 0 = `population` random candidates, then tournaments of `sample` and `children` mutated
  children per generation, up to --budget candidates;
- random: --budget candidates drawn by the same sampler (candidate i from the same random stream as
  the evolution's candidate i, so the first `population` are the same candidates in both).

Every candidate is scored exactly as `recpim search` scores it (evaluate_candidate: the supernet's
hardware-aware log loss on the first --score-rows validation rows with the chip's crossbar
arithmetic, analytic energy and latency); an evaluation is memoised by candidate, which changes
no figure since scoring is deterministic. Per run it reports:

- hypervolume of the (log loss, energy) front inside the box from the best value of each figure
  over every feasible candidate of the whole benchmark to their medians (the reference point),
  normalised to the box's area: 1.0 = one candidate best in both, 0 = nothing better than the
  median candidate in both; larger is better;
- the best log loss overall, and at fixed energy: among candidates at or below the median energy of
  every feasible candidate the benchmark evaluated;
- duplicates: proposals identical to an earlier candidate of the same run (budget spent again).

    .venv/bin/python benchmarks/bench_evolution.py [--budget 40] [--seeds 0 1 2 3 4] [--supernet CKPT] [--json]

Writes OUT/bench_evolution.json. The figures are reported whichever method wins.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench_codesign import ensure_supernet  # benchmarks/ is the script's folder, so it is on sys.path

from recpim.arch.model.space import nasrec_small

# NASRec-Small's operators and bit choices on 4 blocks with widths up to 256 (as bench_codesign.py):
# its supernet trains in a few minutes on 2 shared cores.
BENCH_SPACE = nasrec_small(num_blocks=4, name="evolution_bench", description="NASRec-Small operators, 4 blocks",
                           dense_widths=(16, 32, 64, 128, 256), sparse_widths=(16, 32, 48))
DATA = "synthetic"


class MemoEvaluator:
    """evaluate_candidate with a memo by candidate (scoring is deterministic, so a candidate seen
    before, in any run, gets the same evaluation without being scored again)."""

    def __init__(self, state):
        self.state = state
        self.memo: dict[str, Any] = {}
        self.scored = 0
        self.seconds = 0.0

    def __call__(self, index: int, candidate, parent: int | None):
        from recpim.search.evaluate import evaluate_candidate

        key = candidate.key()
        if key not in self.memo:
            began = time.perf_counter()
            self.memo[key] = evaluate_candidate(self.state, index, candidate, parent)
            self.seconds += time.perf_counter() - began
            self.scored += 1
        return self.memo[key].reused_as(index, parent)


def run_random(evaluate: MemoEvaluator, space, seed: int, budget: int) -> list:
    from recpim.search.candidate import sample_candidate
    from recpim.search.evolution import candidate_rng

    return [evaluate(i, sample_candidate(space, {}, candidate_rng(seed, i)), None) for i in range(budget)]


def run_evolution(evaluate: MemoEvaluator, space, settings, objective, budget: int) -> list:
    from recpim.search.evolution import RegularizedEvolution

    evolution = RegularizedEvolution(space, {}, settings, objective)
    history: list = []
    while len(history) < budget:
        indices = [i for i in settings.generation_indices(evolution.generation) if i < budget]
        generation = []
        for index in indices:
            candidate, parent = evolution.propose(index)
            generation.append(evaluate(index, candidate, parent))
        evolution.admit(generation)
        history.extend(generation)
    return history


def points(history: list) -> np.ndarray:
    """(log loss, energy pJ) of the feasible candidates of a run."""
    rows = [(r.metrics.logloss, r.metrics.energy_pj_per_inference) for r in history if r.feasible]
    return np.array(rows, dtype=float).reshape(-1, 2)


def hypervolume_2d(front: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """Area dominated by `front` (both columns minimised) inside the box [low, high], normalised to
    the box's area; points outside the box are clipped to it."""
    if len(front) == 0:
        return 0.0
    scaled = np.clip((front - low) / np.where(high > low, high - low, 1.0), 0.0, 1.0)
    order = np.argsort(scaled[:, 0], kind="stable")
    area, best_y = 0.0, 1.0
    for x, y in scaled[order]:
        if y < best_y:
            area += (1.0 - x) * (best_y - y)
            best_y = y
    return float(area)


def summarise(history: list, low: np.ndarray, high: np.ndarray, energy_cap_pj: float) -> dict[str, Any]:
    pts = points(history)
    keys = [r.candidate.key() for r in history]
    under_cap = pts[pts[:, 1] <= energy_cap_pj] if len(pts) else pts
    return {"candidates": len(history), "feasible": int(len(pts)), "duplicates": len(keys) - len(set(keys)),
            "random_generation0": sum(1 for r in history if r.parent is None),
            "hypervolume": round(hypervolume_2d(pts, low, high), 4),
            "best_logloss": round(float(pts[:, 0].min()), 5) if len(pts) else None,
            "best_logloss_at_energy_cap": round(float(under_cap[:, 0].min()), 5) if len(under_cap) else None,
            "min_energy_pj": round(float(pts[:, 1].min()), 1) if len(pts) else None}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/bench_evolution"))
    parser.add_argument("--supernet", type=Path, default=None, help="reuse this checkpoint (else train one)")
    parser.add_argument("--steps", type=int, default=400, help="supernet training steps")
    parser.add_argument("--train-batch", type=int, default=256)
    parser.add_argument("--chip", default="isaac")
    parser.add_argument("--budget", type=int, default=40, help="candidates per search")
    parser.add_argument("--population", type=int, default=12)
    parser.add_argument("--sample", type=int, default=6)
    parser.add_argument("--children", type=int, default=4)
    parser.add_argument("--score-rows", type=int, default=1024, help="validation rows scored")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)

    import torch

    from recpim.pim.presets import load_chip
    from recpim.search.evaluate import EvalContext, worker_state
    from recpim.search.evolution import EvolutionSettings
    from recpim.search.objectives import Objective

    torch.set_num_threads(1)
    began = time.perf_counter()
    checkpoint = args.supernet or ensure_supernet(args.out, BENCH_SPACE, args.steps, args.train_batch, progress=False)
    objective = Objective(kind="pareto")
    context = EvalContext(chip=load_chip(args.chip), supernet=str(Path(checkpoint).resolve()), data=DATA,
                          objective=objective, accuracy="crossbar", score_rows=args.score_rows)
    state = worker_state(context)
    space = state.supernet.space
    evaluate = MemoEvaluator(state)
    runs: dict[int, dict[str, list]] = {}
    for seed in args.seeds:
        settings = EvolutionSettings(population=args.population, sample=args.sample, children=args.children,
                                     seed=seed)
        runs[seed] = {"evolution": run_evolution(evaluate, space, settings, objective, args.budget),
                      "random": run_random(evaluate, space, seed, args.budget)}
        print(f"seed {seed}: {evaluate.scored} candidates scored so far, {evaluate.seconds:.0f} s", file=sys.stderr)

    everything = np.vstack([points(h) for by_method in runs.values() for h in by_method.values()])
    low, high = everything.min(axis=0), np.median(everything, axis=0)
    energy_cap_pj = float(high[1])
    per_seed = {seed: {method: summarise(h, low, high, energy_cap_pj) for method, h in by_method.items()}
                for seed, by_method in runs.items()}
    result = {"chip": args.chip, "data": DATA, "space": space.name, "supernet": str(checkpoint),
              "supernet_steps": args.steps if args.supernet is None else None, "budget": args.budget,
              "population": args.population, "sample": args.sample, "children": args.children,
              "score_rows": args.score_rows, "seeds": args.seeds, "energy_cap_pj": round(energy_cap_pj, 1),
              "box": {"logloss": [float(low[0]), float(high[0])], "energy_pj": [float(low[1]), float(high[1])]},
              "per_seed": {str(s): v for s, v in per_seed.items()},
              "summary": summary(per_seed), "candidates_scored": evaluate.scored,
              "seconds": round(time.perf_counter() - began, 1)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_evolution.json").write_text(json.dumps(result, indent=2))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return result


def summary(per_seed: dict[int, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Per method: the median and range over seeds of each figure; and in how many seeds evolution
    beat random (strictly) on each."""
    out: dict[str, Any] = {}
    figures = ("hypervolume", "best_logloss", "best_logloss_at_energy_cap")
    for method in ("evolution", "random"):
        out[method] = {}
        for figure in figures:
            values = [v[method][figure] for v in per_seed.values() if v[method][figure] is not None]
            out[method][figure] = {"median": statistics.median(values) if values else None,
                                   "min": min(values, default=None), "max": max(values, default=None)}
    wins = {}
    for figure in figures:
        larger_is_better = figure == "hypervolume"
        count = 0
        for v in per_seed.values():
            e, r = v["evolution"][figure], v["random"][figure]
            if e is not None and (r is None or (e > r if larger_is_better else e < r)):
                count += 1
        wins[figure] = f"{count}/{len(per_seed)}"
    out["evolution_wins"] = wins
    return out


def print_table(result: dict[str, Any]) -> None:
    print(f"evolution vs random search on {result['chip']} ({result['space']}, {result['budget']} candidates per "
          f"search, population {result['population']}, sample {result['sample']}, children {result['children']}, "
          f"{result['score_rows']} scored rows); energy cap for 'at fixed energy' = median "
          f"{result['energy_cap_pj']:.3g} pJ")
    print("| seed | method | hypervolume | best log loss | best log loss, energy <= cap | duplicates |")
    print("|---|---|---|---|---|---|")
    for seed, by_method in result["per_seed"].items():
        for method, row in by_method.items():
            print(f"| {seed} | {method} | {row['hypervolume']:.4f} | {row['best_logloss']} | "
                  f"{row['best_logloss_at_energy_cap']} | {row['duplicates']} |")
    s = result["summary"]
    for method in ("evolution", "random"):
        parts = [f"{figure} median {v['median']} ({v['min']}-{v['max']})" for figure, v in s[method].items()]
        print(f"{method}: " + "; ".join(parts))
    print(f"evolution strictly better in: {s['evolution_wins']} seeds; {result['candidates_scored']} candidates "
          f"scored, {result['seconds']} s")


if __name__ == "__main__":
    main()

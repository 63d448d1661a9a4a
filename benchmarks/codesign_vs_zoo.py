"""Does the search pay off? (issue 21, part 6; run through `bench_codesign.py --vs-zoo CKPT`)

With a supernet trained on the ranking benchmark's task (bench_ranking.py --keep-checkpoint CKPT),
a joint co-search (Pareto front of hardware-aware log loss, energy and latency) runs for the
`default` chip; its study and a summary of every candidate are written before anything else runs,
so a later failure loses no search (a rerun resumes the study). DLRM and DeepFM from the zoo are
costed on the same chip (8-bit) and trained standalone with `--zoo-seeds` seeds. Among the search's
candidates that cost less energy per inference than the cheaper zoo model (every candidate and the
zoo costed by today's model), the `--screen` best by supernet score are trained standalone the same
way (same steps, recipe and data; quantisation-aware at their own bits, the bits their energy
assumes) with the first seed, as NASRec trains its search's top models from scratch; the `--retrain`
best of them on validation are trained with every seed. Every standalone result is kept on disk as
it is made (OUT/vs_zoo/standalone_runs.json), so an interrupted run resumes.

Selection and report are kept apart: the searched model is the retrained candidate with the best
mean VALIDATION log loss; every figure reported is on the TEST split, as mean and standard deviation
over the seeds. Standalone models are scored on `--eval-rows` rows of each split (default: all of
them: 4096 rows leave a row-sampling error of about 0.01 in a log loss, more than the margins at
stake); the search itself scores its candidates on `--score-rows`. The searched model "pays off" when
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
    state = worker_state(settings.eval_context())
    dataset = state.dataset
    eval_rows = args.eval_rows or None      # None: the whole validation and test splits
    seeds = list(range(args.zoo_seeds))
    recipe = trained.model_copy(update={"steps": args.zoo_steps, "seed": 0})
    runs = StandaloneRuns(folder / "standalone_runs.json", settings.data, settings.data_seed, args.zoo_steps,
                          recipe.model_dump(mode="json"), eval_rows)
    zoo = {p.name: asdict(p) for p in zoo_points(chip, dataset, 0, 64, data=settings.data)}
    for name, point in zoo.items():
        scores = [runs.get(name, seed, lambda seed=seed, name=name: _baseline_job(
            settings.data, settings.data_seed, name, recipe.model_dump(mode="json"), seed, eval_rows,
            test_split=True)) for seed in seeds]
        point["val_logloss"] = [s["logloss"] for s in scores]
        point["test_logloss"] = [s["logloss_test"] for s in scores]
        print(f"  {name}: test {statistics.mean(point['test_logloss']):.4f} "
              f"(+- {_spread(point['test_logloss']):.4f})", file=sys.stderr)
    # every candidate costed by today's model, like the zoo (a resumed study keeps the costs it was
    # searched with, and the cost model may have changed since)
    costs = {r.index: _cost_now(state, r) for r in search.history if r.feasible}
    cheapest_zoo = min(p["energy_pj_per_inference"] for p in zoo.values())
    cheaper = sorted((r for r in search.history if costs.get(r.index) and costs[r.index][0] < cheapest_zoo),
                     key=lambda r: r.metrics.logloss)

    def standalone(record, seed: int) -> dict[str, float]:
        def train() -> dict[str, float]:
            score, model = train_standalone(record.candidate.subnet, dataset, args.zoo_steps, seed, config=recipe,
                                            quant=True, max_rows=eval_rows, return_model=True)
            return {"logloss": score.logloss,
                    "logloss_test": score_standalone(model, dataset, "test", None, eval_rows)[0]}
        return runs.get(record.candidate.subnet.to_dict(), seed, train)

    def row(record, scores: list[dict[str, float]]) -> dict[str, Any]:
        energy, latency = costs[record.index]
        return {"index": record.index, "supernet_logloss": record.metrics.logloss,
                "val_logloss": [s["logloss"] for s in scores], "test_logloss": [s["logloss_test"] for s in scores],
                "energy_pj_per_inference": energy, "latency_ns_per_inference": latency,
                "subnet": record.candidate.subnet.to_dict()}

    # NASRec's last step: the supernet's best few trained from scratch (one seed), the best of them on
    # validation trained with every seed. The supernet's log losses of the cheap candidates lie within a
    # few thousandths of each other, so which one it ranks first is close to chance; the screen is what
    # turns its ranking into a model.
    screened = []
    for record in cheaper[: max(args.screen, args.retrain)]:
        screened.append(row(record, [standalone(record, seeds[0])]))
        print(f"  screen candidate {record.index}: supernet {record.metrics.logloss:.4f}, standalone seed "
              f"{seeds[0]} val {screened[-1]['val_logloss'][0]:.4f}, {costs[record.index][0]:.4g} pJ/inf",
              file=sys.stderr)
    by_index = {r.index: r for r in cheaper}
    finalists = sorted(screened, key=lambda r: r["val_logloss"][0])[: args.retrain]
    retrained = []
    for entry in finalists:
        record = by_index[entry["index"]]
        retrained.append(row(record, [standalone(record, seed) for seed in seeds]))
        print(f"  candidate {record.index}: supernet {record.metrics.logloss:.4f}, standalone at its bits "
              f"val {statistics.mean(retrained[-1]['val_logloss']):.4f} "
              f"test {statistics.mean(retrained[-1]['test_logloss']):.4f}, {costs[record.index][0]:.4g} pJ/inf",
              file=sys.stderr)
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
    screen_tau = _kendall([r["supernet_logloss"] for r in screened], [r["val_logloss"][0] for r in screened])
    return {"kind": "codesign_vs_zoo", "chip": chip.name, "data": settings.data, "supernet": str(checkpoint),
            "budget": args.budget, "standalone_steps": args.zoo_steps, "seeds": seeds,
            "score_rows": rows_or_all(args.score_rows),
            "eval_rows": rows_or_all(eval_rows), "recipe": recipe.model_dump(mode="json"),
            "candidates_cheaper_than_zoo": len(cheaper), "screened": screened,
            "screen_kendall_supernet_vs_standalone": screen_tau,
            "supernet_favourite_is_screen_best": bool(screened and min(
                screened, key=lambda r: r["val_logloss"][0])["index"] == screened[0]["index"]),
            "retrained": retrained, "pick": pick["index"] if pick else None,
            "zoo": {name: {k: p[k] for k in ("energy_pj_per_inference", "latency_ns_per_inference", "val_logloss",
                                             "test_logloss")} for name, p in zoo.items()},
            "verdict": verdict,
            "pays_off": bool(verdict and all(v["beats_beyond_spread"] and v["energy_ratio"] < 1
                                             for k, v in verdict.items() if k != "spread")),
            "search_s": round(search_s, 1), "wall_s": round(time.perf_counter() - began, 1)}


def rows_or_all(rows: int | None) -> int | str:
    return rows if rows else "all"


def _kendall(a: list[float], b: list[float]) -> float | None:
    if len(a) < 2:
        return None
    from scipy.stats import kendalltau

    return float(kendalltau(a, b).statistic)


def _cost_now(state, record) -> tuple[float, float] | None:
    """(energy pJ, latency ns) per inference of a search record's candidate on its chip by today's analytic
    model, costed as the search costs it; None when today's model no longer fits it on the chip."""
    from recpim.errors import RecpimError
    from recpim.search.evaluate import cost_on_chip

    try:
        chip = record.candidate.chip_for(state.context.chip)
        report = cost_on_chip(state, record.candidate, chip, record.index)[1].report
    except RecpimError as error:
        print(f"  candidate {record.index} no longer costs: {type(error).__name__}: {error}", file=sys.stderr)
        return None
    return float(report.energy_pj_per_inference), float(report.latency_ns_per_inference)


class StandaloneRuns:
    """Standalone training results on disk (OUT/vs_zoo/standalone_runs.json), keyed by the model and the
    seed within one recipe, data, step count and row count: an interrupted comparison resumes where it
    stopped, and a rerun with more candidates trains only the new ones. Each result is written (atomically)
    the moment it exists. Standalone training is deterministic given these inputs (arch/train/loop.py)."""

    def __init__(self, path: Path, data: str, data_seed: int, steps: int, recipe: dict, eval_rows: int | None):
        self.path = path
        self.scope = json.dumps([data, data_seed, steps, recipe, eval_rows], sort_keys=True)
        self.entries: dict[str, dict] = json.loads(path.read_text()) if path.is_file() else {}

    def get(self, model: str | dict, seed: int, train) -> dict[str, float]:
        key = json.dumps([self.scope, model, seed], sort_keys=True)
        if key not in self.entries:
            self.entries[key] = train()
            partial = self.path.with_suffix(".partial")
            partial.write_text(json.dumps(self.entries))
            partial.replace(self.path)
        return self.entries[key]


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
    tau = result["screen_kendall_supernet_vs_standalone"]
    print(f"{result['candidates_cheaper_than_zoo']} candidates cost less energy than both zoo models; "
          f"{len(result['screened'])} screened (seed {result['seeds'][0]}): Kendall tau supernet vs standalone "
          f"{'n/a' if tau is None else f'{tau:.2f}'}, the supernet's favourite is the screen's best: "
          f"{'yes' if result['supernet_favourite_is_screen_best'] else 'no'}; pays off: "
          f"{'yes' if result['pays_off'] else 'no'}")

"""Co-design benchmark: accuracy-only search then mapping, versus joint co-search, on the ISAAC preset.

On synthetic CTR data (arch/data/synthetic.py) with one supernet trained here (or reused from --out),
for each seed, three regularized evolutions with the same seed, sizes and number of candidates:

(a) accuracy_only: log loss alone at each subnet's bits, no hardware in the loop (objective
    -logloss). Its best subnet is then mapped onto ISAAC and scored hardware-aware (simulated
    crossbars with ISAAC's ADC): what deploying it would give.
(a') hw_accuracy_only: the same, but scored hardware-aware during the search (still no cost):
    a stronger baseline that separates "knowing the ADC" from "knowing the cost".
(b) joint: hardware-aware score and analytic cost in the loop, Pareto front of log loss, energy
    and latency.

Against each baseline we take ONE design: among (b)'s candidates whose hardware-aware VALIDATION
log loss (the rows the searches scored) is equal to or better than the baseline's, the one with the
lowest energy per inference. Its energy-efficiency and throughput ratios (analytic model, which the
search ranks by, and the discrete-event simulator) describe that same design, and both it and the
baseline are then scored on as many held-out TEST rows, which no search saw: `test_logloss_delta`
says whether the match on validation survives. Per seed and as geometric means with their range over
the seeds. (b)'s best-log-loss candidate is listed too. DLRM and DeepFM (the zoo, on the same synthetic schema,
8-bit) are placed on the same chip and axes; their log loss comes from training each alone for
--zoo-steps steps, scored with every linear layer on ISAAC's simulated crossbars (and in float).

    .venv/bin/python benchmarks/bench_codesign.py [--budget 40] [--steps 400] [--seeds 0 1 2] [--workers 2]

With --vs-zoo CKPT (a supernet from bench_ranking.py --keep-checkpoint) it instead compares the
co-search's best models, retrained standalone, with DLRM and DeepFM on the `default` chip
(benchmarks/codesign_vs_zoo.py).

Writes OUT/bench_codesign.json and prints a table. The paper this project follows claims 1.8x energy
efficiency and 1.5x performance from co-design; the printout states what recpim finds.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from recpim.arch.model.space import SearchSpace, nasrec_small
from recpim.search.zoo_baselines import zoo_points

# NASRec-Small's operators and bit choices on 4 blocks with widths up to 256: a space whose supernet
# trains in about a minute on 2 cores (--space small uses the published 7-block table instead).
BENCH_SPACE = nasrec_small(num_blocks=4, name="codesign_bench", description="NASRec-Small operators, 4 blocks",
                           dense_widths=(16, 32, 64, 128, 256), sparse_widths=(16, 32, 48))
DATA = "synthetic"


def ensure_supernet(out: Path, space: SearchSpace, steps: int, batch: int, progress: bool = True) -> Path:
    """Train the supernet once; a later run with the same settings reuses the checkpoint."""
    from recpim.arch.data.datasets import open_dataset
    from recpim.arch.train.checkpoints import load_checkpoint
    from recpim.arch.train.loop import TrainConfig, train_supernet

    path = out / f"supernet_{space.name}_{steps}x{batch}.pt"
    config = TrainConfig(data=DATA, space=space.name, steps=steps, batch_size=batch)
    if path.is_file() and load_checkpoint(path)["config"] == config.model_dump(mode="json"):
        return path
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    train_supernet(open_dataset(DATA), config, space=space, checkpoint=path, progress=progress)
    print(f"supernet: {steps} steps in {time.perf_counter() - began:.0f} s -> {path}", file=sys.stderr)
    return path


def figures(metrics, des: dict[str, Any] | None) -> dict[str, Any]:
    keys = ("logloss", "energy_pj_per_inference", "latency_ns_per_inference", "throughput_inf_per_s",
            "crossbars_footprint", "power_w")
    row = {k: metrics.value(k) for k in keys}
    if des is not None:
        row.update(des_energy_pj_per_inference=des["energy_pj_per_inference"],
                   des_throughput_inf_per_s=des["throughput_inf_per_s"],
                   des_latency_ns_per_inference=des["latency_ns_per_inference"])
    return row


def des_report(state, candidate, batch: int) -> dict[str, Any]:
    from recpim.arch.model.lowering import lower_subnet
    from recpim.mapping.cost import evaluate_cost

    chip = candidate.chip_for(state.context.chip)
    graph = lower_subnet(candidate.subnet, state.dataset.schema)
    return evaluate_cost(graph, chip, engine="des", batch=batch, inputs=state.cost_inputs(chip)).report.to_json_dict()


def test_logloss(state, candidate) -> float:
    """`candidate` scored as the search scored it, on as many TEST rows as the search's validation
    rows: the held-out figure the selection never saw."""
    from recpim.mapping.arithmetic import crossbar_arithmetic
    from recpim.search.evaluate import score_accuracy

    chip = candidate.chip_for(state.context.chip)
    crossbar = crossbar_arithmetic(chip) if state.context.accuracy == "crossbar" else None
    return score_accuracy(state, candidate, crossbar, split="test").logloss


def run_seed(seed: int, args: argparse.Namespace, checkpoint: Path, chip) -> dict[str, Any]:
    """The three searches of one seed and the comparison at equal or better log loss."""
    from recpim.search.evaluate import evaluate_candidate, worker_state
    from recpim.search.evolution import EvolutionSettings
    from recpim.search.objectives import Objective
    from recpim.search.run import resolve_settings, run_search

    evolution = EvolutionSettings(population=args.population, sample=args.sample, children=args.children, seed=seed)
    common = dict(evolution=evolution, score_rows=args.score_rows)
    searches = {  # name -> (objective, accuracy)
        "accuracy_only": resolve_settings(chip, checkpoint, DATA, objective=Objective(kind="reward"),
                                          accuracy="quant", **common),
        "hw_accuracy_only": resolve_settings(chip, checkpoint, DATA, objective=Objective(kind="reward"),
                                             accuracy="crossbar", **common),
        "joint": resolve_settings(chip, checkpoint, DATA, objective=Objective(kind="pareto"), accuracy="crossbar",
                                  **common)}
    runs = {}
    for name, settings in searches.items():
        folder = args.out / f"seed{seed}" / name
        shutil.rmtree(folder, ignore_errors=True)
        t = time.perf_counter()
        runs[name] = run_search(settings, args.budget, folder / "study.db", backend="local", workers=args.workers,
                                progress=True, resimulate=False)
        print(f"seed {seed} {name}: {args.budget} candidates in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    joint = searches["joint"]
    state = worker_state(joint.eval_context())
    # Baselines deployed: each accuracy-only winner scored hardware-aware and costed on the chip.
    baselines = {}
    for name in ("accuracy_only", "hw_accuracy_only"):
        winner = runs[name].top_k[0]
        baselines[name] = evaluate_candidate(state, winner.index, winner.candidate)
    feasible = [r for r in runs["joint"].history if r.feasible]
    rows: dict[str, Any] = {}
    ratios: dict[str, Any] = {}
    des_cache: dict[str, dict[str, Any]] = {}

    def des(record) -> dict[str, Any]:
        key = record.candidate.key()
        if key not in des_cache:
            des_cache[key] = des_report(state, record.candidate, joint.batch)
        return des_cache[key]

    closest = min(feasible, key=lambda r: r.metrics.logloss)
    rows["co_search_best_logloss"] = figures(closest.metrics, des(closest))
    for base_name, base in baselines.items():
        rows[f"{base_name}_then_mapped"] = figures(base.metrics, des(base))
        # one design per comparison (module docstring): selected on validation, then read on test
        matched = [r for r in feasible if r.metrics.logloss <= base.metrics.logloss]
        pick = min(matched, key=lambda r: r.metrics.energy_pj_per_inference, default=None)
        key = f"co_search_vs_{base_name}"
        if pick is None:
            ratios[key] = None
            continue
        rows[f"co_search_pick_vs_{base_name}"] = figures(pick.metrics, des(pick))
        b, n, bd, nd = base.metrics, pick.metrics, des(base), des(pick)
        test_pick, test_base = (test_logloss(state, record.candidate) for record in (pick, base))
        rows[f"co_search_pick_vs_{base_name}"]["test_logloss"] = test_pick
        rows[f"{base_name}_then_mapped"]["test_logloss"] = test_base
        ratios[key] = {
            "candidate": pick.index,
            "energy_efficiency_analytic": b.energy_pj_per_inference / n.energy_pj_per_inference,
            "energy_efficiency_des": bd["energy_pj_per_inference"] / nd["energy_pj_per_inference"],
            "throughput_analytic": n.throughput_inf_per_s / b.throughput_inf_per_s,
            "throughput_des": nd["throughput_inf_per_s"] / bd["throughput_inf_per_s"],
            "val_logloss_delta": n.logloss - b.logloss, "test_logloss_delta": test_pick - test_base,
            "matched_candidates": len(matched)}
    return {"seed": seed, "accuracy_only_quant_logloss": runs["accuracy_only"].top_k[0].metrics.logloss,
            "front_size": len(runs["joint"].front), "rows": rows, "ratios": ratios}


def geometric_means(seeds: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in seeds[0]["ratios"]:
        values = [s["ratios"][key] for s in seeds]
        if any(v is None for v in values):
            out[key] = {"matched_seeds": sum(v is not None for v in values)}
            values = [v for v in values if v is not None]
            if not values:
                continue
        out.setdefault(key, {})
        for metric in ("energy_efficiency_analytic", "energy_efficiency_des", "throughput_analytic",
                       "throughput_des"):
            out[key][metric] = math.exp(sum(math.log(v[metric]) for v in values) / len(values))
            out[key][f"{metric}_range"] = [min(v[metric] for v in values), max(v[metric] for v in values)]
        deltas = [v["test_logloss_delta"] for v in values]
        out[key]["test_logloss_delta_mean"] = sum(deltas) / len(deltas)
        out[key]["test_logloss_delta_range"] = [min(deltas), max(deltas)]
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/bench_codesign"))
    parser.add_argument("--space", choices=("bench", "small"), default="bench")
    parser.add_argument("--steps", type=int, default=400, help="supernet training steps")
    parser.add_argument("--train-batch", type=int, default=256)
    parser.add_argument("--budget", type=int, default=40, help="candidates per search")
    parser.add_argument("--population", type=int, default=12)
    parser.add_argument("--sample", type=int, default=6)
    parser.add_argument("--children", type=int, default=4)
    parser.add_argument("--score-rows", type=int, default=1024, help="validation rows scored")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--zoo-steps", type=int, default=400, help="0: zoo cost only")
    parser.add_argument("--vs-zoo", default=None, metavar="CKPT",
                        help="searched models vs DLRM/DeepFM with this supernet (see the module docstring)")
    parser.add_argument("--chip", default="default", help="--vs-zoo: the chip preset")
    parser.add_argument("--screen", type=int, default=24,
                        help="--vs-zoo: the supernet's best cheap candidates trained standalone with one seed")
    parser.add_argument("--retrain", type=int, default=3,
                        help="--vs-zoo: the screen's best on validation, trained with every seed")
    parser.add_argument("--eval-rows", type=int, default=0,
                        help="--vs-zoo: validation and test rows scoring every standalone model (0: all)")
    parser.add_argument("--zoo-seeds", type=int, default=3, help="--vs-zoo: seeds of every standalone training")
    parser.add_argument("--fresh-search", action="store_true", help="--vs-zoo: start the study again (default: "
                                                                      "resume the one in OUT/vs_zoo)")
    args = parser.parse_args(argv)
    if args.vs_zoo:
        from codesign_vs_zoo import print_vs_zoo, run_vs_zoo

        args.out.mkdir(parents=True, exist_ok=True)
        result = run_vs_zoo(args)
        (args.out / "codesign_vs_zoo.json").write_text(json.dumps(result, indent=2, default=float) + "\n")
        print_vs_zoo(result)
        return result

    from recpim.pim.presets import load_chip
    from recpim.search.evaluate import EvalContext, worker_state
    from recpim.search.run import resolve_settings

    began = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    space = BENCH_SPACE if args.space == "bench" else nasrec_small()
    checkpoint = ensure_supernet(args.out, space, args.steps, args.train_batch)
    chip = load_chip("isaac")
    seeds = [run_seed(seed, args, checkpoint, chip) for seed in args.seeds]
    context: EvalContext = resolve_settings(chip, checkpoint, DATA, score_rows=args.score_rows).eval_context()
    zoo = [asdict(p) for p in zoo_points(chip, worker_state(context).dataset, args.zoo_steps, 64, args.score_rows,
                                         data=DATA)]
    result = {"chip": chip.name, "data": DATA, "space": space.name, "supernet_steps": args.steps,
              "candidates_per_search": args.budget, "score_rows": args.score_rows,
              "evolution": {"population": args.population, "sample": args.sample, "children": args.children},
              "seeds": seeds, "geometric_mean": geometric_means(seeds), "zoo": zoo,
              "paper_claim": {"energy_efficiency": 1.8, "throughput": 1.5},
              "wall_s": round(time.perf_counter() - began, 1)}
    (args.out / "bench_codesign.json").write_text(json.dumps(result, indent=2, default=float) + "\n")
    print_summary(result)
    return result


def print_summary(result: dict[str, Any]) -> None:
    print(f"co-design on {result['chip']} ({result['space']} space, {result['candidates_per_search']} candidates per "
          f"search, log loss on {result['score_rows']} validation rows, {result['wall_s']} s)")
    header = f"{'':46s} {'log loss':>9s} {'pJ/inf':>11s} {'inf/s':>11s} {'DES pJ/inf':>11s} {'DES inf/s':>11s}"
    for seed in result["seeds"]:
        quant = seed["accuracy_only_quant_logloss"]
        print(f"seed {seed['seed']} (accuracy-only winner: quantised log loss {quant:.4f}; co-search front "
              f"{seed['front_size']} points)")
        print(header)
        for name, row in seed["rows"].items():
            print(f"{name:46s} {row['logloss']:9.4f} {row['energy_pj_per_inference']:11.4g} "
                  f"{row['throughput_inf_per_s']:11.4g} {row['des_energy_pj_per_inference']:11.4g} "
                  f"{row['des_throughput_inf_per_s']:11.4g}")
    print(header)
    for zoo in result["zoo"]:
        loss = f"{zoo['logloss']:9.4f}" if zoo["logloss"] is not None else f"{'n/a':>9s}"
        print(f"{zoo['name'] + ' (zoo)':46s} {loss} {zoo['energy_pj_per_inference']:11.4g} "
              f"{zoo['throughput_inf_per_s']:11.4g} {zoo['des_energy_pj_per_inference']:11.4g} "
              f"{zoo['des_throughput_inf_per_s']:11.4g}")
    if result["zoo"] and result["zoo"][0].get("logloss_note"):
        print(f"zoo log loss: {result['zoo'][0]['logloss_note']}")
    print(f"geometric mean over seeds {[s['seed'] for s in result['seeds']]} (one co-searched design per baseline: "
          "the lowest-energy one at equal or better validation log loss; test rows unseen by every search):")
    for key, ratio in result["geometric_mean"].items():
        if "energy_efficiency_analytic" not in ratio:
            print(f"  {key}: no co-searched candidate matched the baseline's log loss")
            continue
        seeds = f" ({ratio['matched_seeds']} seeds matched)" if "matched_seeds" in ratio else ""
        print(f"  {key}: energy efficiency {ratio['energy_efficiency_analytic']:.2f}x "
              f"(DES {ratio['energy_efficiency_des']:.2f}x, "
              f"range {_range(ratio['energy_efficiency_analytic_range'])}), "
              f"throughput {ratio['throughput_analytic']:.2f}x (DES {ratio['throughput_des']:.2f}x, range "
              f"{_range(ratio['throughput_analytic_range'])}); test log loss minus the baseline's "
              f"{ratio['test_logloss_delta_mean']:+.4f} (range {ratio['test_logloss_delta_range'][0]:+.4f} to "
              f"{ratio['test_logloss_delta_range'][1]:+.4f}){seeds}")
    print("paper claim: 1.8x energy efficiency, 1.5x performance")


def _range(values: list[float]) -> str:
    return f"{values[0]:.2f}-{values[1]:.2f}"


if __name__ == "__main__":
    main()

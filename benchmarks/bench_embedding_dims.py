"""Searched embedding dims against lookup energy (issue 25, item 5), from a finished search.

    recpim supernet train --data criteo:PATH --space small --embedding-dims 2,4,16 --steps 300 \\
        --batch-size 256 --out dims.pt
    recpim search --chip isaac --supernet dims.pt --budget 32 --accuracy quant --finetune-steps 20 \\
        --score-rows 1000 --backend serial --out search --no-report
    python benchmarks/bench_embedding_dims.py --search search --supernet dims.pt --chip isaac

prints (1) the search's Pareto front with each point's embedding dim, log loss, energy and the
embedding stage's energy (from its stored report), and (2) the front's most accurate subnet
re-evaluated at each dim of the space, everything else fixed, scored and costed exactly as the
search does (search/evaluate.py, the settings the search stored in its inputs.json).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--search", type=Path, required=True, help="the search's --out folder")
    parser.add_argument("--supernet", type=Path, required=True)
    parser.add_argument("--chip", default="isaac")
    parser.add_argument("--finetune-steps", type=int, default=20)
    parser.add_argument("--score-rows", type=int, default=1000)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from recpim.arch.model.subnet import SubnetConfig
    from recpim.arch.train.checkpoints import read_checkpoint
    from recpim.pim.presets import load_chip
    from recpim.search.candidate import Candidate
    from recpim.search.evaluate import evaluate_candidate, worker_state
    from recpim.search.run import resolve_settings

    space = read_checkpoint(args.supernet).space
    rows = list(csv.DictReader((args.search / "front.csv").open()))
    print(f"Pareto front of {args.search} (space {space.name}, dims {list(space.embedding_dims)})")
    print("| point | emb dim | emb bits | log loss | energy (nJ/inf) | embedding stage (nJ/inf) |")
    print("|---|---|---|---|---|---|")
    subnets = []
    for row in sorted(rows, key=lambda r: float(r["energy_pj_per_inference"])):
        subnet = json.loads(row["subnet"])
        report = json.loads((args.search / row["report"]).read_text())
        subnets.append((float(row["logloss"]), subnet))
        print(f"| {row['subnet_id']} | {subnet.get('embedding_dim')} | {subnet['embedding_bits']} | "
              f"{float(row['logloss']):.4f} | {float(row['energy_pj_per_inference']) / 1e3:.1f} | "
              f"{report['embedding_energy_pj_per_inference'] / 1e3:.1f} |")

    best = SubnetConfig.from_dict(min(subnets, key=lambda pair: pair[0])[1], space=space)
    settings = resolve_settings(load_chip(args.chip), args.supernet, accuracy="quant",
                                finetune_steps=args.finetune_steps, score_rows=args.score_rows)
    context = settings.eval_context()
    state = worker_state(context)
    print(f"\nthe front's most accurate subnet at each dim (all else fixed), on {args.chip}")
    print("| emb dim | log loss | AUC | energy (nJ/inf) | embedding stage (nJ/inf) | lookup share |")
    print("|---|---|---|---|---|---|")
    from recpim.arch.model.lowering import lower_subnet
    from recpim.mapping.cost import evaluate_cost

    for dim in space.embedding_dims:
        subnet = best.model_copy(update={"embedding_dim": dim})
        result = evaluate_candidate(state, 0, Candidate(subnet=subnet))
        report = evaluate_cost(lower_subnet(subnet, state.dataset.schema), settings.chip, engine="analytic",
                               batch=context.batch).report
        m = result.metrics
        print(f"| {dim} | {m.logloss:.4f} | {m.auc:.4f} | {m.energy_pj_per_inference / 1e3:.1f} | "
              f"{report.embedding_energy_pj_per_inference / 1e3:.1f} | "
              f"{report.embedding_energy_pj_per_inference / report.energy_pj_per_inference:.1%} |")


if __name__ == "__main__":
    main()

"""Robust vs ideal-cell co-search (issue 24, item 5): prints its figures; a script, not a test.

A 3-block supernet (tests/tiny_supernet.py's space) trained for --steps steps on synthetic:3000; for
each evolution seed, the first generation (--population random candidates) is searched twice on
ISAAC's tiles (2 x 2 mesh): once on ideal cells (the search's ideal scoring), once with Gaussian
programming variation --sigma (level spacings) ranked by the 90th-percentile log loss over --draws
programmed chips (`recpim search --accuracy-under-devices`). Each search's pick (best log loss) is
then scored on --fresh chips the searches never saw (seeds 1000..): mean log loss, and its loss
against its own ideal cells.

Run: flock /tmp/recpim-bench.lock nice -n 15 .venv/bin/python benchmarks/bench_robust_search.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from tiny_supernet import DATA, tiny_space  # noqa: E402

from recpim.arch.data.datasets import open_dataset  # noqa: E402
from recpim.arch.train.device_draws import score_device_draws  # noqa: E402
from recpim.arch.train.loop import TrainConfig, configure_threads, load_supernet, train_supernet  # noqa: E402
from recpim.mapping.arithmetic import crossbar_arithmetic  # noqa: E402
from recpim.pim.presets import load_chip  # noqa: E402
from recpim.search.evolution import EvolutionSettings  # noqa: E402
from recpim.search.objectives import Objective  # noqa: E402
from recpim.search.run import resolve_settings, run_search  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="supernet training steps")
    parser.add_argument("--sigma", type=float, default=0.3, help="programming sigma, level spacings")
    parser.add_argument("--draws", type=int, default=5, help="programmed chips per candidate in the search")
    parser.add_argument("--fresh", type=int, default=8, help="fresh chips each pick is scored on afterwards")
    parser.add_argument("--population", type=int, default=6)
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    configure_threads()
    space = tiny_space("bench_robust_tiny")
    folder = Path(tempfile.mkdtemp(prefix="robust"))
    checkpoint = folder / "tiny.pt"
    began = time.perf_counter()
    train_supernet(open_dataset(DATA), TrainConfig(data=DATA, space=space.name, steps=args.steps, batch_size=64),
                   checkpoint=checkpoint, space=space)
    print(f"supernet: {args.steps} steps in {time.perf_counter() - began:.1f} s", flush=True)
    base = load_chip("isaac").with_overrides({"name": "isaac-4tiles", "chip.tiles": 4, "chip.mesh_rows": 2,
                                              "chip.mesh_cols": 2})
    noisy = base.with_overrides({"crossbar.nonideal.programming_sigma": args.sigma})
    fresh = crossbar_arithmetic(noisy.with_overrides({"crossbar.nonideal.seed": 1000}))
    loaded = load_supernet(checkpoint)
    dataset = open_dataset(DATA, schema=loaded.supernet.schema)
    print(f"sigma {args.sigma} level spacings; search: p90 of {args.draws} chips; fresh chips: {args.fresh} "
          "(seeds 1000..)")
    print("| seed | search | pick | its ideal-cell log loss | its p90 in the search | fresh chips: mean ± std | "
          "fresh mean − ideal | s per candidate |")
    print("|---|---|---|---|---|---|---|---|")
    gains = []
    for seed in (int(s) for s in args.seeds.split(",")):
        picks = {}
        for label, chip, draws in (("ideal cells", base, 0), ("robust (p90)", noisy, args.draws)):
            settings = resolve_settings(chip, checkpoint, objective=Objective(kind="reward"), score_rows=256,
                                        batch=16, finetune_steps=0, device_draws=draws,
                                        evolution=EvolutionSettings(population=args.population, sample=2, children=1,
                                                                    seed=seed))
            study = folder / f"{seed}_{draws}.db"
            result = run_search(settings, args.population, study, backend="serial", progress=False,
                                resimulate=False)
            pick = result.top_k[0]
            per_candidate = statistics.fmean(r.eval_s for r in result.history)
            score = score_device_draws(loaded.supernet, pick.candidate.subnet, dataset, fresh, draws=args.fresh,
                                       max_rows=256)
            picks[label] = score
            in_search = pick.metrics.device_logloss_p90 if draws else float("nan")
            print(f"| {seed} | {label} | c{pick.index} | {score.ideal.logloss:.4f} | {in_search:.4f} | "
                  f"{score.mean_logloss:.4f} ± {score.std_logloss:.4f} | "
                  f"{score.mean_logloss - score.ideal.logloss:+.4f} | {per_candidate:.2f} |", flush=True)
        gains.append(picks["ideal cells"].mean_logloss - picks["robust (p90)"].mean_logloss)
    print(f"fresh-chip mean log loss, ideal-cell pick minus robust pick, per seed: "
          f"{', '.join(f'{g:+.4f}' for g in gains)} (positive: the robust pick loses less)")


if __name__ == "__main__":
    main()

"""Device non-idealities benchmark (issue 24): prints its figures; a script, not a test.

Three subnets of the small NASRec space and DLRM, each trained alone on synthetic Criteo-shaped rows
twice -- plainly (quantisation-aware at its bits) and hardware-aware (the device model's programming
variation at --hwa-sigma injected into the weights every step, arch/train/hwa.py) -- then scored on
the `default` chip preset (differential pairs, 2-bit cells, 32 rows read at once, a lossless 8-bit
ADC, so sigma = 0 is the quantised model exactly) with Gaussian programming variation of sigma =
0 / 2 / 5 / 10 / 20 % of the level spacing, --draws programmed chips per sigma: mean and std of the
log loss. Also the cost of scoring one programmed chip, against the ideal-cell scoring in the same
run (medians). Writes the plot to --png.

Run: flock /tmp/recpim-bench.lock nice -n 15 .venv/bin/python benchmarks/bench_devices.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from recpim.arch.crossbar.matmul import CrossbarMode
from recpim.arch.data.datasets import open_dataset
from recpim.arch.model.modules import QuantBits
from recpim.arch.model.space import get_space
from recpim.arch.model.subnet import load_subnet, sample_subnet
from recpim.arch.model.zoo import DLRM
from recpim.arch.train.hwa import WeightNoiseMode, train_standalone_hwa, weight_noise_std
from recpim.arch.train.loop import TrainConfig, configure_threads, run_training
from recpim.arch.train.scoring import cached_split, evaluate, standalone_logits, train_standalone
from recpim.mapping.arithmetic import crossbar_arithmetic
from recpim.pim.presets import load_chip

ZOO_LR = 0.03   # as search/zoo_baselines.py: the supernet's lr diverges on DLRM trained alone


def train_dlrm(dataset, steps: int, noise: float, seed: int = 0):
    torch.manual_seed(seed)
    model = DLRM(dataset.schema)
    for module in model.modules():
        if isinstance(module, torch.nn.Embedding):
            torch.nn.init.uniform_(module.weight, -0.01, 0.01)
    mode = WeightNoiseMode(noise, torch.Generator().manual_seed(seed + 1))

    def logits(batch, _step):
        with mode:
            return torch.logit(model(batch.dense, batch.sparse).squeeze(-1), eps=1e-7)

    run_training(model, logits, dataset, TrainConfig(data=dataset.name, steps=steps, batch_size=256, lr=ZOO_LR))
    return model.eval()


def dlrm_scorer(model):
    def score(batch, arith):
        def logits(dense, sparse):
            mode = CrossbarMode(arith)
            with mode, mode.at_bits(QuantBits(8, 8)):
                return torch.logit(model(dense, sparse).squeeze(-1), eps=1e-7)
        return evaluate(logits, batch)[0]
    return score


def subnet_scorer(model):
    def score(batch, arith):
        return evaluate(lambda d, s: standalone_logits(model, d, s, arith), batch)[0]
    return score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="synthetic:12000")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--rows", type=int, default=1024, help="val rows scored")
    parser.add_argument("--draws", type=int, default=3, help="programmed chips per sigma")
    parser.add_argument("--sigmas", default="0,0.02,0.05,0.1,0.2")
    parser.add_argument("--hwa-sigma", type=float, default=0.1, help="programming sigma the HWA training injects")
    parser.add_argument("--png", default="docs/gallery/device_variation.png")
    args = parser.parse_args()
    configure_threads()
    sigmas = [float(s) for s in args.sigmas.split(",")]
    dataset = open_dataset(args.data, seed=0)
    val = cached_split(dataset, "val", args.rows)
    chip = load_chip("default")

    def arith(sigma: float):
        if sigma == 0:
            return crossbar_arithmetic(chip)
        return crossbar_arithmetic(chip.with_overrides({"crossbar.nonideal.programming_sigma": sigma}))

    hwa_noise = weight_noise_std(arith(args.hwa_sigma), 8)
    print(f"chip 'default' ({chip.weight_encoding}, {chip.crossbar.bits_per_cell}-bit cells, "
          f"{chip.crossbar.rows_read_at_once} rows read, {chip.adc.bits}-bit ADC); HWA noise {hwa_noise:.4f} x max|W| "
          f"(sigma {args.hwa_sigma} of a level spacing at 8-bit weights)")
    space = get_space("small")
    subnets = {"subnet A": load_subnet("examples/subnet_small_seed0.json", space=space),
               "subnet B": sample_subnet(space, 1), "subnet C": sample_subnet(space, 2)}
    curves: dict[tuple[str, str], list[tuple[float, float]]] = {}
    costs: list[tuple[float, float]] = []
    for name in [*subnets, "DLRM"]:
        for training in ("plain", "HWA"):
            noise = hwa_noise if training == "HWA" else 0.0
            began = time.perf_counter()
            if name == "DLRM":
                score = dlrm_scorer(train_dlrm(dataset, args.steps, noise))
            elif noise:
                score = subnet_scorer(train_standalone_hwa(subnets[name], dataset, args.steps, noise))
            else:
                _, model = train_standalone(subnets[name], dataset, args.steps, quant=True, return_model=True,
                                            max_rows=args.rows)
                score = subnet_scorer(model)
            trained = time.perf_counter() - began
            points = []
            for sigma in sigmas:
                losses, times = [], []
                for draw in range(1 if sigma == 0 else args.draws):
                    one = arith(sigma)
                    one = one.with_chip_seed(draw)
                    t = time.perf_counter()
                    losses.append(score(val, one))
                    times.append(time.perf_counter() - t)
                if sigma == 0:
                    ideal_time = times[0]
                else:
                    costs.append((statistics.median(times), ideal_time))
                mean = statistics.fmean(losses)
                std = statistics.stdev(losses) if len(losses) > 1 else 0.0
                points.append((mean, std))
            curves[(name, training)] = points
            row = "  ".join(f"{m:.4f}±{s:.4f}" for m, s in points)
            print(f"{name:9s} {training:5s} (trained {trained:5.1f} s)  logloss at sigma {sigmas}: {row}", flush=True)
    per_draw = statistics.median(c for c, _ in costs)
    ideal = statistics.median(i for _, i in costs)
    print(f"cost of one scoring per programmed chip ({args.rows} rows): median {per_draw:.2f} s; ideal cells "
          f"{ideal:.2f} s in the same run; ratio {per_draw / ideal:.2f}")
    plot(curves, sigmas, args.png, args.draws)


def plot(curves, sigmas, path: str, draws: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.2))
    colours = dict(zip(sorted({name for name, _ in curves}), plt.cm.tab10.colors, strict=False))
    percent = [100 * s for s in sigmas]
    for (name, training), points in curves.items():
        axis.errorbar(percent, [m for m, _ in points], yerr=[s for _, s in points], capsize=3,
                      color=colours[name], linestyle="-" if training == "plain" else "--", marker="o",
                      label=f"{name} ({training})")
    axis.set_xlabel("programming sigma (% of the level spacing)")
    axis.set_ylabel(f"log loss (mean ± std over {draws} chips)")
    axis.set_title("Log loss under ReRAM programming variation (default chip)")
    axis.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

"""Rerun every cheap README figure with the settings the README states; print quoted vs measured.

Each figure below names the README text it checks (a regular expression whose groups are the
quoted numbers, read from README.md as it stands now), the settings the README states for it, and
the function that measures it. A figure "agrees" when the measured value, rounded as the README
rounds it (its significant digits), equals the quoted one; timings are printed beside their
quotes but never agree or disagree (a shared machine's load moves them: their benchmarks measure
them as medians).

Cheap means seconds to a minute in all on 2 shared cores: the chip presets, crossbar arithmetic,
VGG-8 and the zoo models on their chips (both engines), logistic regression on the Criteo 10k
sample, and one timing of each engine. Figures that need a trained supernet or a search come from
their own benchmarks (bench_supernet.py, bench_ranking.py, bench_codesign.py, bench_evolution.py),
whose settings the README states beside them.

    .venv/bin/python benchmarks/check_readme.py [--json] [--strict] [--with-training]

--strict exits 1 when a figure disagrees (a figure the README quotes but the script cannot find is
always an error: the README's wording changed and this table must follow).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CRITEO = ROOT / ".." / "shared" / "data" / "criteo" / "criteo_kaggle_train_head10k.tsv.gz"
SUBNET = ROOT / "examples" / "subnet_full_seed0.json"
NUMBER = r"([0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)"


@dataclass(frozen=True)
class Figure:
    name: str
    settings: str
    pattern: str               # README text; group `group` is the quoted number
    measure: Callable[[], float]
    group: int = 1
    timing: bool = False       # printed beside the quote, never judged
    slow: bool = False         # trains a model (a minute or two): only with --with-training


# ---------------------------------------------------------------- measurements (memoised: one run each)

@cache
def isaac_rollup():
    from recpim.pim.chip_model import build_chip_model
    from recpim.pim.presets import load_chip

    return build_chip_model(load_chip("isaac"))


@cache
def vgg8(engine: str):
    from recpim.arch.model.spec import resolve_model_spec
    from recpim.mapping.cost import evaluate_cost
    from recpim.pim.presets import load_chip

    return evaluate_cost(resolve_model_spec("vgg8"), load_chip("neurosim-rram-22nm"), engine=engine,
                         batch=64).report


@cache
def zoo(name: str):
    """DLRM / DeepFM on the synthetic schema at 8/8 bits on isaac, batch 64, analytic: what
    search/zoo_baselines.py (bench_codesign.py's zoo row) costs."""
    sys.path.insert(0, str(ROOT / "tests"))
    from golden_figures import zoo_graph

    from recpim.mapping.cost import evaluate_cost
    from recpim.pim.presets import load_chip

    return evaluate_cost(zoo_graph(name), load_chip("isaac"), engine="analytic", batch=64).report


@cache
def zoo_trained() -> dict[str, float]:
    """bench_codesign.py's zoo row: DLRM and DeepFM trained alone for its default --zoo-steps 400
    (Adagrad lr 0.03, batch 256) on synthetic data, scored on the first 1024 val rows with every
    linear layer on isaac's simulated crossbars at 8/8 bits (search/zoo_baselines.py)."""
    import torch

    from recpim.arch.data.datasets import open_dataset
    from recpim.pim.presets import load_chip
    from recpim.search.zoo_baselines import zoo_points

    torch.set_num_threads(1)
    points = zoo_points(load_chip("isaac"), open_dataset("synthetic"), steps=400, batch=64, score_rows=1024)
    return {point.name: point.logloss for point in points}


@cache
def criteo_logistic_regression() -> dict[str, float]:
    """tests/test_datasets.py's baseline: Adagrad lr 0.02, batch 256, 125 steps, seed 0; val split."""
    import numpy as np
    import torch

    sys.path.insert(0, str(ROOT / "tests"))
    from test_datasets import fit_logistic_regression

    from recpim.arch.data.datasets import open_dataset
    from recpim.arch.train.scoring import log_loss, roc_auc

    torch.set_num_threads(1)
    ds = open_dataset(f"criteo:{CRITEO.resolve()}")
    logit = fit_logistic_regression(ds)
    val = ds.materialize("val")
    with torch.no_grad():
        scores = logit(val).double().numpy()
    labels = val.label.numpy().astype(np.float64)
    return {"logloss": log_loss(labels, scores), "auc": roc_auc(labels, scores), "rows": float(len(labels)),
            "positives_pct": 100 * float(labels.mean())}


@cache
def engine_timings() -> dict[str, float]:
    """bench_engines.py's two engine rows: the NASRec-Full example subnet on isaac, batch 64."""
    from recpim.api import load_chip, resolve_model_spec
    from recpim.mapping import map_model
    from recpim.mapping.to_workload import workload_from_mapping
    from recpim.pim.engine import cost_inputs, run_engine

    chip = load_chip("isaac")
    graph = resolve_model_spec(str(SUBNET))
    workload = workload_from_mapping(graph, map_model(graph, chip), chip)
    inputs = cost_inputs(chip)

    def median_ms(fn, repeats):
        times = []
        for _ in range(repeats):
            began = time.perf_counter()
            fn()
            times.append(time.perf_counter() - began)
        return 1e3 * statistics.median(times)

    return {"stages": float(len(workload.stages)),
            "analytic_ms": median_ms(lambda: run_engine(workload, inputs, "analytic", batch=64), 50),
            "des_ms": median_ms(lambda: run_engine(workload, inputs, "des", batch=64), 5)}


def lossless_isaac_bits() -> float:
    from recpim.crossbar_numbers import lossless_adc_bits

    return float(lossless_adc_bits(128, cell_bits=2, dac_bits=1))


PUBLISHED_NEUROSIM = {"tops": 6.25, "tops_per_w": 11.25, "area_mm2": 381.9}   # V1.4 manual, Table VII

FIGURES: list[Figure] = [
    Figure("ISAAC tile power (mW)", "isaac preset roll-up", r"reproduces ISAAC's " + NUMBER + r" mW",
           lambda: isaac_rollup().tile.power_mw),
    Figure("ISAAC tile area (mm²)", "isaac preset roll-up", r"reproduces ISAAC's [0-9.]+ mW / " + NUMBER + r" mm²",
           lambda: isaac_rollup().tile.area_mm2),
    Figure("ISAAC chip power (W)", "isaac preset roll-up", NUMBER + r" W / [0-9.]+ mm² chip",
           lambda: isaac_rollup().chip.power_w),
    Figure("ISAAC chip area (mm²)", "isaac preset roll-up", r"[0-9.]+ W / " + NUMBER + r" mm² chip",
           lambda: isaac_rollup().chip.area_mm2),
    Figure("lossless ADC bits, 128 rows, 1-bit DAC, 2-bit cells", "recpim.crossbar_numbers",
           r"ISAAC's " + NUMBER + r" bits for 128 rows", lossless_isaac_bits),
    Figure("VGG-8 TOPS, analytic", "neurosim-rram-22nm, batch 64", r"\| TOPS \| 6\.25 \| " + NUMBER,
           lambda: vgg8("analytic").tops),
    Figure("VGG-8 TOPS, DES", "neurosim-rram-22nm, batch 64", r"\| TOPS \| 6\.25 \| [0-9.]+ \(" + NUMBER + r"\)",
           lambda: vgg8("des").tops),
    Figure("VGG-8 TOPS ratio to NeuroSim, analytic", "÷ 6.25", r"\| TOPS \| 6\.25 \| [^|]+\| " + NUMBER,
           lambda: vgg8("analytic").tops / PUBLISHED_NEUROSIM["tops"]),
    Figure("VGG-8 TOPS ratio to NeuroSim, DES", "÷ 6.25", r"\| TOPS \| 6\.25 \| [^|]+\| [0-9.]+ \(" + NUMBER + r"\)",
           lambda: vgg8("des").tops / PUBLISHED_NEUROSIM["tops"]),
    Figure("VGG-8 TOPS/W, analytic", "neurosim-rram-22nm, batch 64", r"\| TOPS/W \| 11\.25 \| " + NUMBER,
           lambda: vgg8("analytic").tops_per_w),
    Figure("VGG-8 TOPS/W ratio to NeuroSim", "÷ 11.25", r"\| TOPS/W \| 11\.25 \| [^|]+\| " + NUMBER,
           lambda: vgg8("analytic").tops_per_w / PUBLISHED_NEUROSIM["tops_per_w"]),
    Figure("VGG-8 area (mm²)", "neurosim-rram-22nm", r"\| area \(mm²\) \| 381\.9 \| " + NUMBER,
           lambda: vgg8("analytic").area_mm2),
    Figure("VGG-8 area ratio to NeuroSim", "÷ 381.9", r"\| area \(mm²\) \| 381\.9 \| [^|]+\| " + NUMBER,
           lambda: vgg8("analytic").area_mm2 / PUBLISHED_NEUROSIM["area_mm2"]),
    Figure("DLRM on isaac, energy (pJ/inference)", "synthetic schema, 8/8 bits, analytic, batch 64",
           r"DLRM " + NUMBER + r" pJ", lambda: zoo("dlrm").energy_pj_per_inference),
    Figure("DLRM on isaac, throughput (inf/s)", "synthetic schema, 8/8 bits, analytic, batch 64",
           r"DLRM [0-9.e+]+ pJ, " + NUMBER + r" inf/s", lambda: zoo("dlrm").throughput_inf_per_s),
    Figure("DeepFM on isaac, energy (pJ/inference)", "synthetic schema, 8/8 bits, analytic, batch 64",
           r"DeepFM " + NUMBER + r" pJ", lambda: zoo("deepfm").energy_pj_per_inference),
    Figure("DeepFM on isaac, throughput (inf/s)", "synthetic schema, 8/8 bits, analytic, batch 64",
           r"DeepFM [0-9.e+]+ pJ, " + NUMBER + r" inf/s", lambda: zoo("deepfm").throughput_inf_per_s),
    Figure("DLRM on isaac, log loss (trained 400 steps)", "bench_codesign.py's zoo: synthetic, first 1024 val rows, "
           "isaac's crossbars at 8/8 bits", r"DLRM [0-9.e+]+ pJ, [0-9.e+]+ inf/s, log loss " + NUMBER,
           lambda: zoo_trained()["dlrm"], slow=True),
    Figure("DeepFM on isaac, log loss (trained 400 steps)", "the same", r"DeepFM [0-9.e+]+ pJ, [0-9.e+]+ inf/s, "
           r"log loss " + NUMBER, lambda: zoo_trained()["deepfm"], slow=True),
    Figure("Criteo 10k, logistic regression val log loss", "tests/test_datasets.py: Adagrad 0.02, batch 256, 125 "
           "steps", r"logistic regression on the validation split[^|]*\| log loss " + NUMBER,
           lambda: criteo_logistic_regression()["logloss"]),
    Figure("Criteo 10k, logistic regression val AUC", "the same model", r"\| log loss [0-9.]+, AUC " + NUMBER,
           lambda: criteo_logistic_regression()["auc"]),
    Figure("Criteo 10k, val rows", "the seeded split", r"AUC [0-9.]+ \(" + NUMBER + r" rows",
           lambda: criteo_logistic_regression()["rows"]),
    Figure("Criteo 10k, val positives (%)", "the seeded split", r"rows, " + NUMBER + r" % positives",
           lambda: criteo_logistic_regression()["positives_pct"]),
    Figure("NASRec-Full example subnet, stages on isaac", "examples/subnet_full_seed0.json",
           r"NASRec-Full subnet \(" + NUMBER + r" stages\)", lambda: engine_timings()["stages"]),
    Figure("analytic model, that subnet, batch 64 (ms)", "median of 50 calls",
           r"batch 64 \(`bench_engine_regression\.py`\) \| " + NUMBER + r" ms", lambda: engine_timings()["analytic_ms"],
           timing=True),
    Figure("SimPy simulator, that subnet, batch 64 (ms)", "median of 5 calls",
           r"SimPy simulator, same subnet, batch 64 \(`bench_engines\.py`\) \| " + NUMBER + r" ms",
           lambda: engine_timings()["des_ms"], timing=True),
]


def significant_digits(text: str) -> int:
    mantissa = text.lower().split("e")[0].replace(".", "").lstrip("0")
    return max(1, len(mantissa))


def rounded_like(value: float, quoted: str) -> float:
    """`value` rounded to the quoted text's significant digits (or decimals for a plain decimal)."""
    if "e" not in quoted.lower() and "." in quoted:
        return round(value, len(quoted.split(".")[1]))
    if value == 0:
        return 0.0
    digits = significant_digits(quoted)
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def check(readme: str, with_training: bool = False) -> list[dict]:
    rows = []
    for figure in FIGURES:
        if figure.slow and not with_training:
            continue
        match = re.search(figure.pattern, readme)
        quoted = match.group(figure.group) if match else None
        measured = figure.measure()
        if quoted is None:
            verdict = "NOT IN README"
        elif figure.timing:
            verdict = "timing"
        else:
            verdict = "agrees" if rounded_like(measured, quoted) == float(quoted) else "DIFFERS"
        rows.append({"figure": figure.name, "settings": figure.settings, "quoted": quoted,
                     "measured": measured, "verdict": verdict})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a figure differs")
    parser.add_argument("--with-training", action="store_true",
                        help="also the zoo's log losses (trains DLRM and DeepFM: a few minutes)")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    rows = check(README.read_text(), args.with_training)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print("| figure | settings | README | measured now | |")
        print("|---|---|---|---|---|")
        for row in rows:
            print(f"| {row['figure']} | {row['settings']} | {row['quoted']} | {row['measured']:.6g} | "
                  f"{row['verdict']} |")
        counts = {v: sum(r["verdict"] == v for r in rows) for v in ("agrees", "DIFFERS", "NOT IN README", "timing")}
        print(f"{counts['agrees']} agree, {counts['DIFFERS']} differ, {counts['NOT IN README']} not found in the "
              f"README, {counts['timing']} timings; {time.perf_counter() - began:.0f} s")
    missing = any(r["verdict"] == "NOT IN README" for r in rows)
    differs = any(r["verdict"] == "DIFFERS" for r in rows)
    return 1 if missing or (args.strict and differs) else 0


if __name__ == "__main__":
    sys.exit(main())

"""The whole flow on embedded defaults (what `make demo` runs): synthetic CTR data, a short
weight-sharing supernet training, a small co-search for the default chip, the simulator's
breakdown of the front's best model, a crossbar-size x ADC-bits sweep of it, and an index page.

Every stage is the same public function the CLI uses; each writes its resolved inputs. Importing
this module loads torch and optuna (the training and the search); recpim.api and the CLI import it
on first use.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from recpim.arch.data.datasets import open_dataset
from recpim.arch.train.loop import TrainConfig, train_supernet
from recpim.console import console
from recpim.mapping.cost import simulate_model
from recpim.pim.presets import load_chip
from recpim.reports.breakdown import write_breakdown_report
from recpim.reports.html import IndexSection, write_index
from recpim.reports.search_outputs import write_search_outputs
from recpim.reports.sweep_report import write_sweep_report
from recpim.runinfo import write_resolved_inputs
from recpim.search.evolution import EvolutionSettings
from recpim.search.run import resolve_settings, run_search
from recpim.search.sweep import run_sweep
from recpim.search.zoo_baselines import retrained_points, zoo_points


@dataclass(frozen=True)
class DemoSettings:
    chip: str = "default"
    data: str = "synthetic:40000"
    space: str = "nasrec_small"
    train_steps: int = 400
    train_batch: int = 256
    budget: int = 32
    population: int = 12
    sample: int = 6
    children: int = 4
    workers: int = 2
    zoo_steps: int = 200
    retrain: int = 3          # front models (lowest supernet log loss) also trained alone, as the zoo is
    seed: int = 0
    # The search's scoring (None: the search's defaults); the options its slow-candidate hint names.
    accuracy: str | None = None          # crossbar (simulated ADC/DAC) | quant (fake quantisation only)
    score_rows: int | None = None
    finetune_steps: int | None = None
    sweep: dict[str, list] = field(default_factory=lambda: {
        "crossbar.rows": [64, 128, 256, 512], "adc.bits": [4, 5, 6, 7, 8]})


def run_demo(out_dir: Path | str = "out/demo", settings: DemoSettings | None = None) -> Path:
    """Run the flow into `out_dir`; returns the path of its index.html."""
    settings = settings or DemoSettings()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_resolved_inputs(out, {"demo": settings.__dict__})
    chip = load_chip(settings.chip)
    timings: dict[str, float] = {}

    began = time.perf_counter()
    console.rule("1/4 supernet training on synthetic CTR data")
    checkpoint = out / "supernet.pt"
    config = TrainConfig(data=settings.data, space=settings.space, steps=settings.train_steps,
                         batch_size=settings.train_batch, seed=settings.seed)
    dataset = open_dataset(settings.data, seed=config.data_seed)
    train_supernet(dataset, config, checkpoint=checkpoint, progress=True)
    timings["train_s"] = time.perf_counter() - began

    began = time.perf_counter()
    console.rule(f"2/4 co-search of {settings.budget} candidates for the '{chip.name}' chip")
    scoring = {name: getattr(settings, name) for name in ("accuracy", "score_rows", "finetune_steps")
               if getattr(settings, name) is not None}
    search_settings = resolve_settings(
        chip, checkpoint, evolution=EvolutionSettings(population=settings.population, sample=settings.sample,
                                                      children=settings.children, seed=settings.seed), **scoring)
    study = out / "search" / "study.db"
    study.unlink(missing_ok=True)   # the demo starts afresh; `recpim search --resume` continues a study
    result = run_search(search_settings, settings.budget, study, backend="local", workers=settings.workers)
    zoo = zoo_points(chip, dataset, steps=settings.zoo_steps, data=settings.data)
    # The front's log loss is the supernet's (inherited weights); the zoo models are trained alone. The
    # front's most accurate models trained alone the zoo's way put both on one footing.
    most_accurate = sorted(result.front, key=lambda record: record.metrics.logloss)[: settings.retrain]
    zoo += retrained_points(most_accurate, chip, dataset, settings.zoo_steps, data=settings.data)
    write_search_outputs(result, out / "search", zoo=zoo)
    timings["search_s"] = time.perf_counter() - began

    began = time.perf_counter()
    console.rule("3/4 the best model of the front, simulated")
    best = min(result.front, key=lambda record: record.metrics.logloss)
    subnet_path = out / "best_subnet.json"
    subnet_path.write_text(best.candidate.subnet.to_json())
    report = simulate_model(str(subnet_path), chip, engine="des", batch=64)
    breakdown = write_breakdown_report(report, out / "breakdown", chip=chip)
    timings["simulate_s"] = time.perf_counter() - began

    began = time.perf_counter()
    console.rule("4/4 crossbar size x ADC bits sweep of the best model")
    sweep = run_sweep(str(subnet_path), chip, settings.sweep, engine="des", batch=64, backend="local",
                      workers=settings.workers, cache_dir=out / "cache")
    sweep.write(out / "sweep")
    sweep_files = write_sweep_report(sweep, out / "sweep")
    timings["sweep_s"] = time.perf_counter() - began
    (out / "timings.json").write_text(json.dumps({"kind": "demo_timings", **timings}, indent=2))

    index = write_index(out, [
        IndexSection("Breakdown of the best searched model", breakdown.html,
                     f"{best.candidate.subnet.space} subnet c{best.index} on '{chip.name}': log loss "
                     f"{best.metrics.logloss:.4f}; simulated energy, latency, area and utilisation.",
                     breakdown.images[:3]),
        IndexSection("Co-search", out / "search" / "search.html",
                     f"{len(result.history)} candidates; Pareto front of log loss versus energy and latency, with "
                     "DLRM and DeepFM placed on the same chip, and the front's most accurate models trained alone "
                     "as they are.", _images(out / "search")),
        IndexSection("Sweep: crossbar rows x ADC bits", sweep_files.html,
                     "The best model on the same chip with other crossbar sizes and ADC resolutions.",
                     sweep_files.images[:4]),
    ], title="recpim demo", intro="Stage times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    console.print(f"demo finished; open {index.resolve()}")
    print(index.resolve())
    return index


def _images(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.png"))[:3]

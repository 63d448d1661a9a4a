"""The public Python API: every CLI command is a thin layer over one of these functions, so
notebooks, scripts and the search use exactly what the CLI uses.

Heavier stages (torch training, search) are imported lazily so `import recpim.api` stays quick.
"""

from __future__ import annotations

from pathlib import Path

from recpim.arch.graph import WorkloadGraph
from recpim.arch.models import resolve_model
from recpim.errors import ConfigError
from recpim.mapping import MappingResult, map_model
from recpim.mapping.evaluate import Evaluation, evaluate_cost
from recpim.pim.chip_model import ChipModel, build_chip_model
from recpim.pim.config import ChipConfig, chip_schema
from recpim.pim.cost_report import CostReport
from recpim.pim.engine import ENGINES, Engine
from recpim.pim.presets import list_presets, load_chip
from recpim.pim.trace import write_chrome_trace
from recpim.search.outputs import write_outputs as write_search_outputs
from recpim.search.run import resolve_settings as resolve_search_settings
from recpim.search.run import run_search
from recpim.search.sweep import run_sweep

__all__ = [
    "ENGINES",
    "ChipConfig",
    "ChipModel",
    "CostReport",
    "MappingResult",
    "WorkloadGraph",
    "build_chip_model",
    "chip_schema",
    "list_presets",
    "load_chip",
    "map_model",
    "map_spec",
    "resolve_model",
    "resolve_search_settings",
    "run_demo",
    "run_search",
    "run_sweep",
    "score_subnet",
    "simulate_model",
    "train_supernet",
    "write_search_outputs",
]


def train_supernet(*args, **kwargs):
    """recpim.arch.training.train_supernet (imported on first use: it pulls in the training stack).

    device="cpu" | "auto" | "cuda[:N]", precision="fp32" | "bf16" | "fp16" and distributed (a
    recpim.arch.distributed.DistContext, from init_from_env under torchrun) choose where it runs."""
    from recpim.arch.training import train_supernet as train

    return train(*args, **kwargs)


def score_subnet(*args, **kwargs):
    """recpim.arch.scoring.score_subnet: log loss and AUC of a subnet with inherited weights."""
    from recpim.arch.scoring import score_subnet as score

    return score(*args, **kwargs)


def run_demo(*args, **kwargs):
    """recpim.demo.run_demo: the whole flow on embedded defaults."""
    from recpim.demo import run_demo as demo

    return demo(*args, **kwargs)


def _chip(chip: ChipConfig | str) -> ChipConfig:
    return chip if isinstance(chip, ChipConfig) else load_chip(chip)


def _graph(model: WorkloadGraph | str, schema_name: str = "criteo") -> WorkloadGraph:
    return model if isinstance(model, WorkloadGraph) else resolve_model(model, schema_name=schema_name)


def map_spec(model: WorkloadGraph | str, chip: ChipConfig | str) -> MappingResult:
    """Map a model (zoo name, subnet JSON, module:callable or graph) onto a chip (preset or YAML)."""
    return map_model(_graph(model), _chip(chip))


def simulate_model(model: WorkloadGraph | str, chip: ChipConfig | str, engine: Engine = "analytic",
                   batch: int = 64, trace_path: str | Path | None = None) -> CostReport:
    """Cost of a model on a chip: latency, throughput, energy and area breakdowns.

    engine "des" runs the SimPy simulator (and can write its timeline as a Chrome trace);
    "analytic" is the fast pipeline model. Raises CapacityError if the model does not fit."""
    return simulate_model_detailed(model, chip, engine, batch, trace_path).report


def simulate_model_detailed(model: WorkloadGraph | str, chip: ChipConfig | str, engine: Engine = "analytic",
                            batch: int = 64, trace_path: str | Path | None = None) -> Evaluation:
    if trace_path is not None and engine != "des":   # ConfigError is a ValueError too
        raise ConfigError("simulate", [("trace_path", f"a trace needs the simulator: use engine='des', not "
                                                      f"{engine!r}, with trace_path")])
    evaluation = evaluate_cost(_graph(model), _chip(chip), engine=engine, batch=batch,
                               record_trace=trace_path is not None)
    if trace_path is not None:
        write_chrome_trace(evaluation.trace or [], trace_path, process_name=f"{evaluation.report.model} on "
                                                                          f"{evaluation.report.chip}")
    return evaluation

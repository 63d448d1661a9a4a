"""Simulate one model on one chip from what a user names: a model spec or graph, a preset or a
ChipConfig. The composition the API, the CLI and the sweep's workers share (mapping/evaluate.py
does the costing; this adds spec resolution and the simulator's Chrome trace).
"""

from __future__ import annotations

from pathlib import Path

from recpim.arch.graph import WorkloadGraph
from recpim.arch.models import resolve_model
from recpim.errors import ConfigError
from recpim.pim.config import ChipConfig
from recpim.pim.cost_report import CostReport
from recpim.pim.engine import Engine
from recpim.pim.presets import load_chip
from recpim.pim.trace import write_chrome_trace

from .evaluate import Evaluation, evaluate_cost
from .mapper import map_model
from .result import MappingResult


def as_chip(chip: ChipConfig | str) -> ChipConfig:
    """A ChipConfig as given, or the preset / chip YAML it names."""
    return chip if isinstance(chip, ChipConfig) else load_chip(chip)


def as_graph(model: WorkloadGraph | str, schema_name: str = "criteo") -> WorkloadGraph:
    """A WorkloadGraph as given, or the model a spec names (zoo name, subnet JSON, module:callable)."""
    return model if isinstance(model, WorkloadGraph) else resolve_model(model, schema_name=schema_name)


def map_spec(model: WorkloadGraph | str, chip: ChipConfig | str) -> MappingResult:
    """Map a model (zoo name, subnet JSON, module:callable or graph) onto a chip (preset or YAML)."""
    return map_model(as_graph(model), as_chip(chip))


def simulate_model(model: WorkloadGraph | str, chip: ChipConfig | str, engine: Engine = "analytic",
                   batch: int = 64, trace_path: str | Path | None = None) -> CostReport:
    """Cost of a model on a chip: latency, throughput, energy and area breakdowns.

    engine "des" runs the SimPy simulator (and can write its timeline as a Chrome trace);
    "analytic" is the fast pipeline model. Raises CapacityError if the model does not fit."""
    return simulate_model_detailed(model, chip, engine, batch, trace_path).report


def simulate_model_detailed(model: WorkloadGraph | str, chip: ChipConfig | str, engine: Engine = "analytic",
                            batch: int = 64, trace_path: str | Path | None = None) -> Evaluation:
    """simulate_model's Evaluation: the CostReport with the mapping and stages it came from."""
    if trace_path is not None and engine != "des":   # ConfigError is a ValueError too
        raise ConfigError("simulate", [("trace_path", f"a trace needs the simulator: use engine='des', not "
                                                      f"{engine!r}, with trace_path")])
    evaluation = evaluate_cost(as_graph(model), as_chip(chip), engine=engine, batch=batch,
                               record_trace=trace_path is not None)
    if trace_path is not None:
        write_chrome_trace(evaluation.trace or [], trace_path, process_name=f"{evaluation.report.model} on "
                                                                          f"{evaluation.report.chip}")
    return evaluation

"""The cost of a model on a chip: map it, turn the mapping into pipeline stages, run an engine.
`evaluate_cost(graph, chip)` is the function the CLI, the sweeps and the search all call;
`simulate_model(spec, chip)` adds what a user names (a model spec or graph, a preset or a
ChipConfig) and the simulator's Chrome trace, for the API, the CLI and the sweep's workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from recpim.arch.graph.workload import WorkloadGraph
from recpim.arch.model.spec import resolve_model_spec
from recpim.errors import ConfigError
from recpim.pim.config import ChipConfig
from recpim.pim.cost_report import CostReport
from recpim.pim.engine import CostInputs, Engine, cost_inputs, run_engine
from recpim.pim.presets import load_chip
from recpim.pim.trace import write_chrome_trace
from recpim.pim.workload import PipelineWorkload

from .mapper import map_model
from .result import MappingResult
from .to_workload import workload_from_mapping


@dataclass(frozen=True)
class Evaluation:
    mapping: MappingResult
    workload: PipelineWorkload
    report: CostReport
    trace: list | None = None


def evaluate_cost(graph: WorkloadGraph, chip: ChipConfig, engine: Engine = "analytic", batch: int = 64,
                  record_trace: bool = False, inputs: CostInputs | None = None) -> Evaluation:
    """Raises CapacityError when the model does not fit (and the chip is not time-multiplexed).
    Pass `inputs` (from recpim.pim.engine.cost_inputs) to reuse the chip model across many calls."""
    mapping = map_model(graph, chip)
    workload = workload_from_mapping(graph, mapping, chip)
    report, trace = run_engine(workload, inputs or cost_inputs(chip), engine=engine, batch=batch,
                               record_trace=record_trace)
    return Evaluation(mapping=mapping, workload=workload, report=report, trace=trace)


def as_chip(chip: ChipConfig | str) -> ChipConfig:
    """A ChipConfig as given, or the preset / chip YAML it names."""
    return chip if isinstance(chip, ChipConfig) else load_chip(chip)


def as_graph(model: WorkloadGraph | str, schema_name: str = "criteo") -> WorkloadGraph:
    """A WorkloadGraph as given, or the model a spec names (zoo name, subnet JSON, module:callable)."""
    return model if isinstance(model, WorkloadGraph) else resolve_model_spec(model, schema_name=schema_name)


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

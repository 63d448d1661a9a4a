"""Cost of a model on a chip: map it, turn the mapping into pipeline stages, run an engine.
This is the function the CLI, the sweeps and the search all call."""

from __future__ import annotations

from dataclasses import dataclass

from recpim.arch.graph import WorkloadGraph
from recpim.pim.config import ChipConfig
from recpim.pim.cost_report import CostReport
from recpim.pim.engine import CostInputs, Engine, cost_inputs, run_engine
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

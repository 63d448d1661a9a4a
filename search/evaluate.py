"""One candidate -> its accuracy and its cost on its chip; never raises for a bad candidate.

Cost first (milliseconds): the candidate's chip (base chip with its knobs), the subnet lowered on the
dataset's schema, mapped and costed by the analytic model. A chip the validators reject, a model
that does not fit, or a hard budget exceeded makes the candidate "infeasible" and its accuracy is
not computed (it could not be deployed anyway). Then accuracy: the supernet's score of the subnet
on the validation split with inherited weights, at the subnet's bits, and (accuracy="crossbar")
with every MVM on simulated crossbars of the candidate's chip: its crossbar rows, rows read at
once, cell bits, DAC and ADC bits and weight encoding.

`evaluate_task` is the executor's function: module-level, plain-data arguments and result, and a
per-process cache of the supernet, the dataset and each chip's cost inputs, so a worker loads the
checkpoint once however many candidates it evaluates.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from recpim.arch.lowering import lower_subnet
from recpim.errors import CapacityError, ConfigError, RecpimError
from recpim.mapping.arithmetic import crossbar_arithmetic
from recpim.pim.config import ChipConfig, chip_config_from_dict
from recpim.search.candidate import Candidate, Evaluated
from recpim.search.objectives import Objective

ACCURACY_MODES = ("crossbar", "quant")
# Cost metrics copied from the analytic CostReport of each candidate.
REPORT_METRICS = ("energy_pj_per_inference", "latency_ns_per_inference", "latency_ns_per_batch",
                  "throughput_inf_per_s", "area_mm2", "power_w", "tops", "tops_per_w", "macs_per_inference")


@dataclass(frozen=True)
class EvalContext:
    """Everything a worker needs besides the candidate; plain data (it crosses process boundaries)."""

    chip: dict[str, Any]                 # the base chip, model_dump(mode="json")
    supernet: str                        # checkpoint path (must be readable where the worker runs)
    data: str = "synthetic"
    data_seed: int = 0
    objective: dict[str, Any] = field(default_factory=dict)   # Objective.model_dump(mode="json")
    accuracy: str = "crossbar"
    score_rows: int | None = None        # score on the first rows of the split only (None: all)
    finetune_steps: int = 0
    finetune_feature_rows: int | None = None
    batch: int = 64
    device: str = "cpu"                  # where workers score (arch/device.py); not part of the result
    max_bad_rows_fraction: float = 0.01  # open_dataset's limit on malformed rows

    def cache_key(self) -> tuple:
        return (json.dumps(self.chip, sort_keys=True), self.supernet, self.data, self.data_seed,
                json.dumps(self.objective, sort_keys=True), self.accuracy, self.score_rows, self.finetune_steps,
                self.finetune_feature_rows, self.batch, self.device, self.max_bad_rows_fraction)


class _WorkerState:
    """What one process keeps between candidates of one search."""

    def __init__(self, context: EvalContext):
        from recpim.arch.datasets import open_dataset
        from recpim.arch.training import load_supernet

        self.context = context
        self.supernet, self.train_config, _ = load_supernet(context.supernet, device=context.device)  # + its space
        self.dataset = open_dataset(context.data, schema=self.supernet.schema, seed=context.data_seed,
                                    max_bad_rows_fraction=context.max_bad_rows_fraction)
        self.base_chip = chip_config_from_dict(context.chip, source="search base chip")
        self.objective = Objective(**context.objective)
        self._inputs: dict[str, Any] = {}

    def cost_inputs(self, chip: ChipConfig):
        from recpim.pim.engine import cost_inputs

        key = chip.model_dump_json()
        if key not in self._inputs:
            self._inputs[key] = cost_inputs(chip)
        return self._inputs[key]


_STATES: dict[tuple, _WorkerState] = {}


def worker_state(context: EvalContext) -> _WorkerState:
    key = context.cache_key()
    if key not in _STATES:
        _STATES.clear()          # one search per process at a time: drop an earlier one's supernet
        _STATES[key] = _WorkerState(context)
    return _STATES[key]


def cost_metrics(evaluation) -> dict[str, float]:
    """Figures of an Evaluation (mapping + analytic report) the search records."""
    report, mapping = evaluation.report, evaluation.mapping
    metrics = {name: float(getattr(report, name)) for name in REPORT_METRICS}
    metrics["crossbars_used"] = float(mapping.crossbars_used)
    metrics["crossbars_footprint"] = float(sum(layer.crossbar.crossbars for layer in mapping.layers))
    metrics["adc_lossy_layers"] = float(len(mapping.adc_lossy_layers))
    metrics["mvm_layers"] = float(len(mapping.layers))
    return metrics


def evaluate_candidate(state: _WorkerState, index: int, candidate: Candidate, parent: int | None = None) -> Evaluated:
    """Evaluate one candidate (see the module docstring). Raises only for bugs, never for a
    candidate that is invalid, too large, over budget or otherwise rejected by recpim."""
    from recpim.arch.scoring import FinetuneRecipe, score_subnet
    from recpim.mapping.evaluate import evaluate_cost

    began = time.perf_counter()

    def done(status: str, metrics: dict[str, float], violation: float | None, message: str = "") -> Evaluated:
        return Evaluated(index=index, candidate=candidate, status=status, metrics=metrics, violation=violation,
                         message=message, parent=parent, eval_s=round(time.perf_counter() - began, 4))

    context = state.context
    try:
        chip = candidate.chip_for(state.base_chip)
    except ConfigError as error:
        reasons = "; ".join(f"{path}: {message}" for path, message in error.problems)
        return done("infeasible", {}, None, f"invalid chip: {reasons}")
    try:
        graph = lower_subnet(candidate.subnet, state.dataset.schema, name=f"candidate{index}")
        evaluation = evaluate_cost(graph, chip, engine="analytic", batch=context.batch,
                                   inputs=state.cost_inputs(chip))
    except CapacityError as error:
        return done("infeasible", {}, None, f"does not fit the chip: {str(error).splitlines()[0]}")
    except RecpimError as error:
        return done("error", {}, None, f"cost: {type(error).__name__}: {error}")
    metrics = cost_metrics(evaluation)
    excess = state.objective.budgets.excess(metrics)
    if excess:
        shown = ", ".join(f"{name} {100 * value:.1f}% over" for name, value in excess.items())
        return done("infeasible", metrics, state.objective.budgets.violation(metrics), f"over budget: {shown}")
    crossbar = crossbar_arithmetic(chip) if context.accuracy == "crossbar" else None
    try:
        score = score_subnet(state.supernet, candidate.subnet, state.dataset, split="val",
                             finetune_steps=context.finetune_steps, quant=True, crossbar=crossbar, seed=0,
                             max_rows=context.score_rows,
                             finetune=FinetuneRecipe(feature_rows=context.finetune_feature_rows))
    except RecpimError as error:
        return done("error", metrics, None, f"accuracy: {type(error).__name__}: {error}")
    if not math.isfinite(score.logloss):
        return done("error", metrics, None, f"accuracy: log loss is {score.logloss}")
    metrics.update(logloss=float(score.logloss), auc=float(score.auc), score_rows=float(score.rows))
    return done("ok", metrics, 0.0)


def evaluate_task(task: dict[str, Any]) -> dict[str, Any]:
    """The executor's unit of work: {context, index, candidate, parent, torch_threads} -> Evaluated dict."""
    context = task["context"] if isinstance(task["context"], EvalContext) else EvalContext(**task["context"])
    threads = task.get("torch_threads")
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    state = worker_state(context)           # loads the supernet first: it registers the subnet's space
    candidate = Candidate.from_dict(task["candidate"])
    return evaluate_candidate(state, int(task["index"]), candidate, task.get("parent")).to_dict()


def resimulate_task(task: dict[str, Any]) -> dict[str, Any]:
    """{context, candidate} -> the candidate's CostReport JSON from the discrete-event simulator
    (the final report of a front point; the search itself ranks by the analytic model)."""
    from recpim.mapping.evaluate import evaluate_cost

    context = task["context"] if isinstance(task["context"], EvalContext) else EvalContext(**task["context"])
    state = worker_state(context)
    candidate = Candidate.from_dict(task["candidate"])
    chip = candidate.chip_for(state.base_chip)
    graph = lower_subnet(candidate.subnet, state.dataset.schema, name=f"candidate{task['index']}")
    evaluation = evaluate_cost(graph, chip, engine="des", batch=context.batch, inputs=state.cost_inputs(chip))
    return evaluation.report.to_json_dict()

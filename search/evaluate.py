"""One candidate -> its accuracy and its cost on its chip; never raises for a bad candidate.

Cost first (milliseconds): the candidate's chip (base chip with its knobs), the subnet lowered on the
dataset's schema, mapped and costed by the analytic model. A chip the validators reject, a model
that does not fit, or a hard budget exceeded makes the candidate "infeasible" and its accuracy is
not computed (it could not be deployed anyway). Then accuracy: the supernet's score of the subnet
on the validation split with inherited weights, at the subnet's bits, and (accuracy="crossbar")
with every MVM on simulated crossbars of the candidate's chip: its crossbar rows, rows read at
once, cell bits, DAC and ADC bits and weight encoding. With device draws (the robust objective,
search/device_objective.py) the accuracy is a statistic over programmed chips of that chip.

`evaluate_task` is the executor's function: module-level, an `EvalTask` in and an `Evaluated` out
(both pickle, for spawned workers and Ray), and a per-process cache of the supernet, the dataset
and each chip's cost inputs, so a worker loads the checkpoint once however many candidates it
evaluates.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Literal, get_args

from recpim.arch.data.datasets import open_dataset
from recpim.arch.data.profile import DataProfile
from recpim.arch.model.lowering import lower_subnet
from recpim.errors import CapacityError, ConfigError, RecpimError
from recpim.mapping.arithmetic import crossbar_arithmetic
from recpim.mapping.cost import Evaluation, evaluate_cost
from recpim.mapping.embedding_lookup import in_crossbar_fields
from recpim.mapping.embedding_profile import apply_profile
from recpim.pim.config import ChipConfig
from recpim.pim.cost_report import CostReport
from recpim.pim.engine import CostInputs, cost_inputs
from recpim.search.candidate import Candidate, Evaluated, Status
from recpim.search.device_objective import robust_metrics, score_candidate_under_devices, single_chip_metrics
from recpim.search.metrics import REPORT_METRICS, CandidateMetrics
from recpim.search.objectives import Objective

AccuracyMode = Literal["crossbar", "quant"]
ACCURACY_MODES: tuple[str, ...] = get_args(AccuracyMode)


@dataclass(frozen=True)
class EvalContext:
    """Everything a worker needs besides the candidate (pickled to spawn workers and Ray tasks)."""

    chip: ChipConfig                     # the base chip; a candidate's knobs apply on top
    supernet: str                        # checkpoint path (must be readable where the worker runs)
    data: str = "synthetic"
    data_seed: int = 0
    objective: Objective = Objective()
    accuracy: AccuracyMode = "crossbar"
    score_rows: int | None = None        # score on the first rows of the split only (None: all)
    finetune_steps: int = 0
    finetune_feature_rows: int | None = None
    batch: int = 64
    device: str = "cpu"                  # where workers score (arch/train/device.py); not part of the result
    max_bad_rows_fraction: float = 0.01  # open_dataset's limit on malformed rows
    profile: DataProfile | None = None   # embedding access profile (None: uniform access)
    device_draws: int = 0                # > 0: the robust objective over programmed chips (device_objective.py)
    device_statistic: str = "p90"        # of the draws' log loss the objective ranks by: mean | p90

    def cache_key(self) -> tuple:
        # ChipConfig holds dicts (user tables), so it is keyed by its canonical JSON.
        return (self.chip.model_dump_json(), self.supernet, self.data, self.data_seed, self.objective,
                self.accuracy, self.score_rows, self.finetune_steps, self.finetune_feature_rows, self.batch,
                self.device, self.max_bad_rows_fraction, self.profile, self.device_draws, self.device_statistic)


@dataclass(frozen=True)
class EvalTask:
    """One candidate to evaluate: the executor's item for `evaluate_task`."""

    context: EvalContext
    index: int
    candidate: Candidate
    parent: int | None = None
    torch_threads: int | None = None     # torch threads in the worker (None: leave torch's default)


@dataclass(frozen=True)
class ResimulateTask:
    """One front point to cost again with the discrete-event simulator: the item for `resimulate_task`."""

    context: EvalContext
    index: int
    candidate: Candidate


class _WorkerState:
    """What one process keeps between candidates of one search."""

    def __init__(self, context: EvalContext):
        from recpim.arch.train.loop import load_supernet

        self.context = context
        loaded = load_supernet(context.supernet, device=context.device)
        self.supernet, self.train_config = loaded.supernet, loaded.config
        self.dataset = open_dataset(context.data, schema=self.supernet.schema, seed=context.data_seed,
                                    max_bad_rows_fraction=context.max_bad_rows_fraction)
        self._inputs: dict[str, CostInputs] = {}

    def cost_inputs(self, chip: ChipConfig) -> CostInputs:
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


def cost_metrics(evaluation: Evaluation) -> CandidateMetrics:
    """Figures of an Evaluation (mapping + analytic report) the search records."""
    report, mapping = evaluation.report, evaluation.mapping
    return CandidateMetrics(**{name: float(getattr(report, name)) for name in REPORT_METRICS},
                            crossbars_used=mapping.crossbars_used,
                            crossbars_footprint=sum(layer.crossbar.crossbars for layer in mapping.layers),
                            adc_lossy_layers=len(mapping.adc_lossy_layers), mvm_layers=len(mapping.layers))


def cost_on_chip(state: _WorkerState, candidate: Candidate, chip: ChipConfig, index: int,
                 engine: str = "analytic"):
    """(graph, Evaluation): `candidate`'s subnet lowered on the dataset's schema (with the context's
    embedding profile) and costed on `chip` (the candidate's own, Candidate.chip_for) by `engine`.
    Raises CapacityError when it does not fit, RecpimError for other rejections."""
    context = state.context
    graph = apply_profile(lower_subnet(candidate.subnet, state.dataset.schema, name=f"candidate{index}"),
                          context.profile)
    return graph, evaluate_cost(graph, chip, engine=engine, batch=context.batch, inputs=state.cost_inputs(chip))


def evaluate_candidate(state: _WorkerState, index: int, candidate: Candidate, parent: int | None = None) -> Evaluated:
    """Evaluate one candidate (see the module docstring). Raises only for bugs, never for a
    candidate that is invalid, too large, over budget or otherwise rejected by recpim."""
    from recpim.arch.train.scoring import FinetuneRecipe  # torch: only in workers that score

    began = time.perf_counter()

    def done(status: Status, metrics: CandidateMetrics | None, violation: float | None,
             message: str = "") -> Evaluated:
        return Evaluated(index=index, candidate=candidate, status=status, metrics=metrics, violation=violation,
                         message=message, parent=parent, eval_s=round(time.perf_counter() - began, 4))

    context = state.context
    try:
        chip = candidate.chip_for(context.chip)
    except ConfigError as error:
        reasons = "; ".join(f"{path}: {message}" for path, message in error.problems)
        return done("infeasible", None, None, f"invalid chip: {reasons}")
    try:
        graph, evaluation = cost_on_chip(state, candidate, chip, index)
    except CapacityError as error:
        return done("infeasible", None, None, f"does not fit the chip: {str(error).splitlines()[0]}")
    except RecpimError as error:
        return done("error", None, None, f"cost: {type(error).__name__}: {error}")
    metrics = cost_metrics(evaluation)
    budgets = context.objective.budgets
    excess = budgets.excess(metrics)
    if excess:
        shown = ", ".join(f"{name} {100 * value:.1f}% over" for name, value in excess.items())
        return done("infeasible", metrics, budgets.violation(metrics), f"over budget: {shown}")
    crossbar = crossbar_arithmetic(chip) if context.accuracy == "crossbar" else None
    fields = in_crossbar_fields(evaluation.mapping, graph) if crossbar is not None else ()
    if fields:   # tables the chip reads in crossbars: their rows reach the model through the ADC
        crossbar = replace(crossbar, embedding_fields=fields)
    try:
        draws = score_candidate_under_devices(
            state.supernet, candidate.subnet, state.dataset, crossbar, context.device_draws,
            finetune_steps=context.finetune_steps, max_rows=context.score_rows,
            finetune=FinetuneRecipe(feature_rows=context.finetune_feature_rows)) if context.device_draws else None
        if draws is None:
            score = score_accuracy(state, candidate, crossbar)
    except RecpimError as error:
        return done("error", metrics, None, f"accuracy: {type(error).__name__}: {error}")
    if draws is not None:   # the robust objective on a chip with random cells (search/device_objective.py)
        scored = robust_metrics(metrics, draws, context.device_statistic)
    elif context.device_draws:   # ... on a chip with ideal cells: its one chip is every draw
        scored = single_chip_metrics(metrics, score.logloss, score.auc, score.rows)
    else:
        scored = metrics.with_accuracy(score.logloss, score.auc, score.rows)
    if not math.isfinite(scored.logloss):
        return done("error", metrics, None, f"accuracy: log loss is {scored.logloss}")
    return done("ok", scored, 0.0)


def score_accuracy(state: _WorkerState, candidate: Candidate, crossbar, split: str = "val"):
    """`candidate`'s log loss the way the search scores it (inherited weights at its bits, the logit
    fine-tuned by the context's recipe, on `crossbar` arithmetic when given), on `split`'s first
    `score_rows` rows: the search reads "val"; a benchmark may read "test" to hold rows back."""
    from recpim.arch.train.scoring import FinetuneRecipe, score_subnet

    context = state.context
    return score_subnet(state.supernet, candidate.subnet, state.dataset, split=split,
                        finetune_steps=context.finetune_steps, quant=True, crossbar=crossbar, seed=0,
                        max_rows=context.score_rows,
                        finetune=FinetuneRecipe(feature_rows=context.finetune_feature_rows))


def evaluate_task(task: EvalTask) -> Evaluated:
    """The executor's unit of work: one candidate in, its evaluation out."""
    if task.torch_threads:
        import torch

        torch.set_num_threads(task.torch_threads)
    state = worker_state(task.context)
    return evaluate_candidate(state, task.index, task.candidate, task.parent)


def resimulate_task(task: ResimulateTask) -> CostReport:
    """A front point's CostReport from the discrete-event simulator (the final report of a front
    point; the search itself ranks by the analytic model)."""
    state = worker_state(task.context)
    chip = task.candidate.chip_for(task.context.chip)
    return cost_on_chip(state, task.candidate, chip, task.index, engine="des")[1].report

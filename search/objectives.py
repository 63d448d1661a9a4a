"""What the co-search optimises, and what it must not exceed.

Two objectives (`Objective.kind`):

- "reward": one number to maximise, MnasNet's soft-constrained reward written for a loss
  (MnasNet maximises ACC x prod_m (m / T_m)^w_m; a log loss is minimised, so the factor divides):

      reward = -logloss x prod_m (m / T_m)^(-w_m),   w_m = alpha if m <= T_m else beta

  over the metrics m that have a target T_m (energy per inference, latency of one inference).
  MnasNet's soft setting is alpha = beta = -0.07: 2x the target energy costs a 5 % higher
  effective log loss. alpha = 0, beta = -1 makes the target a steep wall. No target at all
  gives reward = -logloss: an accuracy-only search.
- "pareto": log loss, energy and latency, all minimised. Candidates are ranked NSGA-II style
  (fast non-dominated sorting, then crowding distance inside a rank) and the search keeps the
  Pareto front of everything it evaluated.

Hard budgets (chip area, power, crossbars of the model's footprint) are constraints: a candidate
over any budget is infeasible. Ranking uses Deb's constraint domination: every feasible candidate
beats every infeasible one; infeasible ones are ordered by their total relative excess over the
budgets ("violation"; unknown, i.e. infinite, when the model does not fit the chip at all).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, Protocol

import numpy as np
from pydantic import Field, model_validator

from recpim.errors import ConfigError
from recpim.search.metrics import CandidateMetrics
from recpim.validation import ValidatedModel

PARETO_METRICS = ("logloss", "energy_pj_per_inference", "latency_ns_per_inference")
TARGET_METRICS = ("energy_pj_per_inference", "latency_ns_per_inference")
# Budget name -> the metric it bounds.
BUDGET_METRICS = {"area_mm2": "area_mm2", "power_w": "power_w", "crossbars": "crossbars_footprint"}
MNASNET_EXPONENT = -0.07


class Ranked(Protocol):
    """What ranking needs from an evaluated candidate (search.candidate.Evaluated has it)."""

    index: int
    metrics: CandidateMetrics | None
    violation: float | None

    @property
    def feasible(self) -> bool: ...


def _logloss(metrics: CandidateMetrics) -> float:
    if metrics.logloss is None:
        raise ValueError("an unscored candidate has no log loss to rank by")
    return metrics.logloss


def pareto_values(metrics: CandidateMetrics) -> list[float]:
    """The minimised figures of the pareto objective, in PARETO_METRICS order."""
    _logloss(metrics)
    return [float(getattr(metrics, name)) for name in PARETO_METRICS]


class _Frozen(ValidatedModel):
    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        cls.config_source = f"search {cls.__name__.lower()}"


class Budgets(_Frozen):
    """Hard limits; None means no limit. `crossbars` bounds the crossbars that hold one copy of
    every layer (the model's footprint; replication then fills what is left of the chip)."""

    area_mm2: float | None = Field(default=None, gt=0)
    power_w: float | None = Field(default=None, gt=0)
    crossbars: int | None = Field(default=None, ge=1)

    def excess(self, metrics: CandidateMetrics) -> dict[str, float]:
        """Relative excess over each exceeded budget: {budget: value / limit - 1}."""
        out = {}
        for name, metric in BUDGET_METRICS.items():
            limit = getattr(self, name)
            value = getattr(metrics, metric)
            if limit is not None and value > limit:
                out[name] = value / limit - 1.0
        return out

    def violation(self, metrics: CandidateMetrics) -> float:
        return math.fsum(self.excess(metrics).values())


class RewardTargets(_Frozen):
    """MnasNet-style soft targets; alpha applies at or under a target, beta over it."""

    energy_pj_per_inference: float | None = Field(default=None, gt=0)
    latency_ns_per_inference: float | None = Field(default=None, gt=0)
    alpha: float = Field(default=MNASNET_EXPONENT, le=0)
    beta: float = Field(default=MNASNET_EXPONENT, le=0)


class Objective(_Frozen):
    kind: Literal["reward", "pareto"] = "pareto"
    targets: RewardTargets = RewardTargets()
    budgets: Budgets = Budgets()

    @model_validator(mode="after")
    def _targets_need_reward(self) -> Objective:
        given = [m for m in TARGET_METRICS if getattr(self.targets, m) is not None]
        if self.kind == "pareto" and given:
            raise ConfigError("objective", [("targets", f"targets {given} apply to --objective reward only; the "
                                                         "pareto objective trades energy and latency freely")])
        return self

    # ---- one candidate
    def reward(self, metrics: CandidateMetrics) -> float:
        """The scalarised reward (larger is better); see the module docstring."""
        factor = 1.0
        for metric in TARGET_METRICS:
            target = getattr(self.targets, metric)
            if target is None:
                continue
            ratio = getattr(metrics, metric) / target
            factor *= ratio ** -(self.targets.alpha if ratio <= 1.0 else self.targets.beta)
        return -_logloss(metrics) * factor

    def study_values(self, metrics: CandidateMetrics) -> list[float]:
        """The Optuna study's objective values of a feasible candidate."""
        if self.kind == "reward":
            return [self.reward(metrics)]
        return pareto_values(metrics)

    def study_directions(self) -> tuple[list[str], list[str]]:
        """(directions, metric names) of the Optuna study."""
        if self.kind == "reward":
            return ["maximize"], ["reward"]
        return ["minimize"] * len(PARETO_METRICS), list(PARETO_METRICS)

    def score(self, metrics: CandidateMetrics) -> float:
        """The scalar the progress bar and the best-so-far curve follow: the reward, or (pareto)
        the log loss."""
        return self.reward(metrics) if self.kind == "reward" else _logloss(metrics)

    @property
    def score_label(self) -> str:
        return "best reward" if self.kind == "reward" else "best log loss"

    def better_score(self, a: float, b: float) -> bool:
        return a > b if self.kind == "reward" else a < b

    # ---- many candidates
    def ranking_keys(self, records: Sequence[Ranked]) -> list[tuple[Any, ...]]:
        """One sort key per record, smaller is better: constraint domination first, then the
        reward (largest first) or the non-domination rank and crowding (largest first)."""
        feasible = [i for i, r in enumerate(records) if r.feasible]
        keys: list[tuple[Any, ...]] = [(1, math.inf if r.violation is None else r.violation, 0.0, 0.0)
                                       for r in records]
        if not feasible:
            return keys
        if self.kind == "reward":
            for i in feasible:
                keys[i] = (0, 0.0, -self.reward(records[i].metrics), 0.0)
            return keys
        points = np.array([pareto_values(records[i].metrics) for i in feasible])
        ranks = non_dominated_ranks(points)
        crowding = np.zeros(len(feasible))
        for rank in np.unique(ranks):
            members = np.flatnonzero(ranks == rank)
            crowding[members] = crowding_distances(points[members])
        for position, i in enumerate(feasible):
            keys[i] = (0, 0.0, int(ranks[position]), -float(crowding[position]))
        return keys

    def order(self, records: Sequence[Ranked]) -> list[int]:
        """Positions of `records` from best to worst (ties: the older candidate first)."""
        keys = self.ranking_keys(records)
        return sorted(range(len(records)), key=lambda i: (keys[i], records[i].index))


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """a is no worse than b in every objective and better in one (all minimised)."""
    return bool(np.all(a <= b) and np.any(a < b))


def non_dominated_ranks(points: np.ndarray) -> np.ndarray:
    """Deb's fast non-dominated sort: rank 0 is the Pareto front, rank 1 the front of the rest...
    `points` is (n, m), every column minimised."""
    points = np.asarray(points, dtype=float)
    n = len(points)
    if n == 0:
        return np.zeros(0, dtype=int)
    no_worse = np.all(points[:, None, :] <= points[None, :, :], axis=2)
    better = np.any(points[:, None, :] < points[None, :, :], axis=2)
    dominated_by = no_worse & better            # [i, j]: i dominates j
    count = dominated_by.sum(axis=0)            # how many dominate j
    ranks = np.full(n, -1, dtype=int)
    current = np.flatnonzero(count == 0)
    rank = 0
    while current.size:
        ranks[current] = rank
        count = count - dominated_by[current].sum(axis=0)
        count[ranks >= 0] = -1
        current = np.flatnonzero(count == 0)
        rank += 1
    return ranks


def crowding_distances(points: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance inside one front: per objective, the normalised gap between a
    point's neighbours; the extremes of each objective get infinity."""
    points = np.asarray(points, dtype=float)
    n, m = points.shape
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, math.inf)
    for column in range(m):
        order = np.argsort(points[:, column], kind="stable")
        values = points[order, column]
        span = values[-1] - values[0]
        distance[order[0]] = distance[order[-1]] = math.inf
        if span > 0:
            distance[order[1:-1]] += (values[2:] - values[:-2]) / span
    return distance


def pareto_front(records: Sequence[Ranked]) -> list[Ranked]:
    """The feasible records no other feasible record dominates in (log loss, energy, latency),
    by increasing energy; a candidate evaluated twice (equal metrics) appears once, its first."""
    feasible = sorted((r for r in records if r.feasible), key=lambda r: r.index)
    if not feasible:
        return []
    points = np.array([pareto_values(r.metrics) for r in feasible])
    ranks = non_dominated_ranks(points)
    front, seen = [], set()
    for record, rank, point in zip(feasible, ranks, points, strict=True):
        if rank == 0 and tuple(point) not in seen:
            seen.add(tuple(point))
            front.append(record)
    return sorted(front, key=lambda r: (r.metrics.energy_pj_per_inference, r.index))

"""The joint candidate of the co-search: a SubnetConfig (architecture and bit-widths) plus, with
--explore-chip, a value for each chip knob the user opened (crossbar.rows, adc.bits ...).

Knob ranges are parsed like sweep settings (`crossbar.rows=64,128,256`, `adc.bits=4..8`) and
checked against the base chip once. A candidate's chip is `base.with_overrides(knobs)`; a knob
combination the chip validators reject (rows_read_at_once > rows ...) makes the candidate
infeasible at evaluation, it never stops the search.

Sampling and mutation take a numpy Generator, so a candidate is a pure function of the seed it
was drawn with (the evolution seeds each candidate by (run seed, candidate index)).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, field_validator

from recpim.arch.model.space import SearchSpace
from recpim.arch.model.subnet import SubnetConfig, mutate, sample_subnet
from recpim.errors import ConfigError, parse_json
from recpim.pim.config import ChipConfig
from recpim.search.metrics import CandidateMetrics
from recpim.search.sweep import parse_settings, validate_keys

KnobValue = int | float | str | bool
KnobRanges = dict[str, tuple[KnobValue, ...]]


class Candidate(BaseModel):
    """One point of the joint space. `chip_knobs` is empty unless the chip is explored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subnet: SubnetConfig
    chip_knobs: dict[str, KnobValue] = {}

    @field_validator("chip_knobs", mode="after")
    @classmethod
    def _sorted_knobs(cls, knobs: dict[str, KnobValue]) -> dict[str, KnobValue]:
        return dict(sorted(knobs.items()))   # one canonical order: equal candidates serialise equally

    def chip_for(self, base: ChipConfig) -> ChipConfig:
        """The candidate's chip; ConfigError when the chip validators reject its knobs."""
        return base.with_overrides(self.chip_knobs) if self.chip_knobs else base

    def key(self) -> str:
        """A canonical string: equal candidates have equal keys (used to reuse evaluations)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def to_dict(self) -> dict[str, Any]:
        return {"subnet": self.subnet.to_dict(), "chip_knobs": dict(self.chip_knobs)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Any, source: str = "candidate", space: SearchSpace | None = None) -> Candidate:
        if not isinstance(data, dict) or set(data) - {"subnet", "chip_knobs"} or "subnet" not in data:
            raise ConfigError(source, [("", "expected a JSON object {subnet: {...}, chip_knobs: {...}}")])
        knobs = data.get("chip_knobs") or {}
        if not isinstance(knobs, dict):
            raise ConfigError(source, [("chip_knobs", f"expected an object of key: value, got {knobs!r}")])
        return cls(subnet=SubnetConfig.from_dict(data["subnet"], f"{source}.subnet", space), chip_knobs=knobs)

    @classmethod
    def from_json(cls, text: str, source: str = "candidate JSON") -> Candidate:
        return cls.from_dict(parse_json(text, source), source)


def parse_chip_ranges(texts: list[str], base: ChipConfig) -> KnobRanges:
    """`--chip-range KEY=V1,V2` / `KEY=A..B` arguments -> {key: values}, checked against `base`:
    each key must name a value of the chip config and each value alone must give a valid chip."""
    settings = parse_settings(texts)
    validate_keys(base, settings)
    problems = []
    for key, values in settings.items():
        if len(set(values)) != len(values):
            problems.append((key, f"has duplicates: {values}"))
        elif len(values) < 2:
            problems.append((key, f"only one value {values}; give at least two to explore (or set it in the chip)"))
        for value in values:
            try:
                base.with_overrides({key: value})
            except ConfigError as error:
                reasons = "; ".join(message for _, message in error.problems)
                problems.append((key, f"value {value!r} is rejected on chip {base.name!r}: {reasons}"))
    if problems:
        raise ConfigError("chip ranges", problems)
    return {key: tuple(values) for key, values in settings.items()}


def _pick(rng: np.random.Generator, values: tuple | list) -> Any:
    return values[int(rng.integers(len(values)))]


def sample_candidate(space: SearchSpace, knob_ranges: KnobRanges, rng: np.random.Generator) -> Candidate:
    """A random subnet, then one uniform value per chip knob (in the ranges' key order)."""
    subnet = sample_subnet(space, rng)
    knobs = {key: _pick(rng, values) for key, values in knob_ranges.items()}
    return Candidate(subnet=subnet, chip_knobs=knobs)


def mutate_candidate(parent: Candidate, space: SearchSpace, knob_ranges: KnobRanges,
                     rng: np.random.Generator) -> Candidate:
    """NASRec's mutation over the joint space: 1..6 changes, each aimed uniformly at one of the
    subnet's mutation targets (its blocks and the embedding bits, as `mutate` picks them) or at one
    chip knob. Changes aimed at the subnet go to `mutate`; a knob change picks another value.
    Changes can undo each other (a knob moved and moved back): such a child is drawn again, so a
    child always differs from its parent."""
    for _ in range(_MAX_MUTATION_DRAWS):
        child = _mutate_once(parent, space, knob_ranges, rng)
        if child != parent:
            break
    return child


_MAX_MUTATION_DRAWS = 64  # a space with a single point cannot give a different child


def _mutate_once(parent: Candidate, space: SearchSpace, knob_ranges: KnobRanges,
                 rng: np.random.Generator) -> Candidate:
    num_changes = int(rng.integers(1, 7))
    keys = list(knob_ranges)
    subnet_targets = (space.num_blocks + (1 if len(space.embedding_bits) > 1 else 0)
                      + (1 if len(space.embedding_dims) > 1 else 0))
    knobs = dict(parent.chip_knobs)
    subnet_changes = 0
    for _ in range(num_changes):
        target = int(rng.integers(subnet_targets + len(keys)))
        if target < subnet_targets:
            subnet_changes += 1
        else:
            key = keys[target - subnet_targets]
            knobs[key] = _pick(rng, [v for v in knob_ranges[key] if v != knobs[key]])
    subnet = mutate(parent.subnet, space, rng, num_changes=subnet_changes) if subnet_changes else parent.subnet
    return Candidate(subnet=subnet, chip_knobs=knobs)


Status = Literal["ok", "infeasible", "error"]
STATUSES: tuple[str, ...] = get_args(Status)


@dataclass(frozen=True)
class Evaluated:
    """One evaluated candidate, as the study stores it and the evolution ranks it.

    status "ok": every metric is known and every budget is met. "infeasible": the model does not
    fit the chip, the chip knobs are invalid, or a budget is exceeded (`violation` > 0; None when
    unknown). "error": another recpim error while evaluating (the message says which).
    `parent`: the index it was mutated from (None: a random generation-0 candidate);
    `duplicate_of`: an earlier index whose evaluation was reused (same candidate).
    `metrics`: None when the candidate was not costed (invalid chip, does not fit); scored (its
    accuracy known) whenever status is "ok"."""

    index: int
    candidate: Candidate
    status: Status
    metrics: CandidateMetrics | None = None
    violation: float | None = 0.0
    message: str = ""
    parent: int | None = None
    duplicate_of: int | None = None
    eval_s: float = 0.0

    def __post_init__(self) -> None:
        if self.status == "ok" and (self.metrics is None or not self.metrics.scored):
            raise ValueError(f"candidate {self.index}: status 'ok' needs scored metrics, got {self.metrics}")

    @property
    def feasible(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "candidate": self.candidate.to_dict(), "status": self.status,
                "metrics": self.metrics.to_dict() if self.metrics else {}, "violation": self.violation,
                "message": self.message, "parent": self.parent, "duplicate_of": self.duplicate_of,
                "eval_s": self.eval_s}

    @classmethod
    def from_dict(cls, data: dict[str, Any], space: SearchSpace | None = None) -> Evaluated:
        if data.get("status") not in STATUSES:
            raise ConfigError("evaluated candidate", [("status", f"got {data.get('status')!r}; allowed: "
                                                                 f"{', '.join(STATUSES)}")])
        return cls(index=int(data["index"]), candidate=Candidate.from_dict(data["candidate"], space=space),
                   status=data["status"],
                   metrics=CandidateMetrics.from_dict(data["metrics"]) if data.get("metrics") else None,
                   violation=None if data.get("violation") is None else float(data["violation"]),
                   message=data.get("message", ""), parent=data.get("parent"), duplicate_of=data.get("duplicate_of"),
                   eval_s=float(data.get("eval_s", 0.0)))

    def reused_as(self, index: int, parent: int | None) -> Evaluated:
        """This evaluation recorded again for a later, identical candidate (child of `parent`)."""
        return replace(self, index=index, parent=parent, eval_s=0.0,
                       duplicate_of=self.duplicate_of if self.duplicate_of is not None else self.index)

"""Regularized (aging) evolution as NASRec runs it, over the joint candidate space.

Generation 0 is `population` random candidates. Every later generation makes `children`
children: for each, a tournament samples `sample` members of the current population without
replacement, the best of them (by the objective's ranking) is mutated (1..6 changes). When the
generation has been evaluated, its children join the population (in index order) and the oldest
members leave, so the population keeps its size: members age out whatever their fitness.

Determinism. Candidate `i` draws every random choice from numpy's default_rng([seed, i]), and the
children of a generation are all made from the population as it stood when the generation began.
So candidate i, and the population after any number of whole generations, are pure functions of
(settings, seed, the evaluations of earlier candidates) -- not of the order in which parallel
workers finish, nor of where a run was interrupted. Resuming replays the recorded evaluations
generation by generation (`replay`), which rebuilds exactly the state an uninterrupted run had.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import ClassVar

import numpy as np
from pydantic import Field, model_validator

from recpim.arch.model.space import SearchSpace
from recpim.errors import ConfigError
from recpim.search.candidate import Candidate, Evaluated, KnobRanges, mutate_candidate, sample_candidate
from recpim.search.objectives import Objective
from recpim.validation import ValidatedModel


class EvolutionSettings(ValidatedModel):
    """Sizes of the evolution. NASREC below is NASRec's own: 128 + 240 x 8 = 2048 candidates."""

    config_source: ClassVar[str] = "evolution settings"

    population: int = Field(default=16, ge=1)
    sample: int = Field(default=8, ge=1)
    children: int = Field(default=4, ge=1)
    seed: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _sample_within_population(self) -> EvolutionSettings:
        if self.sample > self.population:
            raise ConfigError("evolution settings", [("sample", f"{self.sample} exceeds the population "
                                                                f"{self.population}; allowed: 1..{self.population}")])
        return self

    def generation_of(self, index: int) -> int:
        if index < self.population:
            return 0
        return 1 + (index - self.population) // self.children

    def generation_indices(self, generation: int) -> range:
        """Candidate indices that make up `generation`."""
        if generation == 0:
            return range(self.population)
        start = self.population + (generation - 1) * self.children
        return range(start, start + self.children)

    def budget_for_generations(self, generations: int) -> int:
        """Candidates evaluated by generation 0 plus `generations` generations of children."""
        return self.population + generations * self.children


NASREC = EvolutionSettings(population=128, sample=64, children=8)
NASREC_GENERATIONS = 240


def candidate_rng(seed: int, index: int) -> np.random.Generator:
    """The random stream of candidate `index` of a run seeded `seed`."""
    return np.random.default_rng([seed, index])


class RegularizedEvolution:
    """The evolution's state: the population (oldest first) and the generation being made."""

    def __init__(self, space: SearchSpace, knob_ranges: KnobRanges, settings: EvolutionSettings,
                 objective: Objective):
        self.space = space
        self.knob_ranges = dict(knob_ranges)
        self.settings = settings
        self.objective = objective
        self.population: deque[Evaluated] = deque()
        self.generation = 0

    def propose(self, index: int) -> tuple[Candidate, int | None]:
        """Candidate `index` of the current generation and its parent's index (None: random)."""
        if self.settings.generation_of(index) != self.generation:
            raise ValueError(f"candidate {index} belongs to generation {self.settings.generation_of(index)}, "
                             f"not the current generation {self.generation}")
        rng = candidate_rng(self.settings.seed, index)
        if self.generation == 0:
            return sample_candidate(self.space, self.knob_ranges, rng), None
        parent = self.tournament(rng)
        return mutate_candidate(parent.candidate, self.space, self.knob_ranges, rng), parent.index

    def tournament(self, rng: np.random.Generator) -> Evaluated:
        """The best of `sample` members drawn without replacement. Members are ranked within the
        whole population (for pareto: non-domination rank, then crowding); ties go to the older."""
        members = list(self.population)
        if not members:
            raise ValueError("the population is empty: evaluate generation 0 first")
        drawn = rng.choice(len(members), size=min(self.settings.sample, len(members)), replace=False)
        keys = self.objective.ranking_keys(members)
        best = min((int(i) for i in drawn), key=lambda i: (keys[i], members[i].index))
        return members[best]

    def admit(self, generation: list[Evaluated]) -> None:
        """Close the current generation: its candidates join, the oldest leave."""
        expected = list(self.settings.generation_indices(self.generation))
        indices = sorted(record.index for record in generation)
        if indices != expected[:len(indices)]:
            raise ValueError(f"generation {self.generation} holds candidates {expected[0]}..{expected[-1]}, "
                             f"got {indices}")
        for record in sorted(generation, key=lambda r: r.index):
            self.population.append(record)
            if len(self.population) > self.settings.population:
                self.population.popleft()
        self.generation += 1

    def replay(self, history: Mapping[int, Evaluated], budget: int) -> None:
        """Admit every generation that `history` (index -> evaluation) holds in full, in order, as
        an uninterrupted run would have. Stops at the first generation with a missing candidate
        (that generation still has work to do) or at the budget. Each replayed candidate must be
        the one this run proposes for its index: otherwise the history belongs to other settings."""
        while True:
            indices = [i for i in self.settings.generation_indices(self.generation) if i < budget]
            if not indices or any(i not in history for i in indices):
                return
            for index in indices:
                proposed, _ = self.propose(index)
                if proposed != history[index].candidate:
                    raise ConfigError("search resume", [(f"candidate {index}", "the study's candidate differs from "
                                                         "the one these settings propose: it was written by a run "
                                                         "with other settings (seed, sizes, space or chip ranges)")])
            self.admit([history[i] for i in indices])

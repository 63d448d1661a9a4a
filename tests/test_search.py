"""Co-search machinery without a supernet: objectives (reward, non-dominated sorting, crowding,
budgets), the joint candidate, regularized evolution and its replay, and the Optuna study record."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from recpim.arch.model.space import nasrec_small
from recpim.errors import ConfigError
from recpim.pim.presets import load_chip
from recpim.search.candidate import (
    Candidate,
    Evaluated,
    mutate_candidate,
    parse_chip_ranges,
    sample_candidate,
)
from recpim.search.evolution import NASREC, NASREC_GENERATIONS, EvolutionSettings, RegularizedEvolution
from recpim.search.metrics import REQUIRED_METRICS, CandidateMetrics
from recpim.search.objectives import (
    Budgets,
    Objective,
    RewardTargets,
    crowding_distances,
    non_dominated_ranks,
    pareto_front,
)
from recpim.search.study import SearchStudy

SPACE = nasrec_small()
ISAAC = load_chip("isaac")
KNOBS = {"adc.bits": (4, 5, 6, 7, 8), "crossbar.bits_per_cell": (1, 2, 4)}


def figures(values: dict[str, float]) -> CandidateMetrics:
    """A metrics record with the given figures and zero for every other cost figure."""
    return CandidateMetrics(**{**dict.fromkeys(REQUIRED_METRICS, 0), **values})


def record(index: int, logloss: float | None = None, energy: float = 1.0, latency: float = 1.0,
           status: str = "ok", violation: float | None = 0.0) -> Evaluated:
    metrics = {"energy_pj_per_inference": energy, "latency_ns_per_inference": latency}
    if logloss is not None:
        metrics["logloss"] = logloss
    return Evaluated(index=index, candidate=sample_candidate(SPACE, {}, np.random.default_rng(index)),
                     status=status, metrics=figures(metrics), violation=violation)


# ---- objectives
def test_reward_is_mnasnet_soft_constraint_written_for_a_loss():
    soft = Objective(kind="reward", targets=RewardTargets(energy_pj_per_inference=1000.0))
    at_twice = figures({"logloss": 0.5, "energy_pj_per_inference": 2000.0})
    at_half = figures({"logloss": 0.5, "energy_pj_per_inference": 500.0})
    assert soft.reward(at_twice) == pytest.approx(-0.5 * 2 ** 0.07)
    assert soft.reward(at_half) == pytest.approx(-0.5 * 0.5 ** 0.07)
    assert soft.reward(at_half) > soft.reward(figures({"logloss": 0.5, "energy_pj_per_inference": 1000.0})) > \
        soft.reward(at_twice)
    wall = Objective(kind="reward", targets=RewardTargets(latency_ns_per_inference=10.0, alpha=0.0, beta=-1.0))
    assert wall.reward(figures({"logloss": 0.4, "latency_ns_per_inference": 5.0})) == pytest.approx(-0.4)
    assert wall.reward(figures({"logloss": 0.4, "latency_ns_per_inference": 20.0})) == pytest.approx(-0.8)
    plain = Objective(kind="reward")                       # no target: accuracy only
    assert plain.reward(figures({"logloss": 0.45, "energy_pj_per_inference": 1e9})) == -0.45
    assert plain.study_directions() == (["maximize"], ["reward"])
    both = Objective(kind="reward", targets=RewardTargets(energy_pj_per_inference=10.0, latency_ns_per_inference=4.0))
    assert both.reward(figures({"logloss": 1.0, "energy_pj_per_inference": 20.0, "latency_ns_per_inference": 8.0})) == \
        pytest.approx(-(2 ** 0.07) ** 2)


def test_pareto_objective_refuses_reward_targets_and_bad_values_name_the_key():
    with pytest.raises(ConfigError, match="apply to --objective reward only"):
        Objective(kind="pareto", targets=RewardTargets(energy_pj_per_inference=5.0))
    with pytest.raises(ConfigError, match="area_mm2"):
        Budgets(area_mm2=-1.0)
    with pytest.raises(ConfigError, match="kind"):
        Objective(kind="accuracy")


def test_budgets_measure_relative_excess():
    budgets = Budgets(area_mm2=100.0, power_w=2.0, crossbars=1000)
    metrics = figures({"area_mm2": 150.0, "power_w": 1.0, "crossbars_footprint": 1100})
    assert budgets.excess(metrics) == pytest.approx({"area_mm2": 0.5, "crossbars": 0.1})
    assert budgets.violation(metrics) == pytest.approx(0.6)
    assert Budgets().violation(metrics) == 0.0


def brute_force_ranks(points: np.ndarray) -> list[int]:
    """Peel fronts off one at a time by the definition of dominance."""
    remaining, ranks, rank = set(range(len(points))), [0] * len(points), 0
    while remaining:
        front = {i for i in remaining if not any(np.all(points[j] <= points[i]) and np.any(points[j] < points[i])
                                                 for j in remaining)}
        for i in front:
            ranks[i] = rank
        remaining -= front
        rank += 1
    return ranks


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(*[st.integers(0, 6)] * 3), min_size=1, max_size=25))
def test_non_dominated_sort_matches_the_definition(rows):
    points = np.array(rows, dtype=float)
    assert non_dominated_ranks(points).tolist() == brute_force_ranks(points)


def test_crowding_distance_by_hand():
    # A front of 4 points on a line: inner points get the sum of normalised neighbour gaps.
    points = np.array([[0.0, 3.0], [1.0, 2.0], [2.0, 1.0], [3.0, 0.0]])
    distance = crowding_distances(points)
    assert math.isinf(distance[0]) and math.isinf(distance[3])
    assert distance[1] == pytest.approx((2 - 0) / 3 + (3 - 1) / 3)
    assert distance[2] == pytest.approx((3 - 1) / 3 + (2 - 0) / 3)
    assert np.all(np.isinf(crowding_distances(points[:2])))


def test_ranking_puts_feasible_first_then_least_violation_then_front_rank():
    records = [record(0, 0.5, 10, 10), record(1, 0.4, 20, 10), record(2, 0.6, 30, 30),
               record(3, status="infeasible", violation=0.2), record(4, status="infeasible", violation=None),
               record(5, status="infeasible", violation=0.1)]
    pareto = Objective(kind="pareto")
    assert pareto.order(records) == [0, 1, 2, 5, 3, 4]      # 0 and 1 on the front, 2 dominated by 0
    keys = pareto.ranking_keys(records)
    assert keys[0][2] == keys[1][2] == 0 and keys[2][2] == 1
    reward = Objective(kind="reward")
    assert reward.order(records) == [1, 0, 2, 5, 3, 4]      # by log loss alone
    front = pareto_front(records + [record(6, 0.5, 10, 10)])  # an equal point appears once (the first)
    assert [r.index for r in front] == [0, 1]


# ---- the joint candidate
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
@example(seed=536870912)  # two knob changes that undid each other gave a child equal to its parent
def test_candidates_round_trip_and_mutate_within_the_ranges(seed):
    rng = np.random.default_rng(seed)
    parent = sample_candidate(SPACE, KNOBS, rng)
    assert Candidate.from_json(parent.to_json()) == parent and parent.key() == Candidate.from_dict(
        parent.to_dict()).key()
    assert all(parent.chip_knobs[k] in values for k, values in KNOBS.items())
    child = mutate_candidate(parent, SPACE, KNOBS, np.random.default_rng(seed + 1))
    assert child != parent
    assert all(child.chip_knobs[k] in values for k, values in KNOBS.items())
    assert mutate_candidate(parent, SPACE, KNOBS, np.random.default_rng(seed + 1)) == child   # seeded
    assert child.chip_for(ISAAC).adc.bits == child.chip_knobs["adc.bits"]


def test_mutation_reaches_both_the_subnet_and_the_chip_knobs():
    parent = sample_candidate(SPACE, KNOBS, np.random.default_rng(0))
    children = [mutate_candidate(parent, SPACE, KNOBS, np.random.default_rng(seed)) for seed in range(60)]
    assert any(c.subnet != parent.subnet for c in children)
    assert any(c.chip_knobs != parent.chip_knobs for c in children)


def test_chip_ranges_are_checked_against_the_base_chip():
    assert parse_chip_ranges(["adc.bits=4..6", "crossbar.rows=128,256"], ISAAC) == {
        "adc.bits": (4, 5, 6), "crossbar.rows": (128, 256)}
    with pytest.raises(ConfigError, match="did you mean 'bits'"):
        parse_chip_ranges(["adc.bitz=4..6"], ISAAC)
    with pytest.raises(ConfigError, match="rejected on chip 'isaac'"):
        parse_chip_ranges(["crossbar.rows=64,128"], ISAAC)      # isaac reads 128 rows at once
    with pytest.raises(ConfigError, match="at least two"):
        parse_chip_ranges(["adc.bits=6"], ISAAC)
    with pytest.raises(ConfigError, match="duplicates"):
        parse_chip_ranges(["adc.bits=6,6"], ISAAC)
    with pytest.raises(ConfigError, match="chip_knobs"):
        Candidate.from_dict({"subnet": sample_candidate(SPACE, {}, np.random.default_rng(0)).subnet.to_dict(),
                             "chip_knobs": [1]})


# ---- regularized evolution
def fake_metrics(candidate: Candidate) -> CandidateMetrics:
    """A deterministic stand-in for accuracy and cost: wider models are more accurate and costlier."""
    width = sum(b.dense_width + b.sparse_width for b in candidate.subnet.blocks)
    bits = sum(b.weight_bits for b in candidate.subnet.blocks)
    return figures({"logloss": 0.4 + 50.0 / (width + 10 * bits), "energy_pj_per_inference": float(width * bits),
                    "latency_ns_per_inference": float(width + 3 * candidate.subnet.embedding_bits)})


def run_generations(evolution: RegularizedEvolution, history: dict[int, Evaluated], budget: int) -> None:
    while True:
        indices = [i for i in evolution.settings.generation_indices(evolution.generation) if i < budget]
        if not indices:
            return
        for index in indices:
            candidate, _ = evolution.propose(index)
            history.setdefault(index, Evaluated(index=index, candidate=candidate, status="ok",
                                                metrics=fake_metrics(candidate)))
        evolution.admit([history[i] for i in indices])


@pytest.mark.parametrize("kind", ["pareto", "reward"])
def test_population_is_a_pure_function_of_the_history_so_replay_resumes_exactly(kind):
    sizes = EvolutionSettings(population=6, sample=3, children=2, seed=7)
    objective = Objective(kind=kind)
    full: dict[int, Evaluated] = {}
    straight = RegularizedEvolution(SPACE, KNOBS, sizes, objective)
    run_generations(straight, full, budget=21)              # the last generation is cut short by the budget
    for stop in (3, 6, 9, 13):                              # "killed" with candidates 0..stop-1 recorded
        partial = {i: full[i] for i in range(stop)}
        resumed = RegularizedEvolution(SPACE, KNOBS, sizes, objective)
        resumed.replay(partial, budget=21)
        run_generations(resumed, partial, budget=21)
        assert [r.index for r in resumed.population] == [r.index for r in straight.population]
        assert partial == full


def test_aging_keeps_the_newest_members_and_the_tournament_takes_the_best_of_its_sample():
    sizes = EvolutionSettings(population=5, sample=5, children=2, seed=0)
    evolution = RegularizedEvolution(SPACE, {}, sizes, Objective(kind="reward"))
    history: dict[int, Evaluated] = {}
    run_generations(evolution, history, budget=11)
    assert [r.index for r in evolution.population] == [6, 7, 8, 9, 10]   # oldest removed, whatever their fitness
    best = min(evolution.population, key=lambda r: r.metrics.logloss)
    assert evolution.tournament(np.random.default_rng(3)) == best        # sample = population: always the best


def test_nasrec_preset_and_generation_layout():
    assert (NASREC.population, NASREC.sample, NASREC.children) == (128, 64, 8)
    assert NASREC.budget_for_generations(NASREC_GENERATIONS) == 128 + 240 * 8
    assert list(NASREC.generation_indices(0)) == list(range(128))
    assert list(NASREC.generation_indices(2)) == list(range(136, 144))
    assert [NASREC.generation_of(i) for i in (0, 127, 128, 135, 136)] == [0, 0, 1, 1, 2]
    with pytest.raises(ConfigError, match="sample"):
        EvolutionSettings(population=4, sample=5)


# ---- the study
def test_study_commits_whole_trials_and_reads_them_back(tmp_path):
    objective = Objective(kind="pareto")
    location = tmp_path / "study.db"
    study = SearchStudy.create(location, {"any": "settings"}, objective)
    ok = Evaluated(index=0, candidate=sample_candidate(SPACE, KNOBS, np.random.default_rng(1)), status="ok",
                   metrics=figures({"logloss": 0.45, "energy_pj_per_inference": 1e5, "latency_ns_per_inference": 2e3,
                                    "area_mm2": 85.4}), eval_s=1.5)
    bad = Evaluated(index=1, candidate=sample_candidate(SPACE, KNOBS, np.random.default_rng(2)), status="infeasible",
                    violation=None, message="does not fit the chip")
    for item in (ok, bad):
        study.commit(item, objective, SPACE, KNOBS)
    reopened = SearchStudy.open(location)
    assert reopened.settings == {"any": "settings"}
    assert reopened.history() == {0: ok, 1: bad}
    trials = reopened.study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL"]
    assert trials[0].values == [0.45, 1e5, 2e3] and trials[0].user_attrs["area_mm2"] == 85.4
    assert trials[0].params["chip.adc.bits"] == ok.candidate.chip_knobs["adc.bits"]
    assert trials[0].params["block1.dense_op"] == str(ok.candidate.subnet.blocks[0].dense_op)
    assert trials[1].user_attrs["message"] == "does not fit the chip"
    with pytest.raises(ConfigError, match="--resume"):
        SearchStudy.create(location, {}, objective)
    with pytest.raises(ConfigError, match="holds no recpim search"):
        SearchStudy.open(tmp_path / "other.db")


def test_every_pair_of_distinct_seeds_gives_distinct_candidates():
    candidates = [sample_candidate(SPACE, KNOBS, np.random.default_rng([3, i])) for i in range(12)]
    assert all(a != b for a, b in itertools.combinations(candidates, 2))

"""The fast analytic engine against the engine as it was written out (tests/analytic_reference.py, main
before issue 23's speed work): on random pipelines (any DAG, joins of many producers, transfers with
and without hops, stages of every kind, several events per MVM stage, serial output paths, odd
vector-unit counts, batches past the exactly followed 32 inferences) every figure of the report is
the same float, bit for bit, in the same key order; so are the stage costs, handoff bounds, batch
makespan and energy pricing one by one. A speed change may move no result."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import analytic_reference as reference
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from recpim.arch.model.spec import resolve_model_spec
from recpim.mapping import map_model
from recpim.mapping.to_workload import workload_from_mapping
from recpim.pim import analytic
from recpim.pim.cost_report import energy_per_inference
from recpim.pim.engine import cost_inputs
from recpim.pim.marked_graph import StageGraph
from recpim.pim.presets import load_chip
from recpim.pim.timing import ChipTiming
from recpim.pim.workload import (
    ACTIVITY_KEYS,
    ActionEnergies,
    Activity,
    PipelineWorkload,
    Stage,
    StageKind,
    TileBuffer,
    Transfer,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ISAAC = cost_inputs(load_chip("isaac"))

links = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), max_size=3).map(tuple)
buffers = st.lists(st.builds(TileBuffer, tile=st.integers(0, 3), write_bits=st.integers(0, 6000) | st.just(0),
                             read_bits=st.integers(0, 6000) | st.just(0)), max_size=3).map(tuple)
activities = st.dictionaries(st.sampled_from(ACTIVITY_KEYS), st.integers(0, 10**7), max_size=6).map(
    lambda counts: Activity(**counts))


@st.composite
def stages(draw, name: str, earlier: list[str]) -> Stage:
    kind = draw(st.sampled_from(list(StageKind)))
    predecessors = tuple(draw(st.lists(st.sampled_from(earlier), max_size=6, unique=True))) if earlier else ()
    common = dict(name=name, kind=kind, tile=draw(st.integers(0, 3)), predecessors=predecessors,
                  buffers=draw(buffers), dram_bits=draw(st.sampled_from([0, 0, 96, 5000])),
                  dram_rank_bits=draw(st.sampled_from([0, 0, 4096])), activity=draw(activities))
    if kind == StageKind.MVM:
        return Stage(**common, vectors=draw(st.integers(0, 70)), replicas=draw(st.integers(1, 4)),
                     steps_per_vector=draw(st.integers(1, 8)), row_groups=draw(st.integers(1, 3)),
                     dac_steps_per_read=draw(st.integers(1, 2)), conversions_per_adc_per_read=draw(st.integers(0, 128)),
                     partial_sums=tuple(Transfer(name, name, draw(st.integers(0, 2000)), draw(links),
                                                 kind="partial_sum") for _ in range(draw(st.integers(0, 3)))),
                     psum_adds=draw(st.integers(0, 500)), psum_buffer_bits=draw(st.sampled_from([0, 0, 3000])),
                     psum_buffer_tile=draw(st.integers(0, 3)), tile_adds=draw(st.sampled_from([0, 0, 200])),
                     tile_adds_tile=draw(st.integers(0, 3)))
    return Stage(**common, digital_ops=draw(st.sampled_from([0, 1, 7, 512, 5000])),
                 reram_lookup_rows=draw(st.sampled_from([0, 0, 26])))


@st.composite
def workloads(draw) -> PipelineWorkload:
    names: list[str] = []
    built = []
    for i in range(draw(st.integers(1, 12))):
        built.append(draw(stages(f"s{i}", list(names))))
        names.append(f"s{i}")
    edges = [(p, s.name) for s in built for p in s.predecessors]
    transfers = tuple(Transfer(p, c, draw(st.integers(0, 4000)), draw(links))
                      for p, c in (draw(st.lists(st.sampled_from(edges), max_size=8)) if edges else []))
    return PipelineWorkload("random", tuple(built), transfers, tiles_used=4,
                            reprogram_ns_per_batch=draw(st.sampled_from([0.0, 0.0, 1234.5])),
                            reprogram_pj_per_batch=draw(st.sampled_from([0.0, 77.25])))


timings = st.builds(lambda serial, units, adders, ports: replace(
    ISAAC.timing, serial_output_path=serial, vector_units=units, tile_adders=adders, buffer_ports=ports),
    st.booleans(), st.integers(1, 70), st.integers(0, 2), st.integers(1, 2))


def _report_json(report) -> str:
    return json.dumps(report.to_json_dict(), default=float)


def _both(workload: PipelineWorkload, timing: ChipTiming, batch: int, waves: int,
          energies: ActionEnergies = ISAAC.energy_pj_per_action) -> tuple[str, str]:
    """Both engines' reports as JSON text, or the error each raised (a pipeline that takes no time
    divides by zero in both)."""
    args = (workload, timing, energies, 3.5, {"adc": 1.0}, "random")
    out = []
    for engine in (analytic, reference):
        try:
            out.append(_report_json(engine.analyze(*args, batch=batch, waves_per_event=waves)))
        except ArithmeticError as error:
            out.append(f"{type(error).__name__}: {error}")
    return out[0], out[1]


@settings(max_examples=150)
@given(workloads(), timings, st.integers(1, 80), st.integers(1, 16))
def test_the_fast_engine_reports_what_the_written_out_one_does(workload, timing, batch, waves):
    fast, slow = _both(workload, timing, batch, waves)
    assert fast == slow


@settings(max_examples=100)
@given(workloads(), timings, st.integers(1, 16))
def test_stage_costs_match_in_value_and_resource_order(workload, timing, waves):
    for stage in workload.stages:
        time_ns, busy, parts = analytic.stage_cost(stage, timing, waves)
        ref_time, ref_busy, ref_parts = reference.stage_cost(stage, timing, waves)
        assert (repr(time_ns), list(map(repr, busy.items())), list(map(repr, parts.items()))) == \
            (repr(ref_time), list(map(repr, ref_busy.items())), list(map(repr, ref_parts.items())))
    stage_times, busy, parts = analytic.stage_costs(workload, timing, waves)
    assert repr((stage_times, busy, parts)) == repr(reference.stage_costs(workload, timing, waves))


@settings(max_examples=100)
@given(workloads(), timings, st.integers(1, 80), st.floats(0.0, 1e7))
def test_handoff_bounds_and_makespan_match(workload, timing, batch, period_ns):
    stage_times = analytic.stage_costs(workload, timing, 16)[0]
    transfer_ns = analytic.transfer_times_ns(workload, timing)
    assert repr(analytic.handoff_bounds_ns(workload, stage_times, transfer_ns)) == \
        repr(reference.handoff_bounds_ns(workload, stage_times, transfer_ns))
    assert repr(analytic.batch_makespan_ns(workload, stage_times, transfer_ns, batch, period_ns)) == \
        repr(reference.batch_makespan_ns(workload, stage_times, transfer_ns, batch, period_ns))
    fill = StageGraph.build(workload, stage_times, transfer_ns).batch_ns(batch, period_ns)[0]
    assert repr(fill) == repr(max(reference.pipeline_fill_ns(workload, stage_times, transfer_ns).values()))


energies = st.lists(st.floats(0.0, 50.0) | st.just(0.0), min_size=len(ACTIVITY_KEYS),
                    max_size=len(ACTIVITY_KEYS)).map(lambda pj: ActionEnergies(*pj))


@settings(max_examples=100)
@given(workloads(), energies, st.floats(0.0, 1e3), st.floats(1.0, 1e7), st.integers(1, 64))
@example(PipelineWorkload("huge", (
    Stage("a", StageKind.MVM, 0, activity=Activity(cell_read=2**64 + 3, adc_conversion=2**53 + 1)),
    Stage("b", StageKind.DIGITAL, 0, activity=Activity(vector_op=5, buffer_access=3)))),
         ActionEnergies(*[0.1 * (i + 1) for i in range(len(ACTIVITY_KEYS))]), 2.0, 10.0, 8)
@example(PipelineWorkload("negative", (Stage("a", StageKind.MVM, 0, activity=Activity(cell_read=3)),)),
         ActionEnergies(*([-1.0] * len(ACTIVITY_KEYS))), 2.0, 10.0, 8)
def test_energy_pricing_matches_term_by_term(workload, energy_pj, leakage_mw, elapsed_ns, batch):
    """Counts past 2**53 round as int x float does, past 2**63 take the slow conversion; a negative
    energy of an action that never happens still adds nothing (0 x -1 is -0.0)."""
    fast = energy_per_inference(workload, energy_pj, leakage_mw, elapsed_ns, batch)
    slow = reference.energy_per_inference(workload, energy_pj, leakage_mw, elapsed_ns, batch)
    assert repr(fast) == repr(slow)


@given(st.integers(0, 10**6), st.integers(1, 200), st.integers(1, 64))
def test_digital_pool_is_the_sum_and_longest_of_the_chunks(ops, units, ops_per_cycle):
    timing = replace(ISAAC.timing, vector_units=units, vector_ops_per_cycle=ops_per_cycle)
    chunk_ns = [timing.digital_ns(chunk) for chunk in timing.digital_chunks(ops)]
    assert repr(timing.digital_pool_ns(ops)) == repr((sum(chunk_ns), max(chunk_ns, default=0.0)))


@pytest.mark.parametrize("preset", ["isaac", "puma"])
@pytest.mark.parametrize("model", ["vgg8", "mlp3", str(EXAMPLES / "subnet_full_seed0.json")])
def test_zoo_and_subnet_reports_are_unchanged(model, preset):
    chip = load_chip(preset)
    graph = resolve_model_spec(model)
    workload = workload_from_mapping(graph, map_model(graph, chip), chip)
    inputs = cost_inputs(chip)
    for batch in (1, 3, 64, 100):
        fast, slow = _both(workload, inputs.timing, batch, 16, inputs.energy_pj_per_action)
        assert fast == slow
        assert math.isfinite(json.loads(fast)["latency_ns_per_batch"])

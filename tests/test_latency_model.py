"""The latency model of issue 22: ADC conversion time by converter, partial sums reduced column
group by column group, each stage's time split by what it is spent on, and the PE results a tile's
adders merge. (Buffers, partial-sum traffic and the other cost-model fidelity checks:
tests/test_fidelity.py.)"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fidelity import _mvm, _report, _workload
from test_mapping_placement import chain, small_chip

from recpim.arch.graph.workload import OpKind, WorkloadGraph, WorkloadNode
from recpim.arch.model.spec import resolve_model_spec
from recpim.mapping import map_model
from recpim.pim.chip_model import build_chip_model
from recpim.pim.engine import cost_inputs
from recpim.pim.presets import load_chip
from recpim.pim.workload import TransferKind

# ---------------------------------------------------------------- ADC conversion time (issue 22, item 2)

def _adc_bound_chip(converter: str):
    # 128 columns per ADC at 1 GS/s quoted at 8 bits: 128 ns of conversions per read against a
    # 10 ns array read, so the ADC paces every read step.
    return load_chip("default").with_overrides({
        "adc.converter": converter, "adc.sample_rate_gsps": 1.0, "adc.rate_bits": 8, "adc.columns_per_adc": 128,
        "pe.adcs": 8, "crossbar.read_latency_ns": 10.0})


@pytest.mark.parametrize("converter", ["sar", "flash"])
def test_conversion_time_follows_the_converter(converter):
    for bits in (4, 6, 8, 10):
        chip = _adc_bound_chip(converter).with_overrides({"adc.bits": bits})
        expected = bits / 8 if converter == "sar" else 1.0
        assert chip.adc.conversion_ns == pytest.approx(expected, rel=1e-12)
        assert build_chip_model(chip).rollup["adc"].figures.latency_ns == pytest.approx(expected, rel=1e-12)


def test_latency_rises_with_adc_bits_for_sar_and_not_for_flash():
    graph = chain([(128, 128, 16)], relu=False)
    for engine in ("analytic", "des"):
        sar = [_report(graph, _adc_bound_chip("sar").with_overrides({"adc.bits": b}), engine).latency_ns_per_batch
               for b in (4, 6, 8)]
        flash = [_report(graph, _adc_bound_chip("flash").with_overrides({"adc.bits": b}), engine).latency_ns_per_batch
                 for b in (4, 6, 8)]
        assert sar[0] < sar[1] < sar[2], (engine, sar)
        assert flash[0] == flash[1] == flash[2], (engine, flash)
        # at the quoted resolution both converters take the quoted time
        assert sar[2] == pytest.approx(flash[2], rel=1e-12)


def test_isaac_converts_at_its_published_rate():
    # ISAAC's 8-bit SAR ADC at 1.28 GS/s (ISCA 2016 Table 6): the quoted point is unchanged.
    chip = load_chip("isaac")
    assert chip.adc.converter == "sar" and chip.adc.conversion_ns == pytest.approx(1 / 1.28, rel=1e-12)
    assert load_chip("neurosim-rram-22nm").adc.converter == "flash"


def test_an_adc_table_latency_must_repeat_the_conversion_time():
    chip = _adc_bound_chip("sar").with_overrides({"adc.bits": 4, "adc.model": "table",
                                                  "adc.user_table": {"energy_pj_per_action": 1.0, "area_um2": 100.0,
                                                                     "latency_ns": 1.0}})
    with pytest.raises(Exception, match=r"adc.user_table.latency_ns.*0.5"):
        build_chip_model(chip)
    ok = chip.with_overrides({"adc.user_table.latency_ns": 0.5})
    assert build_chip_model(ok).rollup["adc"].figures.latency_ns == 0.5


# ---------------------------------------------------------------- the leaner reduction (issue 22, item 3)

def test_partial_sums_travel_only_among_the_tiles_of_their_column_group():
    # 512 x 512, differential 2-bit cells: 4 row tiles x 32 column tiles, one crossbar per tile, so
    # tile t holds (row tile, column tile) = divmod(t, 32) and the copy's home is tile 127 (ties go
    # to the later tile). Column group c lives on tiles c, 32 + c, 64 + c, 96 + c: its sums hop
    # c -> 32+c -> 64+c -> 96+c -> 127 (4 hops; 3 for c = 31, whose last tile is the home). Each hop
    # carries 1/32 of the 512 outputs at a + w + ceil(log2 K) = 8 + 8 + 9 = 25 bits: 50 bytes.
    graph = chain([(512, 512, 1)], relu=False)
    mapping = map_model(graph, small_chip(tiles=128, mesh=(8, 16), crossbars=1))
    hops = [t for t in mapping.transfers if t.kind == TransferKind.PARTIAL_SUM]
    assert mapping.layer("fc0").placement.copy_home_tiles == (127,)
    assert sorted((t.src_tile, t.dst_tile) for t in hops) == sorted(
        [(c + 32 * r, c + 32 * (r + 1)) for c in range(31) for r in range(3)] + [(96 + c, 127) for c in range(31)]
        + [(31, 63), (63, 95), (95, 127)])
    assert {t.num_bytes for t in hops} == {50}
    assert sum(t.num_bytes for t in hops) * 8 == 127 * 50 * 8 == 50_800
    # the chain that carried all it had gathered, whatever the group, moved 56 576 / 32 x 50 bytes
    assert sum(t.num_bytes for t in hops) * 8 < 56_576 * 25


def test_a_column_group_held_whole_on_one_tile_sends_its_finished_outputs_once():
    # 128 x 512: one row tile of 32 column tiles, one per tile on tiles 0..31 (home 31). Each group is
    # finished where it lies and goes to the home once: 16 outputs at 8 + 8 + 7 = 23 bits, 46 bytes.
    graph = chain([(128, 512, 1)], relu=False)
    mapping = map_model(graph, small_chip(tiles=128, mesh=(8, 16), crossbars=1))
    hops = [t for t in mapping.transfers if t.kind == TransferKind.PARTIAL_SUM]
    assert sorted((t.src_tile, t.dst_tile, t.num_bytes) for t in hops) == [(c, 31, 46) for c in range(31)]


# ---------------------------------------------------------------- latency by part (issue 22, item 1)

@pytest.mark.parametrize("engine", ["analytic", "des"])
def test_latency_parts_sum_to_the_stage_times_on_vgg8(engine):
    chip = load_chip("isaac")
    report = _report(resolve_model_spec("vgg8"), chip, engine)
    assert set(report.stage_ns_by_layer_part) == set(report.stage_ns_by_layer)
    expected = {"compute", "buffer", "transfer", "merge", "dram"} | ({"waiting"} if engine == "des" else set())
    for layer, stage_ns in report.stage_ns_by_layer.items():
        parts = report.stage_ns_by_layer_part[layer]
        assert set(parts) == expected and min(parts.values()) >= 0
        assert math.fsum(parts.values()) == pytest.approx(stage_ns, rel=1e-12)
    # the crossbar steps of an MVM layer are on its critical path: 8 input bits x row groups x reads
    assert all(report.stage_ns_by_layer_part[layer]["compute"] > 0 for layer in report.stage_ns_by_layer)


def _merge_heavy_layer() -> WorkloadGraph:
    # 512 x 512 over 64 vectors, spread one crossbar per tile over 128 tiles: 32 768 partial sums per
    # inference arrive at the home tile, whose single adder merges 2 per 5 ns cycle (81 920 ns) against
    # 12 800 ns of crossbar steps.
    graph = WorkloadGraph("merge-heavy")
    graph.add_node(WorkloadNode("x", OpKind.INPUT, (), (512 * 64,)))
    graph.add_node(_mvm("fc0", 512, 512, 64))
    graph.add_edge("x", "fc0")
    graph.add_node(WorkloadNode("out", OpKind.OUTPUT, ((512 * 64,),), (512 * 64,)))
    graph.add_edge("fc0", "out")
    return graph


@pytest.mark.parametrize("engine", ["analytic", "des"])
def test_a_layer_whose_merge_dominates_is_merge_bound_in_the_report(engine):
    chip = small_chip(tiles=128, mesh=(8, 16), crossbars=1).with_overrides({"clock_ghz": 0.2})
    slow = _report(_merge_heavy_layer(), chip.with_overrides({"tile.shift_add_units": 1}), engine, batch=4)
    assert slow.bound_by("fc0") == "merge"
    assert slow.stage_ns_by_layer_part["fc0"]["merge"] == pytest.approx(32768 / 2 * 5.0)
    fast = _report(_merge_heavy_layer(), chip.with_overrides({"tile.shift_add_units": 16}), engine, batch=4)
    assert fast.bound_by("fc0") != "merge"


def test_a_report_whose_latency_parts_do_not_sum_is_refused():
    from dataclasses import replace

    from recpim.reports.checks import cost_report_problems
    report = _report(chain([(128, 64, 4)]), small_chip())
    assert cost_report_problems(report) == []
    parts = {**report.stage_ns_by_layer_part, "fc0": {**report.stage_ns_by_layer_part["fc0"], "compute": 1e9}}
    problems = cost_report_problems(replace(report, stage_ns_by_layer_part=parts))
    assert [key for key, _ in problems] == ["stage_ns_by_layer_part.fc0"]


# ---------------------------------------------------------------- tile accumulation across PEs (issue 22, item 5)

def test_tile_accumulation_is_counted_per_output_and_priced_by_the_tiles_adders():
    # 512 x 16, differential 2-bit cells: 4 row tiles of one column tile (16 x 4 slices x 2 = 128
    # columns). On 4 PEs of one crossbar each, the tile's adders merge 4 PE results per output:
    # 3 x 16 = 48 additions per inference; on one PE of 4 crossbars the PE's shift-and-add does it.
    graph = chain([(512, 16, 1)], relu=False)
    spread_chip = small_chip(tiles=1, mesh=(1, 1), pes=4, crossbars=1)
    spread = _workload(graph, spread_chip).stage("fc0")
    assert spread.activity.tile_add == 48 and spread.tile_adds == 48
    packed = _workload(graph, small_chip(tiles=1, mesh=(1, 1), pes=1, crossbars=4)).stage("fc0")
    assert packed.activity.tile_add == 0 and packed.tile_adds == 0
    report = _report(graph, spread_chip)
    model = build_chip_model(spread_chip)
    per_add = model.rollup["tile_shift_add"].figures.energy_pj_per_action
    # the tile adders' energy joins the shift-and-add component: 48 more of them than packed
    assert report.energy_pj_by_component["shift_add"] == pytest.approx(
        spread.activity.shift_add * model.rollup["shift_add"].figures.energy_pj_per_action + 48 * per_add)
    # and they are timed on the tile's adders: 24 cycles of 2 additions each, a merge on the critical path
    timing = cost_inputs(spread_chip).timing
    assert report.stage_ns_by_layer_part["fc0"]["merge"] == pytest.approx(24 * timing.cycle_ns)


def test_tile_accumulation_counts_each_shared_column_group_once_per_extra_pe():
    # 256 x 64 differential 2-bit: 2 row tiles x 4 column tiles = 8 crossbars, 2 per PE on 4 PEs of
    # one tile. Row-tile-major order puts (r0,c0)(r0,c1) | (r0,c2)(r0,c3) | (r1,c0)(r1,c1) | (r1,c2)(r1,c3)
    # in PEs 0..3: every column group is read by 2 PEs, so 1 addition per output: 64.
    graph = chain([(256, 64, 1)], relu=False)
    stage = _workload(graph, small_chip(tiles=1, mesh=(1, 1), pes=4, crossbars=2)).stage("fc0")
    assert stage.activity.tile_add == 64


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 6), st.integers(1, 5), st.integers(1, 7), st.integers(0, 40), st.integers(1, 60))
def test_tile_adds_equal_a_crossbar_by_crossbar_count(row_tiles, col_tiles, per_pe, first, crossbars):
    """Against the definition: every PE's crossbars, copy by copy, give the column groups each PE
    reads; a group read by p PEs of a segment costs p - 1 additions per output of its columns."""
    from types import SimpleNamespace

    from recpim.mapping.layer_placement import _tile_adds
    from recpim.mapping.placement import Segment
    cols = tuple(3 + group for group in range(col_tiles))
    xmap = SimpleNamespace(crossbars=row_tiles * col_tiles, col_tiles=col_tiles, weight_cols_per_col_tile=cols,
                           weight_cols_per_row_tile=sum(cols))
    pes = -(-crossbars // per_pe)
    segment = Segment(0, 5, 0, pes, first, crossbars)
    copies = (first + crossbars - 1) // xmap.crossbars + 1
    node = SimpleNamespace(output_shape=(sum(cols) * copies * 7,))
    readers: dict[tuple[int, int], set[int]] = {}   # (copy, group) -> PEs reading it
    for index in range(first, first + crossbars):
        copy, local = divmod(index, xmap.crossbars)
        readers.setdefault((copy, local % col_tiles), set()).add((index - first) // per_pe)
    shared = sum((len(pes_reading) - 1) * cols[group] for (_, group), pes_reading in readers.items())
    expected = ((5, -(-node.output_shape[0] * shared // (sum(cols) * copies))),) if shared else ()
    assert _tile_adds(node, xmap, copies, (segment,), per_pe) == expected


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.integers(0, 30), st.integers(1, 15), min_size=1, max_size=12), st.integers(0, 30))
def test_the_reduction_carries_each_group_once_from_every_holder_towards_the_home(groups, home):
    from recpim.mapping.traffic import reduction_chain
    cols = (2, 3, 5, 7)
    hops = reduction_chain(groups, home, cols)
    for src, dst, _ in hops:
        assert src != home and (src < dst <= home or src > dst >= home)   # always towards the home
    # every tile but the home sends each group it holds exactly once: carried totals match
    sent: dict[int, int] = {}
    for src, _, carried in hops:
        sent[src] = sent.get(src, 0) + carried
    assert sent == {tile: sum(c for g, c in enumerate(cols) if held >> g & 1)
                    for tile, held in groups.items() if tile != home}

"""Cost-model fidelity (issue 12): what the buffers, partial sums, fused activations, analog
subtraction, DAC sharing and array periphery must do, on hand-made layers and on VGG-8."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_mapping_placement import chain, small_chip

from recpim.arch.graph.workload import OpKind, WorkloadGraph, WorkloadNode
from recpim.arch.model.spec import resolve_model_spec
from recpim.mapping import map_model
from recpim.mapping.crossbar import lossless_adc_bits, map_mvm
from recpim.mapping.to_workload import workload_from_mapping
from recpim.pim.chip_model import build_chip_model
from recpim.pim.engine import cost_inputs, run_engine
from recpim.pim.presets import load_chip
from recpim.pim.workload import StageKind, TransferKind


def _workload(graph, chip):
    return workload_from_mapping(graph, map_model(graph, chip), chip)


def _report(graph, chip, engine="analytic", batch=8):
    return run_engine(_workload(graph, chip), cost_inputs(chip), engine, batch)[0]


def _mvm(name: str, k: int, n: int, vectors: int = 1) -> WorkloadNode:
    return WorkloadNode(name, OpKind.MVM, ((k * vectors,),), (n * vectors,), weight_shape=(k, n), weight_bits=8,
                        vectors=vectors, macs=k * n * vectors)


# ---------------------------------------------------------------- buffers

def test_buffer_accesses_grow_with_the_tiles_a_layer_spans():
    # 512 x 512 differential at 2-bit cells: 4 row tiles x 32 column tiles; one crossbar per tile
    # spreads it over 128 tiles, 16 per tile over 8: every tile buffers the rows its crossbars read.
    graph = chain([(512, 512, 1)], relu=False)
    spread = _workload(graph, small_chip(tiles=128, mesh=(8, 16), crossbars=1)).stage("fc0")
    packed = _workload(graph, small_chip(tiles=8, mesh=(2, 4), crossbars=16)).stage("fc0")
    assert len(spread.buffers) == 128 and len(packed.buffers) == 8
    # each tile reads exactly the rows its row tile holds (128 of 512), 8 bits each: 16x the reads
    assert {b.read_bits for b in packed.buffers} == {b.read_bits for b in spread.buffers} == {128 * 8}
    assert spread.activity.buffer_access > packed.activity.buffer_access


def test_buffer_energy_falls_as_crossbars_grow_on_vgg8():
    graph = resolve_model_spec("vgg8")
    energies = []
    for rows in (128, 256, 512):
        chip = load_chip("isaac").with_overrides({"crossbar.rows": rows, "crossbar.rows_read_at_once": 128})
        energies.append(_report(graph, chip, batch=4).energy_pj_by_component["buffer"])
    assert energies[0] > energies[1] > energies[2]


def _buffer_bound() -> WorkloadGraph:
    graph = WorkloadGraph("buffer-bound")
    graph.add_node(WorkloadNode("x", OpKind.INPUT, (), (128 * 64,)))
    graph.add_node(_mvm("fc", 128, 16, vectors=64))   # 64 vectors of 128 rows, few outputs
    graph.add_edge("x", "fc")
    return graph


def test_more_buffer_ports_or_tiles_shorten_a_buffer_bound_layer():
    graph = _buffer_bound()
    # 8-bit DACs and a 1 ns read: a vector's 128 x 8 input bits take 4 buffer accesses (3.3 ns) and
    # one crossbar read: the buffer bounds the layer.
    base = small_chip(tiles=1, mesh=(1, 1), crossbars=1, read_latency_ns=1.0).with_overrides(
        {"dac.bits": 8, "adc.sample_rate_gsps": 100.0})
    slow = _report(graph, base).stage_ns_by_layer["fc"]
    ported = _report(graph, base.with_overrides({"tile.buffer.ports": 4})).stage_ns_by_layer["fc"]
    assert ported < 0.5 * slow
    # the same layer with 4 copies on 4 tiles: each copy's tile reads its own vectors
    wide = small_chip(tiles=4, mesh=(2, 2), crossbars=1, read_latency_ns=1.0, replication="balance").with_overrides(
        {"dac.bits": 8, "adc.sample_rate_gsps": 100.0})
    assert _report(graph, wide).stage_ns_by_layer["fc"] < 0.5 * slow


def test_line_buffers_read_each_conv_input_once():
    graph = resolve_model_spec("vgg8")
    chip = load_chip("isaac")
    reuse = _workload(graph, chip).stage("features_2")
    window = _workload(graph, chip.with_overrides({"tile.buffer.input_reuse": "none"})).stage("features_2")
    # conv 128 -> 128, 3 x 3, at 32 x 32: windows of 1152 rows for 1024 positions vs a 128 x 32 x 32 map
    ratio = sum(b.read_bits for b in window.buffers) / sum(b.read_bits for b in reuse.buffers)
    assert ratio == pytest.approx(1152 * 1024 / (128 * 32 * 32), rel=0.01)
    assert sum(b.write_bits for b in window.buffers) == sum(b.write_bits for b in reuse.buffers)


# ---------------------------------------------------------------- fused ReLU and pooling

def test_fused_relu_and_pool_add_no_buffer_round_trip():
    graph = resolve_model_spec("vgg8")
    chip = load_chip("isaac")
    fused = _workload(graph, chip)
    separate = _workload(graph, chip.with_overrides({"mapping.fuse_activations": False}))
    assert not {"features_1", "features_3", "features_4"} & {s.name for s in fused.stages}
    kinds = {s.name: s.kind for s in separate.stages}
    assert kinds["features_1"] == kinds["features_4"] == StageKind.DIGITAL
    saved = separate.total_activity().buffer_access - fused.total_activity().buffer_access
    round_trips = sum(s.activity.buffer_access for s in separate.stages if s.kind == StageKind.DIGITAL
                      and s.name not in {x.name for x in fused.stages})
    assert saved == round_trips > 0
    # their ops are charged to the units that do them, on the layer that feeds them
    conv = fused.stage("features_2")
    assert conv.activity.vector_op == 128 * 32 * 32 and conv.activity.maxpool_op == 128 * 32 * 32
    assert fused.stage("features_2").predecessors == ("features_0",)


# ---------------------------------------------------------------- partial sums

def test_partial_sums_are_timed_and_load_the_links():
    graph = chain([(1024, 64, 4)], relu=False)   # 8 row tiles of 4 crossbars, one per tile: a reduction chain
    chip = small_chip(tiles=8, mesh=(1, 8), crossbars=4).with_overrides({"chip.noc.link_bandwidth_gbps": 1.0})
    stage = _workload(graph, chip).stage("fc0")
    assert len(stage.partial_sums) == 7 and all(t.hops == 1 for t in stage.partial_sums)
    assert stage.activity.psum_add > 0
    slow = _report(graph, chip, engine="des")
    fast = _report(graph, chip.with_overrides({"chip.noc.link_bandwidth_gbps": 1000.0}), engine="des")
    assert slow.latency_ns_per_inference > fast.latency_ns_per_inference
    assert max(v for k, v in slow.utilization.items() if k.startswith("link")) > 0.2
    assert not any(k.startswith("link") for k in _report(chain([(128, 64, 4)], relu=False), chip).utilization)


# ---------------------------------------------------------------- analog subtraction, sign-magnitude

@settings(max_examples=30, deadline=None)
@given(k=st.integers(1, 600), n=st.integers(1, 300), bits=st.integers(2, 10), cell=st.integers(1, 4),
       rows_read=st.sampled_from([16, 32, 64, 128]), cols=st.sampled_from([64, 128, 256]))
def test_analog_subtraction_halves_conversions_exactly(k, n, bits, cell, rows_read, cols):
    node = _mvm("fc", k, n)
    node = WorkloadNode(**{**node.__dict__, "weight_bits": bits})
    base = small_chip(bits_per_cell=cell, rows_read_at_once=rows_read, cols=cols)
    pair = map_mvm(node, base.with_overrides({"crossbar.analog_subtraction": True}))
    both = map_mvm(node, base)
    assert 2 * pair.adc_conversions == both.adc_conversions
    assert pair.cell_reads == both.cell_reads and pair.shift_add_ops == pair.adc_conversions
    assert pair.lossless_adc_bits == both.lossless_adc_bits + 1


def test_lossless_width_of_a_signed_difference_is_exact():
    # 128 rows of 2-bit cells and 1-bit inputs: one-sided sums reach 384 (9 bits); the difference
    # spans -384..384, 769 values: 10 bits.
    assert lossless_adc_bits(128, 2, 1) == 9
    assert lossless_adc_bits(128, 2, 1, signed=True) == 10
    assert 2 ** 10 >= 2 * 384 + 1 > 2 ** 9


def test_sign_magnitude_slices_one_bit_fewer_per_side():
    node = WorkloadNode(**{**_mvm("fc", 128, 128).__dict__, "weight_bits": 9})
    sign_magnitude = map_mvm(node, small_chip(encoding="sign_magnitude"))
    differential = map_mvm(node, small_chip(encoding="differential"))
    assert (sign_magnitude.bit_slices, differential.bit_slices) == (4, 5)   # 8 / 2 vs 9 / 2 bits per cell
    assert sign_magnitude.crossbars * 5 == differential.crossbars * 4


def test_analog_subtraction_needs_column_pairs():
    from recpim.errors import ConfigError

    with pytest.raises(ConfigError, match="analog_subtraction"):
        small_chip(encoding="offset").with_overrides({"crossbar.analog_subtraction": True})


# ---------------------------------------------------------------- DAC sharing

def test_sharing_dacs_four_to_one_multiplies_dac_steps_by_four():
    node = _mvm("fc", 128, 64, vectors=3)
    base = small_chip()
    shared = map_mvm(node, base.with_overrides({"dac.rows_per_dac": 4}))
    own = map_mvm(node, base)
    assert shared.dac_steps == 4 * own.dac_steps and shared.dac_drives == own.dac_drives
    one, four = build_chip_model(base), build_chip_model(base.with_overrides({"dac.rows_per_dac": 4}))
    assert one.rollup["dac"].count_per_chip == 4 * four.rollup["dac"].count_per_chip
    assert one.rollup["dac"].area_mm2_per_chip == pytest.approx(4 * four.rollup["dac"].area_mm2_per_chip)
    graph = chain([(128, 64, 3)], relu=False)
    slow = _report(graph, base.with_overrides({"dac.rows_per_dac": 4})).stage_ns_by_layer["fc0"]
    assert slow > _report(graph, base).stage_ns_by_layer["fc0"]


# ---------------------------------------------------------------- periphery

@settings(max_examples=20, deadline=None)
@given(rows=st.sampled_from([64, 128, 256, 512]), cols=st.sampled_from([64, 128, 256, 512]))
def test_periphery_area_scales_with_rows_and_columns(rows, cols):
    chip = load_chip("neurosim-rram-22nm").with_overrides({"crossbar.rows": rows, "crossbar.cols": cols,
                                                           "crossbar.rows_read_at_once": 32, "adc.columns_per_adc": 8,
                                                           "pe.adcs": 16 * cols // 8})
    model = build_chip_model(chip)
    per_crossbar = (model.rollup["row_periphery"].count_per_pe * model.components["row_periphery"].area_um2
                    + model.rollup["column_periphery"].count_per_pe * model.components["column_periphery"].area_um2
                    ) / chip.pe.crossbars
    assert per_crossbar == pytest.approx(rows * 21.9 + cols * 12.9, rel=1e-9)   # NeuroSim V1.3 at 22 nm


# ---------------------------------------------------------------- trends on VGG-8

def test_vgg8_energy_rises_with_adc_bits_and_adcs_dominate_on_isaac():
    graph = resolve_model_spec("vgg8")
    energies = []
    for bits in (4, 6, 8, 10):
        report = _report(graph, load_chip("isaac").with_overrides({"adc.bits": bits}), batch=4)
        energies.append(report.energy_pj_per_inference)
        if bits == 8:
            share = report.energy_pj_by_component["adc"] / report.energy_pj_per_inference
            assert 0.6 < share < 0.8
    assert energies == sorted(energies) and len(set(energies)) == 4


def test_engines_agree_on_vgg8_with_the_new_stage_model():
    graph = resolve_model_spec("vgg8")
    chip = load_chip("neurosim-rram-22nm")
    analytic = _report(graph, chip, "analytic", batch=4)
    des = _report(graph, chip, "des", batch=4)
    # A consistency check, not a check of the counts: both engines price the same counts with the same
    # function (tests/test_hand_counts.py checks counts and energy worked by hand).
    assert des.dynamic_energy_pj_per_inference == analytic.dynamic_energy_pj_per_inference
    assert math.isclose(des.latency_ns_per_inference, analytic.latency_ns_per_inference, rel_tol=0.3)


def test_sweep_points_carry_the_energy_breakdown_and_sweep_the_models_bits(tmp_path):
    from recpim.search.sweep import run_sweep

    grid = {"crossbar.rows": [128, 256, 512], "crossbar.rows_read_at_once": [128]}
    rows = run_sweep("vgg8", load_chip("isaac"), grid, batch=4, backend="serial", cache_dir=tmp_path, progress=False)
    buffer = [point.energy_pj_by_component["buffer"] for point in rows.points]
    assert buffer[0] > buffer[1] > buffer[2]
    bits = run_sweep("mlp3", load_chip("isaac"), {"model.weight_bits": [4, 8], "model.activation_bits": [8]},
                     batch=4, backend="serial", cache_dir=tmp_path, progress=False)
    low, high = (point.energy_pj_by_component["adc"] for point in bits.points)
    assert low < high   # fewer weight bits: fewer bit slices, fewer conversions
    assert [point.settings["model.weight_bits"] for point in bits.points] == [4, 8]


# ---------------------------------------------------------------- output path timed where the dataflow serialises it

def _psum_chain_chip(pipelining: str = "overlapped"):
    return small_chip(tiles=8, mesh=(1, 8), crossbars=4).with_overrides({"tile.pipelining": pipelining})


def test_partial_sum_buffer_traffic_lengthens_a_stage_in_both_engines():
    from dataclasses import replace

    from recpim.pim import analytic, des

    graph = chain([(1024, 64, 4)], relu=False)   # 8 row tiles, one per tile: partial sums cross tiles
    chip = _psum_chain_chip()
    workload = _workload(graph, chip)
    stage = workload.stage("fc0")
    # the busiest receiving tile writes and reads back every partial sum that reaches it
    assert stage.psum_buffer_bits == max(8 * t.num_bytes for t in stage.partial_sums)
    untimed = replace(workload, stages=tuple(replace(s, psum_buffer_bits=0) for s in workload.stages))
    inputs = cost_inputs(chip)
    timing = inputs.timing
    expected_ns = 2 * timing.buffer_ns(stage.psum_buffer_bits)
    with_ns = analytic.stage_ns(stage, timing)
    assert with_ns - analytic.stage_ns(untimed.stage("fc0"), timing) == pytest.approx(expected_ns)
    common = dict(timing=timing, energy_pj_per_action=inputs.energy_pj_per_action, leakage_mw=0.0,
                  area_mm2_by_component={}, chip_name="t", batch=1)
    des_with = des.simulate(workload, **common)[0].stage_ns_by_layer["fc0"]
    des_without = des.simulate(untimed, **common)[0].stage_ns_by_layer["fc0"]
    assert des_with - des_without == pytest.approx(expected_ns)
    assert des_with == pytest.approx(with_ns)


def test_serial_pipelining_adds_the_output_path_to_every_event():
    from recpim.pim import analytic

    graph = chain([(1024, 64, 64)], relu=False)   # 64 vectors: several events per inference
    overlapped, serial = _psum_chain_chip("overlapped"), _psum_chain_chip("serial")
    stage = _workload(graph, serial).stage("fc0")
    timing = cost_inputs(serial).timing
    assert timing.serial_output_path and not cost_inputs(overlapped).timing.serial_output_path
    events = analytic.mvm_events(stage, timing, analytic.DEFAULT_WAVES_PER_EVENT)
    assert len(events) > 1
    by_hand = sum(max((timing.buffer_ns(bits) for bits in e.read_bits_by_tile.values()), default=0.0)
                  + e.crossbar_ns + max(timing.transfer_ns(b, t.hops) for t, b in e.partial_sums)
                  + e.psum_buffer_ns + timing.adds_ns(e.psum_adds) for e in events)
    stage_ns = analytic.stage_ns(stage, timing)
    write_ns = max(timing.buffer_ns(b.write_bits) for b in stage.buffers)
    assert stage_ns == pytest.approx(write_ns + by_hand)
    assert stage_ns > analytic.stage_ns(_workload(graph, overlapped).stage("fc0"), cost_inputs(overlapped).timing)
    for engine in ("analytic", "des"):   # one stage, no contention: both engines time the same series
        a = _report(graph, serial, engine, batch=2)
        assert a.stage_ns_by_layer["fc0"] == pytest.approx(stage_ns)
        assert a.latency_ns_per_inference > _report(graph, overlapped, engine, batch=2).latency_ns_per_inference


def test_vgg8_at_batch_1_fits_the_peers_buffer_sizes_with_line_buffers():
    # NeuroSim's buffers: 0.5 KB per PE and 0.25 KB per tile (4 PEs per tile here: 2.25 KB)
    chip = load_chip("neurosim-rram-22nm")
    chip = chip.with_overrides({"tile.buffer.size_kb": 0.5 * chip.tile.pes + 0.25})
    workload = _workload(resolve_model_spec("vgg8"), chip)
    assert not workload.notes
    assert all(s.dram_bits == 0 for s in workload.stages)


def test_a_spill_names_the_layer_and_its_bytes():
    graph = chain([(1024, 64, 4)], relu=False)
    chip = _psum_chain_chip().with_overrides({"tile.buffer.size_kb": 0.001})
    workload = _workload(graph, chip)
    spilled = workload.stage("fc0").dram_bits
    assert spilled > 0
    assert any(f"layer fc0 spills {spilled // 2 // 8:,} bytes" in note for note in workload.notes)


def test_vgg8_on_the_neurosim_chip_within_25_percent_of_neurosims_tops():
    graph = resolve_model_spec("vgg8")
    chip = load_chip("neurosim-rram-22nm")
    for engine in ("analytic", "des"):
        tops = _report(graph, chip, engine, batch=64).tops
        assert 0.75 * 6.25 <= tops <= 1.25 * 6.25, (engine, tops)


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

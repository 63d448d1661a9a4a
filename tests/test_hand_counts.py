"""A 2-layer MLP on a 2-tile chip, counted by hand: every action of every layer, then its energy,
against the mapping and both cost engines (issue 27, item 3).

The engines' "dynamic energies agree exactly" tests (test_pim_engines.py, test_simulate.py,
test_fidelity.py) are consistency checks: both engines price the same counts with the same function.
This test is what can fail when a count is wrong: the counts below are worked out here from the
crossbar conventions (mapping/crossbar.py's docstring) and the stage rules (mapping/to_workload.py),
not read from the code.

The workload: x (128 features, 8-bit) -> fc0 (128 x 16) -> ReLU -> fc1 (16 x 8) -> ReLU -> out, one
vector per inference, 8-bit weights and activations.
The chip: 2 tiles on a 1 x 2 mesh, one PE of one 128 x 128 crossbar per tile, 2-bit cells, 1-bit
DACs, all 128 rows read at once, differential encoding, no replication; a 256-bit buffer port and
256-bit flits (the defaults).
"""

from __future__ import annotations

import math

import pytest
from test_mapping_placement import chain, small_chip

from recpim.mapping import map_model
from recpim.mapping.cost import evaluate_cost
from recpim.mapping.to_workload import workload_from_mapping
from recpim.pim.analytic import analyze
from recpim.pim.des import simulate
from recpim.pim.engine import cost_inputs
from recpim.pim.workload import ACTIVITY_KEYS, COMPONENT_OF_ACTIVITY, ActionEnergies

# fc0: K = 128 rows, N = 16 outputs. 8-bit weights on 2-bit cells: s = 4 slices; differential: a +
# and a - column per slice: 2 x 16 x 4 = 128 columns = one crossbar (1 row tile x 1 column tile).
# 8-bit inputs on a 1-bit DAC: 8 input cycles; 128 rows read at once: 1 row group.
#   ADC conversions = vectors 1 x cycles 8 x row groups 1 x used columns 128     = 1024
#   sample-and-holds, column-periphery passes, shift-adds: one per conversion  = 1024 each
#   DAC drives = 8 cycles x 128 rows x 1 column tile                              = 1024
#   row-periphery passes: one per driven row                                      = 1024
#   cell reads = 8 cycles x 128 rows x 128 columns                                = 131072
#   register bytes = input 128 x 8 bits + output 16 x 8 bits = 1152 bits          = 144
#   buffer: the 1024 input bits written once and read once, 256 bits an access   = 4 + 4 = 8
#   bus bits = the 1024 bits read from the buffer + the 128 output bits          = 1152
#   vector ops: the fused ReLU, one per output                                    = 16
#   flit hops: 16 output bytes = 128 bits = one 256-bit flit, tile 0 -> tile 1   = 1
# fc1: K = 16, N = 8: 2 x 8 x 4 = 64 columns of one crossbar, 16 rows of it used.
#   ADC conversions = 8 cycles x 1 group x 64 columns                             = 512
#   sample-and-holds, column-periphery passes, shift-adds                         = 512 each
#   DAC drives (and row-periphery passes) = 8 cycles x 16 rows                    = 128
#   cell reads = 8 x 16 x 64                                                      = 8192
#   register bytes = (16 x 8 + 8 x 8) / 8                                         = 24
#   buffer: 128 bits written, 128 read: one access each                           = 2
#   bus bits = 128 + 64                                                           = 192
#   vector ops (ReLU)                                                             = 8
#   flit hops: fc1 sends nothing over the mesh (out is free)                      = 0
HAND_COUNTS = {
    "fc0": {"adc_conversion": 1024, "sample_hold": 1024, "dac_drive": 1024, "row_periphery": 1024,
            "column_periphery": 1024, "cell_read": 131072, "shift_add": 1024, "register_byte": 144,
            "buffer_access": 8, "bus_bit": 1152, "vector_op": 16, "router_flit_hop": 1},
    "fc1": {"adc_conversion": 512, "sample_hold": 512, "dac_drive": 128, "row_periphery": 128,
            "column_periphery": 512, "cell_read": 8192, "shift_add": 512, "register_byte": 24,
            "buffer_access": 2, "bus_bit": 192, "vector_op": 8},
}
# Prices chosen for hand arithmetic (pJ per action; powers of two, so every product and sum is exact).
PRICES_PJ = {"adc_conversion": 1.0, "sample_hold": 2**-6, "dac_drive": 2**-3, "row_periphery": 2**-10,
             "column_periphery": 2**-9, "cell_read": 2**-13, "shift_add": 2**-4, "register_byte": 2**-2,
             "buffer_access": 8.0, "bus_bit": 2**-5, "psum_add": 0.5, "vector_op": 2**-2, "maxpool_op": 0.25,
             "router_flit_hop": 4.0, "dram_bit": 16.0,
             # the embedding-lookup actions (issue 25): this MLP has none, any price does
             "embedding_cache_bit": 2**-7, "dram_rank_bit": 2.0, "dram_channel_bit": 2.0, "near_memory_op": 2**-3,
             # PE results merged on a tile's adders (issue 22 item 5): each layer here is one crossbar, none
             "tile_add": 0.5}
# fc0: 1024 + 16 + 128 + 1 + 2 + 16 + 64 + 36 + 64 + 36 + 4 + 4 = 1395 pJ
# fc1: 512 + 8 + 16 + 0.125 + 1 + 1 + 32 + 6 + 16 + 6 + 2 = 600.125 pJ
HAND_ENERGY_PJ = {"fc0": 1395.0, "fc1": 600.125}
# By component (mapping of actions to components: pim/workload.py's Activity metadata):
HAND_COMPONENT_PJ = {"adc": 1536.0, "sample_hold": 24.0, "dac": 144.0, "periphery": 1 + 2 + 0.125 + 1,
                     "crossbar": 17.0, "shift_add": 96.0, "registers": 42.0, "buffer": 80.0, "bus": 42.0,
                     "vector_unit": 6.0, "noc": 4.0}


def _graph_and_chip():
    return (chain([(128, 16, 1), (16, 8, 1)], relu=True, name="mlp2"),
            small_chip(tiles=2, mesh=(1, 2), pes=1, crossbars=1))


@pytest.fixture(scope="module")
def workload():
    graph, chip = _graph_and_chip()
    return workload_from_mapping(graph, map_model(graph, chip), chip)


def test_the_hand_sums_add_up():
    for layer, counts in HAND_COUNTS.items():
        assert sum(n * PRICES_PJ[action] for action, n in counts.items()) == HAND_ENERGY_PJ[layer]
    assert sum(HAND_COMPONENT_PJ.values()) == sum(HAND_ENERGY_PJ.values())


def test_mapping_places_one_layer_per_tile_on_one_crossbar_each():
    graph, chip = _graph_and_chip()
    mapping = map_model(graph, chip)
    assert [(layer.name, layer.crossbar.crossbars, layer.placement.home_tile) for layer in mapping.layers] == \
        [("fc0", 1, 0), ("fc1", 1, 1)]
    # Lossless ADC widths: fc0 sums 128 rows of 1-bit inputs on 2-bit cells, 128 x 1 x 3 = 384 -> 9 bits,
    # one more than the chip's 8; fc1 sums 16 rows, 48 -> 6 bits.
    assert [(layer.name, layer.crossbar.lossless_adc_bits) for layer in mapping.layers] == [("fc0", 9), ("fc1", 6)]
    assert mapping.adc_lossy_layers == ("fc0",)


def test_the_mapping_counts_every_action_as_worked_by_hand(workload):
    assert [stage.name for stage in workload.stages] == ["fc0", "fc1"]
    for stage in workload.stages:
        counted = {action: n for action, n in stage.activity.items() if n}
        assert counted == HAND_COUNTS[stage.name], stage.name
    assert [(t.producer, t.consumer, t.num_bytes, t.hops) for t in workload.transfers] == [("fc0", "fc1", 16, 1)]
    assert workload.macs_per_inference == 128 * 16 + 16 * 8


@pytest.mark.parametrize("engine", ["analytic", "des"])
@pytest.mark.parametrize("batch", [1, 5])
def test_both_engines_charge_the_hand_worked_energy(workload, engine, batch):
    graph, chip = _graph_and_chip()
    timing = cost_inputs(chip).timing
    prices = ActionEnergies.from_dict(PRICES_PJ)
    run = analyze if engine == "analytic" else simulate
    report = run(workload, timing, prices, 0.0, {"crossbar": 1.0}, "hand", batch=batch)
    report = report[0] if isinstance(report, tuple) else report
    assert report.dynamic_energy_pj_per_inference == pytest.approx(sum(HAND_ENERGY_PJ.values()), rel=1e-12)
    assert report.energy_pj_per_inference == pytest.approx(sum(HAND_ENERGY_PJ.values()), rel=1e-12)  # no leakage
    assert report.energy_pj_by_layer == pytest.approx({**HAND_ENERGY_PJ, "leakage": 0.0}, rel=1e-12)
    by_component = {name: pj for name, pj in report.energy_pj_by_component.items() if pj}
    assert by_component == pytest.approx(HAND_COMPONENT_PJ, rel=1e-12)


@pytest.mark.parametrize("engine", ["analytic", "des"])
def test_the_chip_models_prices_times_the_hand_counts_are_the_dynamic_energy(engine):
    """End to end (evaluate_cost with the chip model's own per-action energies): the dynamic energy
    is the hand counts priced by the chip model, whatever those prices are."""
    graph, chip = _graph_and_chip()
    inputs = cost_inputs(chip)
    prices = {key: getattr(inputs.energy_pj_per_action, key) for key in ACTIVITY_KEYS}
    expected = math.fsum(n * prices[action] for counts in HAND_COUNTS.values() for action, n in counts.items())
    report = evaluate_cost(graph, chip, engine=engine, batch=4, inputs=inputs).report
    assert report.dynamic_energy_pj_per_inference == pytest.approx(expected, rel=1e-12)
    by_component: dict[str, float] = {}
    for counts in HAND_COUNTS.values():
        for action, n in counts.items():
            component = COMPONENT_OF_ACTIVITY[action]
            by_component[component] = by_component.get(component, 0.0) + n * prices[action]
    charged = {name: pj for name, pj in report.energy_pj_by_component.items() if pj and name != "leakage"}
    assert charged == pytest.approx({name: pj for name, pj in by_component.items() if pj}, rel=1e-12)

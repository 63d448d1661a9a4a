"""Crossbar arithmetic of one MVM: hand-computed cases and invariants (recpim.mapping.crossbar)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recpim.arch.graph.workload import OpKind, WorkloadNode
from recpim.errors import ConfigError
from recpim.mapping import isaac_adc_bits, lossless_adc_bits, map_mvm
from recpim.pim.config import ChipConfig


def chip(rows=128, cols=128, cell_bits=2, read_rows=128, dac_bits=1, adc_bits=8, encoding="differential",
         **extra) -> ChipConfig:
    data = {
        "weight_encoding": encoding,
        "crossbar": {"rows": rows, "cols": cols, "bits_per_cell": cell_bits, "rows_read_at_once": read_rows},
        "dac": {"bits": dac_bits},
        "adc": {"bits": adc_bits, "columns_per_adc": 4096},
    }
    for section, values in extra.items():
        data.setdefault(section, {}).update(values)
    return ChipConfig.model_validate(data)


def mvm(k, n, weight_bits=8, activation_bits=8, vectors=1, name="fc") -> WorkloadNode:
    return WorkloadNode(name, OpKind.MVM, ((k,),), (n,), activation_bits=activation_bits, weight_shape=(k, n),
                        weight_bits=weight_bits, vectors=vectors, macs=k * n * vectors)


# ---------------------------------------------------------------- hand-computed cases

def test_512x256_differential_needs_4_by_16_crossbars():
    xmap = map_mvm(mvm(512, 256), chip(encoding="differential"))
    assert xmap.bit_slices == 4                      # ceil(8 / 2)
    assert (xmap.row_tiles, xmap.col_tiles) == (4, 16)  # 512/128, 256*4*2/128
    assert xmap.crossbars == 64
    assert xmap.columns_used == 4 * 2048
    assert xmap.cells_used == 512 * 2048
    assert xmap.cell_utilization == 1.0
    # full row tiles: conversions = vectors x cycles x row_groups x all used columns = 1 x 8 x 1 x 8192
    assert xmap.input_cycles == 8 and xmap.row_groups == 1
    assert xmap.adc_conversions == 8 * 8192
    assert xmap.dac_drives == 8 * 512 * 16           # every crossbar drives its 128 rows each cycle
    assert xmap.cell_reads == 8 * 512 * 2048
    assert xmap.shift_add_ops == xmap.adc_conversions
    assert xmap.read_steps == 8


def test_512x256_offset_adds_one_reference_column_per_crossbar():
    xmap = map_mvm(mvm(512, 256), chip(encoding="offset"))
    # 1024 weight columns at 127 per crossbar -> 9 column tiles, each with its reference column
    assert xmap.col_tiles == 9 and xmap.crossbars == 36
    assert xmap.used_cols_per_col_tile == (128,) * 8 + (1024 - 8 * 127 + 1,)
    assert xmap.used_cols_per_row_tile == 1024 + 9
    assert xmap.cells_used == 512 * 1033
    assert xmap.cell_utilization == pytest.approx(512 * 1033 / (36 * 128 * 128))


def test_isaac_lossless_adc_is_9_bits_and_flags_the_8_bit_adc():
    assert lossless_adc_bits(128, cell_bits=2, dac_bits=1) == 9
    xmap = map_mvm(mvm(512, 256), chip(read_rows=128, dac_bits=1, cell_bits=2, adc_bits=8))
    assert (xmap.lossless_adc_bits, xmap.chip_adc_bits, xmap.adc_lossy) == (9, 8, True)
    assert not map_mvm(mvm(512, 256), chip(adc_bits=9)).adc_lossy


@pytest.mark.parametrize(("rows", "cell_bits", "dac_bits", "bits"), [
    (128, 2, 2, 11),   # both > 1: log2 R + c + d
    (128, 1, 1, 8),    # 128 x 1 x 1 = 128 needs 8 bits
    (128, 1, 2, 9),
    (32, 1, 1, 6),     # NeuroSim's parallel read of 32 rows, 1-bit cells: far above its 4-bit ADC
    (64, 1, 1, 7),
    (100, 2, 1, 9),    # 300 -> 9 bits (non-power-of-two R)
    (65, 1, 1, 7),     # 65 fits in 7 bits, where the closed form with ceil(log2 R) says 8
])
def test_lossless_adc_bits_hand_cases(rows, cell_bits, dac_bits, bits):
    assert lossless_adc_bits(rows, cell_bits, dac_bits) == bits


def test_partial_row_tile_and_row_groups_are_charged_exactly():
    # K=200 on 128-row crossbars: row tiles of 128 and 72 rows; 16 rows at once; 2-bit DAC on 8-bit inputs
    node = mvm(200, 10, vectors=3)
    xmap = map_mvm(node, chip(encoding="offset", read_rows=16, dac_bits=2))
    assert xmap.rows_per_row_tile == (128, 72)
    assert xmap.input_cycles == 4                     # ceil(8 / 2)
    assert xmap.row_groups == 8                       # ceil(min(200, 128) / 16)
    assert xmap.col_tiles == 1 and xmap.used_cols_per_row_tile == 41  # 10*4 weight columns + 1 reference
    # vectors x cycles x (8 groups x 41 cols in row tile 0 + 5 groups x 41 cols in row tile 1)
    assert xmap.adc_conversions == 3 * 4 * (8 + 5) * 41 == 6396
    assert xmap.dac_drives == 3 * 4 * 200 * 1
    assert xmap.cell_reads == 3 * 4 * 200 * 41
    assert xmap.read_steps == 3 * 4 * 8
    assert xmap.lossless_adc_bits == 8                # 16 x 3 x 3 = 144
    assert xmap.rows_summed == 16


def test_small_layer_sums_only_its_rows():
    xmap = map_mvm(mvm(27, 128), chip())              # VGG-8's first conv: 3x3x3 inputs
    assert xmap.rows_summed == 27 and xmap.lossless_adc_bits == 7  # 27 x 1 x 3 = 81
    assert not xmap.adc_lossy


def test_malformed_mvm_is_a_config_error_naming_the_node():
    node = WorkloadNode("bad_fc", OpKind.MVM, ((4,),), (4,), weight_shape=(4, 4), weight_bits=None)
    with pytest.raises(ConfigError, match="bad_fc.weight_bits"):
        map_mvm(node, chip())


# ---------------------------------------------------------------- invariants

layer_sizes = st.tuples(st.integers(1, 3000), st.integers(1, 1200), st.integers(1, 16), st.integers(1, 16),
                        st.integers(1, 64))
crossbar_shapes = st.tuples(st.sampled_from([32, 64, 128, 256]), st.sampled_from([32, 64, 128, 256]),
                            st.integers(1, 4), st.sampled_from(["offset", "differential"]), st.integers(1, 4))


@settings(max_examples=150, deadline=None)
@given(layer_sizes, crossbar_shapes)
def test_cells_hold_at_least_the_weight_bits(layer, shape):
    k, n, weight_bits, activation_bits, vectors = layer
    rows, cols, cell_bits, encoding, dac_bits = shape
    xmap = map_mvm(mvm(k, n, weight_bits, activation_bits, vectors),
                   chip(rows, cols, cell_bits, rows, dac_bits, encoding=encoding))
    assert xmap.cells_used * cell_bits >= k * n * weight_bits
    assert xmap.cells_used <= xmap.cells_available
    assert sum(xmap.rows_per_row_tile) == k and max(xmap.used_cols_per_col_tile) <= cols
    assert xmap.shift_add_ops == xmap.adc_conversions
    if k % rows == 0 or k < rows:  # full (or single) row tiles: the simple product holds
        assert xmap.adc_conversions == vectors * xmap.input_cycles * xmap.row_groups * xmap.columns_used


@settings(max_examples=150, deadline=None)
@given(layer_sizes, crossbar_shapes, st.sampled_from(["rows", "cols", "both"]))
def test_crossbars_never_grow_when_the_crossbar_grows(layer, shape, grow):
    k, n, weight_bits, activation_bits, vectors = layer
    rows, cols, cell_bits, encoding, dac_bits = shape
    node = mvm(k, n, weight_bits, activation_bits, vectors)
    small = map_mvm(node, chip(rows, cols, cell_bits, rows, dac_bits, encoding=encoding))
    rows2 = rows * 2 if grow in ("rows", "both") else rows
    cols2 = cols * 2 if grow in ("cols", "both") else cols
    big = map_mvm(node, chip(rows2, cols2, cell_bits, rows, dac_bits, encoding=encoding))
    assert big.crossbars <= small.crossbars


@given(st.integers(0, 12), st.integers(1, 8), st.integers(1, 8))
def test_exact_lossless_bits_match_isaac_closed_form_for_power_of_two_rows(log_rows, cell_bits, dac_bits):
    rows = 2 ** log_rows
    assert lossless_adc_bits(rows, cell_bits, dac_bits) == isaac_adc_bits(rows, cell_bits, dac_bits)


@given(st.integers(1, 4096), st.integers(1, 8), st.integers(1, 8))
def test_lossless_bits_hold_the_largest_column_sum(rows, cell_bits, dac_bits):
    bits = lossless_adc_bits(rows, cell_bits, dac_bits)
    largest = rows * (2 ** dac_bits - 1) * (2 ** cell_bits - 1)
    assert 2 ** bits > largest >= 2 ** (bits - 1)
    assert bits <= isaac_adc_bits(rows, cell_bits, dac_bits)
    assert bits == math.ceil(math.log2(largest + 1))

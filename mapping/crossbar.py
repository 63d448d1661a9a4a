"""Crossbar arithmetic of one weight-stationary MVM: how a K x N weight matrix at w bits lands on
rows x cols crossbars of c-bit cells, and how much activity one inference causes.

Conventions (every count is per inference, i.e. per sample, for ONE copy of the layer; replication
splits the vectors over copies and leaves these totals unchanged):

- Bit slicing: s = ceil(w / c) slices, each slice in its own physical column.
- Signed weights, `differential`: a positive and a negative column per slice -> 2 * N * s logical
  columns, packed densely; column tiles = ceil(2 * N * s / cols). Each side is sliced over all w
  bits. `sign_magnitude`: the same pair of arrays holding the w - 1 magnitude bits (the sign picks
  the array), s = ceil((w - 1) / c).
- Analog subtraction (crossbar.analog_subtraction, differential encodings only): the + and -
  columns of a pair sit side by side in one crossbar (floor(cols / 2) pairs per crossbar) and their
  currents are subtracted before the ADC, so each pair is converted once: conversions and
  shift-adds halve exactly, cell reads do not. The signed difference lies in [-S, S] for the
  largest one-sided sum S, so the lossless ADC needs one bit more than for S.
- Signed weights, `offset` (bias) encoding: weights are stored as unsigned w + 2^(w-1); the bias term
  2^(w-1) * sum(inputs) is measured by ONE reference column in EVERY crossbar (all its cells at the
  same level), so each crossbar holds at most cols - 1 weight columns plus that correction column:
  column tiles = ceil(N * s / (cols - 1)), used columns per row tile = N * s + column tiles.
  A crossbar is thus self-contained: its own ADC output and reference column give its corrected
  partial sum without waiting for a sibling crossbar.
- crossbars = row tiles x column tiles, row tiles = ceil(K / rows). Row tile i holds rows_i rows
  (all `rows` except the last, which holds the remainder).
- Inputs of a bits through d-bit DACs stream in ceil(a / d) input cycles per vector (a = the MVM
  node's activation_bits: the quantiser in front of the layer).
- With r rows read at once a crossbar whose row tile has rows_i rows needs ceil(rows_i / r) row
  groups per input cycle; `row_groups` of the node is the largest of these, ceil(min(K, rows) / r),
  and sets the number of sequential crossbar reads.
- ADC conversions per inference = vectors x input_cycles x sum over row tiles i of
  ceil(rows_i / r) x used columns of row tile i. Every used column (weight, negative and
  correction columns alike) is converted once per row group per input cycle. When the last row
  tile is full this is exactly vectors x input_cycles x row_groups x used columns of all crossbars;
  a partial last row tile needs fewer groups and is charged only what it reads.
- DAC drives = vectors x input_cycles x K x column tiles (every crossbar has its own DACs; a row
  of a row tile is driven once per input cycle in each crossbar of that row tile). DACs shared by
  dac.rows_per_dac rows (rows / rows_per_dac DACs per crossbar) drive a read's rows in
  ceil(rows read / DACs) steps: the same drives, more steps.
- Cell reads = vectors x input_cycles x cells used (every used cell of a driven row is read once
  per input cycle; activity-independent, i.e. a zero input bit is still charged).
- Shift-and-add ops = ADC conversions: each digitised partial sum is shifted by its slice/cycle
  weight and added (or subtracted, for negative and reference columns) once into its accumulator.
- Crossbar read steps per inference = vectors x input_cycles x row_groups: all crossbars of a copy
  read in parallel, each read step is one crossbar read (before replication).
- Lossless ADC bits: the largest column sum is R * (2^d - 1) * (2^c - 1) for R rows summed at once,
  so ceil(log2(R (2^d - 1)(2^c - 1) + 1)) bits hold it exactly. For power-of-two R this is ISAAC's
  closed form log2(R) + d + c, minus one unless both d > 1 and c > 1 (e.g. 9 bits for R = 128,
  d = 1, c = 2). R = min(r, K): a layer with fewer rows than r never sums more than K rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from recpim.arch.graph.workload import OpKind, WorkloadNode
from recpim.crossbar_numbers import Encoding, lossless_adc_bits, subtraction_allowed
from recpim.errors import ConfigError
from recpim.pim.config import ChipConfig
from recpim.units import ceil_div


class cached_property:   # noqa: N801 (functools.cached_property without the lock Python 3.11 takes on every first read)
    """A value computed on first read and kept in the instance's __dict__ (a frozen dataclass too)."""

    def __init__(self, compute):
        self.compute = compute
        self.name = compute.__name__

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.compute(instance)
        return value


def isaac_adc_bits(rows_summed: int, cell_bits: int, dac_bits: int) -> int:
    """ISAAC's closed form (Shafiee et al. 2016, section 4): log2(R) + d + c, minus one unless both
    d > 1 and c > 1; log2 is ceil'ed for non-power-of-two R. Equals lossless_adc_bits for
    power-of-two R and is never below it."""
    bits = math.ceil(math.log2(rows_summed)) + dac_bits + cell_bits
    return bits if (dac_bits > 1 and cell_bits > 1) else bits - 1


@dataclass(frozen=True)
class CrossbarMapping:
    """How one MVM layer (one copy) lands on crossbars, and its activity per inference."""

    k_rows: int
    n_cols: int
    weight_bits: int
    activation_bits: int
    vectors: int
    encoding: Encoding
    bit_slices: int
    row_tiles: int
    col_tiles: int
    rows_per_row_tile: tuple[int, ...]      # rows held by each row tile
    used_cols_per_col_tile: tuple[int, ...]  # used columns of each crossbar in a row tile
    weight_cols_per_col_tile: tuple[int, ...]  # of which carry weights (the rest: offset correction)
    converted_cols_per_col_tile: tuple[int, ...]  # ADC conversions per read (pairs with analog subtraction)
    xbar_rows: int
    xbar_cols: int
    rows_read_at_once: int
    input_cycles: int
    row_groups: int
    dac_steps_per_read: int                 # sequential DAC drive steps before each read
    rows_summed: int
    lossless_adc_bits: int
    chip_adc_bits: int

    # ---- sizes of one copy (the sums the mapping reads per crossbar, PE and tile are cached)
    @cached_property
    def crossbars(self) -> int:
        return self.row_tiles * self.col_tiles

    @cached_property
    def used_cols_per_row_tile(self) -> int:
        return sum(self.used_cols_per_col_tile)

    @cached_property
    def weight_cols_per_row_tile(self) -> int:
        return sum(self.weight_cols_per_col_tile)

    @cached_property
    def converted_cols_per_row_tile(self) -> int:
        return sum(self.converted_cols_per_col_tile)

    @property
    def columns_used(self) -> int:
        """Used columns summed over all crossbars of one copy."""
        return self.row_tiles * self.used_cols_per_row_tile

    @property
    def cells_used(self) -> int:
        return self.k_rows * self.used_cols_per_row_tile

    @property
    def cells_available(self) -> int:
        return self.crossbars * self.xbar_rows * self.xbar_cols

    @property
    def cell_utilization(self) -> float:
        return self.cells_used / self.cells_available

    @property
    def adc_lossy(self) -> bool:
        return self.chip_adc_bits < self.lossless_adc_bits

    # ---- activity per inference
    @cached_property
    def adc_conversions(self) -> int:
        groups_x_cols = sum(ceil_div(rows, self.rows_read_at_once) for rows in self.rows_per_row_tile)
        return self.vectors * self.input_cycles * groups_x_cols * self.converted_cols_per_row_tile

    @property
    def dac_drives(self) -> int:
        return self.vectors * self.input_cycles * self.k_rows * self.col_tiles

    @property
    def cell_reads(self) -> int:
        return self.vectors * self.input_cycles * self.cells_used

    @property
    def shift_add_ops(self) -> int:
        return self.adc_conversions

    @property
    def read_steps(self) -> int:
        return self.vectors * self.input_cycles * self.row_groups

    @property
    def dac_steps(self) -> int:
        """Sequential DAC drive steps per inference (one copy)."""
        return self.read_steps * self.dac_steps_per_read

    @property
    def input_bits_per_vector(self) -> int:
        """K x activation bits."""
        return self.k_rows * self.activation_bits

    @property
    def output_bits_per_vector(self) -> int:
        """N x activation bits."""
        return self.n_cols * self.activation_bits

    @property
    def partial_sum_bits(self) -> int:
        """a + w + ceil(log2 K): the exact width of a dot product."""
        return self.activation_bits + self.weight_bits + math.ceil(math.log2(self.k_rows))

    def crossbar_shape(self, index: int) -> tuple[int, int, int, int]:
        """(rows used, columns used, weight columns, converted columns) of crossbar `index` of one
        copy (row-tile-major: index = row_tile * col_tiles + col_tile)."""
        row_tile, col_tile = divmod(index, self.col_tiles)
        return (self.rows_per_row_tile[row_tile], self.used_cols_per_col_tile[col_tile],
                self.weight_cols_per_col_tile[col_tile], self.converted_cols_per_col_tile[col_tile])



def wasted_conversions_note(chip: ChipConfig) -> str | None:
    """A note when a pair encoding converts both columns of each pair on a chip whose ADCs could take
    their difference (issue 22, item 6): twice the conversions and shift-adds, for nothing."""
    if not subtraction_allowed(chip.weight_encoding) or chip.crossbar.analog_subtraction:
        return None
    return (f"weight_encoding {chip.weight_encoding} converts both columns of each pair (twice the ADC "
            "conversions and shift-adds); the ADC could take their difference once: set "
            "crossbar.analog_subtraction: true")


def map_mvm(node: WorkloadNode, chip: ChipConfig) -> CrossbarMapping:
    """Bit-slice, encode and tile one MVM node's weight matrix onto the chip's crossbars."""
    if node.kind != OpKind.MVM:
        raise ValueError(f"map_mvm takes an mvm node, got {node.kind} ({node.name})")
    problems = []
    if node.weight_shape is None or len(node.weight_shape) != 2 or min(node.weight_shape) < 1:
        problems.append((f"{node.name}.weight_shape", f"got {node.weight_shape}; allowed: (K, N) with K, N >= 1"))
    if node.weight_bits is None or node.weight_bits < 1:
        problems.append((f"{node.name}.weight_bits", f"got {node.weight_bits}; allowed: an integer >= 1"))
    if node.activation_bits < 1 or node.vectors < 1:
        problems.append((node.name, f"activation_bits={node.activation_bits}, vectors={node.vectors}; allowed: >= 1"))
    if problems:
        raise ConfigError(f"mvm node {node.name!r}", problems)

    k_rows, n_cols = node.weight_shape
    xbar = chip.crossbar
    encoding = chip.weight_encoding
    if encoding == "sign_magnitude" and node.weight_bits < 2:
        raise ConfigError(f"mvm node {node.name!r}", [(f"{node.name}.weight_bits", f"got {node.weight_bits}; "
                                                       "allowed: >= 2 with weight_encoding 'sign_magnitude' (a sign "
                                                       "and at least one magnitude bit)")])
    magnitude_bits = node.weight_bits - 1 if encoding == "sign_magnitude" else node.weight_bits
    slices = ceil_div(magnitude_bits, xbar.bits_per_cell)
    if encoding == "offset":  # one correction column in every crossbar
        weight_cols = n_cols * slices
        col_tiles = ceil_div(weight_cols, xbar.cols - 1)
        weight_per_tile = _split(weight_cols, xbar.cols - 1, col_tiles)
        used_per_tile = tuple([cols + 1 for cols in weight_per_tile])
        converted_per_tile = used_per_tile
    elif xbar.analog_subtraction:  # pairs side by side, one conversion per pair
        pairs = n_cols * slices
        col_tiles = ceil_div(pairs, xbar.cols // 2)
        pairs_per_tile = _split(pairs, xbar.cols // 2, col_tiles)
        weight_per_tile = used_per_tile = tuple([2 * p for p in pairs_per_tile])
        converted_per_tile = pairs_per_tile
    else:  # + and - columns packed densely, each converted
        weight_cols = 2 * n_cols * slices
        col_tiles = ceil_div(weight_cols, xbar.cols)
        weight_per_tile = used_per_tile = converted_per_tile = _split(weight_cols, xbar.cols, col_tiles)
    row_tiles = ceil_div(k_rows, xbar.rows)
    rows_summed = min(xbar.rows_read_at_once, k_rows)
    dacs_per_crossbar = ceil_div(xbar.rows, chip.dac.rows_per_dac)
    return CrossbarMapping(
        k_rows=k_rows,
        n_cols=n_cols,
        weight_bits=node.weight_bits,
        activation_bits=node.activation_bits,
        vectors=node.vectors,
        encoding=encoding,
        bit_slices=slices,
        row_tiles=row_tiles,
        col_tiles=col_tiles,
        rows_per_row_tile=_split(k_rows, xbar.rows, row_tiles),
        used_cols_per_col_tile=used_per_tile,
        weight_cols_per_col_tile=weight_per_tile,
        converted_cols_per_col_tile=converted_per_tile,
        xbar_rows=xbar.rows,
        xbar_cols=xbar.cols,
        rows_read_at_once=xbar.rows_read_at_once,
        input_cycles=ceil_div(node.activation_bits, chip.dac.bits),
        row_groups=ceil_div(min(k_rows, xbar.rows), xbar.rows_read_at_once),
        dac_steps_per_read=ceil_div(rows_summed, dacs_per_crossbar),
        rows_summed=rows_summed,
        lossless_adc_bits=lossless_adc_bits(rows_summed, xbar.bits_per_cell, chip.dac.bits,
                                            signed=xbar.analog_subtraction),
        chip_adc_bits=chip.adc.bits,
    )


def _split(total: int, size: int, parts: int) -> tuple[int, ...]:
    """`total` items in `parts` chunks of `size`, the last holding the remainder."""
    return tuple([size] * (parts - 1) + [total - size * (parts - 1)])

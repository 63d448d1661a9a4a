"""Crossbar numbers both sides of recpim need, written once: the accuracy side (arch/crossbar/)
and the cost side (pim/config.py, mapping/crossbar.py) import them from here, at the base of the
ranks, because arch and pim may not import each other. Torch-free and dependency-free.

- Weight encodings: how a signed weight sits on crossbar columns (mapping/crossbar.py explains each).
- The partial-sum bound: a column that sums R rows of c-bit cells driven by d-bit DAC inputs holds
  at most R (2^d - 1)(2^c - 1).
- The lossless ADC width: the bit length of that bound, plus a sign bit when the ADC digitises the
  analog difference of a column pair (analog subtraction).
- Analog subtraction needs a column pair per weight, which only the pair encodings have.
"""

from __future__ import annotations

from typing import Literal

Encoding = Literal["offset", "differential", "sign_magnitude"]
ENCODINGS: tuple[str, ...] = ("offset", "differential", "sign_magnitude")
# Encodings that store a weight in a pair of columns (+ and -), so the pair can be subtracted in analog.
PAIR_ENCODINGS: frozenset[str] = frozenset({"differential", "sign_magnitude"})


def partial_sum_max(rows: int, dac_bits: int, cell_bits: int) -> int:
    """The largest one-sided column sum: `rows` cells of `cell_bits` bits driven by `dac_bits` inputs."""
    return rows * ((1 << dac_bits) - 1) * ((1 << cell_bits) - 1)


def lossless_adc_bits(rows_summed: int, cell_bits: int, dac_bits: int, signed: bool = False) -> int:
    """ADC resolution that digitises a column sum of `rows_summed` rows without loss; `signed`: the
    difference of two such sums (analog subtraction), which needs a sign bit more."""
    if rows_summed < 1 or cell_bits < 1 or dac_bits < 1:
        raise ValueError(f"rows_summed, cell_bits, dac_bits must be >= 1; got {rows_summed}, {cell_bits}, {dac_bits}")
    # bit_length == ceil(log2(largest_sum + 1))
    return partial_sum_max(rows_summed, dac_bits, cell_bits).bit_length() + (1 if signed else 0)


def subtraction_allowed(encoding: str) -> bool:
    """Analog subtraction subtracts the + and - column of a pair: only the pair encodings have one."""
    return encoding in PAIR_ENCODINGS

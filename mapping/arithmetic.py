"""A chip's crossbar arithmetic for the accuracy simulation (recpim.arch.crossbar.matmul): the one place
that reads a ChipConfig into a CrossbarArithmetic. It lives in mapping/ because mapping is the first
layer that may import both pim's config and arch.
"""

from __future__ import annotations

from recpim.arch.crossbar.arithmetic import CrossbarArithmetic
from recpim.pim.config import ChipConfig


def crossbar_arithmetic(chip: ChipConfig, **overrides: object) -> CrossbarArithmetic:
    """The numbers of `chip` that decide crossbar arithmetic (crossbar rows, rows read at once, cell
    bits, DAC and ADC bits, weight encoding, analog subtraction); `overrides` replace some of them
    (CrossbarArithmetic field names) before the record is checked."""
    fields = dict(rows=chip.crossbar.rows, rows_read_at_once=chip.crossbar.rows_read_at_once,
                  cell_bits=chip.crossbar.bits_per_cell, dac_bits=chip.dac.bits, adc_bits=chip.adc.bits,
                  encoding=chip.weight_encoding, analog_subtraction=chip.crossbar.analog_subtraction)
    return CrossbarArithmetic(**{**fields, **overrides})

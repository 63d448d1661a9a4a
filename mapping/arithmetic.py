"""A chip's crossbar arithmetic for the accuracy simulation (recpim.arch.crossbar.matmul): the one place
that reads a ChipConfig into a CrossbarArithmetic. It lives in mapping/ because mapping is the first
layer that may import both pim's config and arch.
"""

from __future__ import annotations

from recpim.arch.crossbar.arithmetic import CrossbarArithmetic, DeviceEffects
from recpim.pim.config import ChipConfig


def crossbar_arithmetic(chip: ChipConfig, **overrides: object) -> CrossbarArithmetic:
    """The numbers of `chip` that decide crossbar arithmetic (crossbar rows, rows read at once, cell
    bits, DAC and ADC bits, weight encoding, analog subtraction, the cells' non-idealities); `overrides`
    replace some of them (CrossbarArithmetic field names) before the record is checked."""
    fields = dict(rows=chip.crossbar.rows, rows_read_at_once=chip.crossbar.rows_read_at_once,
                  cell_bits=chip.crossbar.bits_per_cell, dac_bits=chip.dac.bits, adc_bits=chip.adc.bits,
                  encoding=chip.weight_encoding, analog_subtraction=chip.crossbar.analog_subtraction,
                  device=device_effects(chip, overrides.get("cell_bits", chip.crossbar.bits_per_cell)))
    return CrossbarArithmetic(**{**fields, **overrides})


def device_effects(chip: ChipConfig, cell_bits: int | None = None) -> DeviceEffects | None:
    """crossbar.nonideal (pim/nonideal.py) in the arithmetic's units, level spacings of a `cell_bits`
    cell (default crossbar.bits_per_cell); None when the chip models ideal cells."""
    nonideal, device = chip.crossbar.nonideal, chip.crossbar.device
    if nonideal.ideal:
        return None
    levels = 2 ** (cell_bits or chip.crossbar.bits_per_cell) - 1
    g_on, g_off = 1.0 / device.r_on_ohm, 1.0 / device.r_off_ohm
    spacing = (g_on - g_off) / levels
    on = chip.crossbar.weight_on_fraction   # expected share of cells in the on state: the mean cell current
    mean_conductance = on * g_on + (1 - on) * g_off
    return DeviceEffects(
        off_conductance=g_off / spacing if nonideal.off_current else 0.0,
        programming_sigma=nonideal.programming_sigma, programming_sigma_unit=nonideal.programming_sigma_unit,
        programming_distribution=nonideal.programming_distribution, read_noise_sigma=nonideal.read_noise_sigma,
        stuck_at_off_rate=nonideal.stuck_at_off_rate, stuck_at_on_rate=nonideal.stuck_at_on_rate,
        drift_factor=(nonideal.drift_time_s / nonideal.drift_t0_s) ** -nonideal.drift_nu,
        ir_drop_per_cell=min(1.0, nonideal.wire_resistance_ohm * mean_conductance),
        cols=chip.crossbar.cols, chip_seed=nonideal.seed)

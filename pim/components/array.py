"""Models for what sits in a PE (ISAAC's IMA): crossbar array, DAC, sample-and-hold,
shift-and-add, the input/output registers, and the array periphery (per row and per column).

The `isaac` models are fitted to ISAAC's component table at 32 nm (../shared/reference/isaac.md):
each published power is divided by the action rate at which ISAAC runs that component, giving
the energy of one action; areas are the published areas per instance. CMOS parts scale with the
node (Stillmaker & Baas); the ReRAM cell's read energy does not (it is set by the device:
V^2/R x t), its area scales with F^2.

Data awareness (crossbar.input_bit_density, weight_on_fraction, sense_time_ns): the mapping counts
every cell of a driven row and every row drive once per input cycle; the crossbar and DAC models
charge the expectation of those actions' energy over the data (a row conducts, and its driver
switches, only when its input bit is 1; a cell draws G_on or G_off). The defaults reproduce the
data-blind figures. docs/neurosim_comparison.md derives the values of the neurosim-rram-22nm preset.

Reference rates in ISAAC (1.2 GHz clock, 100 ns crossbar read, 128 rows x 128 columns):
- DAC: one drive per crossbar read      -> 4 mW / 1024 DACs x 100 ns = 0.39 pJ per 1-bit drive
  (hwcomponents quotes 0.417 pJ because it assumes one drive per 128 clock cycles, 107 ns).
- S+H: one sample per crossbar read     -> 10 uW / 1024 x 100 ns = 0.98 fJ per sample.
- crossbar: 128x128 cells per read      -> 0.3 mW x 100 ns / 16384 = 1.83 fJ per cell read.
- shift-and-add: 2 values per cycle     -> 0.05 mW / 2.4 per ns = 0.021 pJ per op (4 units serve 8 ADCs).
- registers: 1 byte per cycle           -> 2 KB IR 1.24 mW: 1.03 pJ/B; 256 B OR 0.23 mW: 0.19 pJ/B;
  3 KB tile OR 1.68 mW: 1.4 pJ/B. Between and beyond these sizes energy and area follow a
  log-log interpolation (energy ~ size^0.5 beyond 3 KB, as CACTI-like arrays).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from recpim.errors import ConfigError
from recpim.pim.components.params import CLOCK, LEAKAGE, RATE, TECHNOLOGY, Param
from recpim.pim.components.registry import ComponentFigures, ComponentModel, register, set_default
from recpim.pim.components.scaling import ISAAC_SOURCE, REFERENCE_NODE_NM, area_factor, energy_factor

# ---------------------------------------------------------------- crossbar array (one cell read)

ROWS = Param("rows", 1, 4096)
COLS = Param("cols", 1, 4096)
READ_LATENCY = Param("read_latency_ns", 1e-3, 1e5, "ns", "read latency of the array")
CELL_ENERGY = Param("cell_read_energy_pj", 0, 100, "pJ", "overrides the model's cell read energy", optional=True)
DEVICE = (
    Param("r_on_ohm", 1, 1e9, "ohm"),
    Param("r_off_ohm", 1, 1e12, "ohm"),
    Param("read_voltage_v", 1e-3, 5, "V"),
    Param("read_pulse_ns", 1e-3, 1e4, "ns"),
)
# Data awareness. The mapping counts every cell of a driven row once per input cycle (cells used x
# input cycles), whatever the input bit and the stored bit; the model charges the expectation of
# the energy of such a cell read over the data. None means the data-blind default (1.0, 0.5, the
# read pulse), which reproduces the figures of the models before these parameters existed.
INPUT_DENSITY = Param("input_bit_density", 0, 1, "", "expected share of input bits that are 1 (rows that are driven "
                      "and conduct)", optional=True)
ON_FRACTION = Param("weight_on_fraction", 0, 1, "", "expected share of cells in the on (low-resistance) state",
                    optional=True)
SENSE_TIME = Param("sense_time_ns", 1e-3, 1e4, "ns", "time a selected cell conducts per read; null: the read pulse",
                   optional=True)
DATA = (INPUT_DENSITY, ON_FRACTION, SENSE_TIME)
DEFAULT_INPUT_DENSITY = 1.0  # every row conducts on every input cycle (the data-blind count)
DEFAULT_ON_FRACTION = 0.5  # cells equally likely on and off


def _or_default(value: float | None, default: float) -> float:
    return default if value is None else value


class _CrossbarModel(ComponentModel):
    component = "crossbar"
    params = (ROWS, COLS, READ_LATENCY, CELL_ENERGY, TECHNOLOGY, RATE, *DEVICE, *DATA)
    CELL_AREA_F2: float

    def mean_conductance_s(self) -> float:
        """Expected cell conductance: G_on with the on-fraction's probability, else G_off."""
        v = self.values
        on = _or_default(v["weight_on_fraction"], DEFAULT_ON_FRACTION)
        return on / v["r_on_ohm"] + (1 - on) / v["r_off_ohm"]

    def conduction_ns(self) -> float:
        v = self.values
        return v["read_pulse_ns"] if v["sense_time_ns"] is None else v["sense_time_ns"]

    def cell_energy_pj(self) -> float:
        """Expected energy of one counted cell read: only a row whose input bit is 1 is driven, and its
        cell then draws V^2 x G for as long as it conducts, so
        E = P(input bit = 1) x V_read^2 x E[G] x t_conduct."""
        v = self.values
        density = _or_default(v["input_bit_density"], DEFAULT_INPUT_DENSITY)
        nanojoules = v["read_voltage_v"] ** 2 * self.mean_conductance_s() * self.conduction_ns()  # V^2 x S x ns
        return density * nanojoules * 1e3

    def cell_area_um2(self) -> float:
        feature_um = self.values["technology_nm"] * 1e-3
        return self.CELL_AREA_F2 * feature_um**2

    def figures(self) -> ComponentFigures:
        v = self.values
        # A given cell_read_energy_pj is taken as the expected energy of a counted cell read already.
        energy = v["cell_read_energy_pj"] if v["cell_read_energy_pj"] is not None else self.cell_energy_pj()
        # The array itself does not leak: ReRAM holds its state without power.
        return ComponentFigures(
            energy_pj_per_action=energy, area_um2=v["rows"] * v["cols"] * self.cell_area_um2(),
            latency_ns=v["read_latency_ns"], leakage_mw=0.0, peak_power_mw=energy * v["actions_per_ns"],
            source=self.source,
        )


@register
class IsaacCrossbar(_CrossbarModel):
    name = "isaac"
    source = ISAAC_SOURCE + " (0.3 mW and 25 um2 per 128x128 array read every 100 ns)"
    CELL_AREA_F2 = 25.0 / (128 * 128) / (REFERENCE_NODE_NM * 1e-3) ** 2

    def __init__(self, **values: Any):
        super().__init__(**values)
        # ISAAC's fitted power fixes the stored-bit mix and the conduction time; only the share of
        # driven rows can be scaled (array power is proportional to the rows that conduct).
        problems = []
        if self.values["weight_on_fraction"] not in (None, DEFAULT_ON_FRACTION):
            problems.append(("weight_on_fraction", f"got {self.values['weight_on_fraction']!r}; allowed: 0.5 (ISAAC's "
                                                   "fitted array power fixes the stored-bit mix; use model 'device' "
                                                   "or 'neurosim' to vary it)"))
        if self.values["sense_time_ns"] is not None:
            problems.append(("sense_time_ns", f"got {self.values['sense_time_ns']!r}; allowed: null (ISAAC's fitted "
                                              "array power fixes the conduction time; use model 'device' or "
                                              "'neurosim' to set it)"))
        if problems:
            raise ConfigError(f"crossbar model '{self.name}'", problems)

    def cell_energy_pj(self) -> float:
        density = _or_default(self.values["input_bit_density"], DEFAULT_INPUT_DENSITY)
        return density * 0.3 * 100.0 / (128 * 128)  # mW x ns / cells = pJ per cell read; device-set, no node scaling


@register
class DeviceCrossbar(_CrossbarModel):
    name = "device"
    source = ("device physics: P(input bit = 1) x V_read^2 x E[G] x t_conduct per cell, E[G] from the on-fraction of "
              "G_on = 1/R_on and G_off = 1/R_off; passive 4F^2 crosspoint cell")
    CELL_AREA_F2 = 4.0


@register
class NeurosimCrossbar(_CrossbarModel):
    """DNN+NeuroSim V1.4 charges a parallel read's cell current only while its current-mode multilevel
    sense amplifier senses the column (MultilevelSenseAmp::CalculatePower: column power x LatencyCol,
    the column power taken at the traced column resistance, i.e. only rows with input 1 and the
    stored conductances): set crossbar.sense_time_ns to that sensing time and the data expectation
    through input_bit_density and weight_on_fraction. Its fitted column power at 22 nm is within
    about 15 % of V^2 x G over the column conductances of a VGG-8 read (32 rows, 10 % input bits,
    half the cells on)."""

    name = "neurosim"
    source = ("device physics as DNN+NeuroSim V1.4 charges it: P(input bit = 1) x V_read^2 x E[G] x t_conduct per "
              "cell, t_conduct the sense time; 1T1R cell of 4F x 12F (DNN+NeuroSim default heightInFeatureSize1T1R x "
              "widthInFeatureSize1T1R)")
    CELL_AREA_F2 = 4.0 * 12.0


set_default("crossbar", "device")

# ---------------------------------------------------------------- DAC, S+H, shift-and-add


class _ScaledCmos(ComponentModel):
    """A CMOS part with a fixed energy per action and area at 32 nm, scaled to the node."""

    ENERGY_PJ_32NM: float
    AREA_UM2_32NM: float
    LATENCY_CYCLES = 1.0
    params = (TECHNOLOGY, CLOCK, RATE, LEAKAGE)

    def size_factor(self) -> float:
        return 1.0

    def figures(self) -> ComponentFigures:
        v = self.values
        node = v["technology_nm"]
        return self.split(self.ENERGY_PJ_32NM * energy_factor(node) * self.size_factor(),
                          self.AREA_UM2_32NM * area_factor(node) * self.size_factor(),
                          self.LATENCY_CYCLES / v["clock_ghz"])


@register
class IsaacDac(_ScaledCmos):
    """One action = one row driven for one input slice, as counted by the mapping (every row of a
    crossbar once per input cycle). A row driver switches only when it drives a 1 (NeuroSim's
    wordline switch matrix likewise scales its read energy by activityRowRead, the share of input
    bits that are 1), so the dynamic energy is the expectation: x input_bit_density (for a
    multi-bit DAC read it as the mean drive over full scale). Leakage does not depend on the data."""

    component, name = "dac", "isaac"
    source = (ISAAC_SOURCE + " (1-bit DAC, 4 mW / 0.00017 mm2 for 8x128; energy and area x 2^(bits-1); dynamic energy "
              "x input_bit_density)")
    params = (Param("bits", 1, 8, "bits"), INPUT_DENSITY, TECHNOLOGY, CLOCK, RATE, LEAKAGE)
    ENERGY_PJ_32NM = 4.0 / 1024 * 100.0
    AREA_UM2_32NM = 170.0 / 1024

    def size_factor(self) -> float:
        return 2.0 ** (self.values["bits"] - 1)

    def figures(self) -> ComponentFigures:
        full = super().figures()
        density = _or_default(self.values["input_bit_density"], DEFAULT_INPUT_DENSITY)
        dynamic = full.energy_pj_per_action * density
        return replace(full, energy_pj_per_action=dynamic,
                       peak_power_mw=full.leakage_mw + dynamic * self.values["actions_per_ns"])


@register
class IsaacSampleHold(_ScaledCmos):
    component, name = "sample_hold", "isaac"
    source = ISAAC_SOURCE + " (10 uW / 40 um2 for 8x128 sample-and-hold circuits)"
    ENERGY_PJ_32NM = 0.01 / 1024 * 100.0
    AREA_UM2_32NM = 40.0 / 1024


@register
class IsaacShiftAdd(_ScaledCmos):
    component, name = "shift_add", "isaac"
    source = ISAAC_SOURCE + " (0.05 mW / 60 um2 per 16-bit unit taking 2 values per cycle at 1.2 GHz)"
    ENERGY_PJ_32NM = 0.05 / (2 * 1.2)
    AREA_UM2_32NM = 60.0


for _component in ("dac", "sample_hold", "shift_add"):
    set_default(_component, "isaac")

# ---------------------------------------------------------------- input / output registers (one byte)

# ISAAC registers at 32 nm: size (bytes) -> (pJ per byte at one byte per 1.2 GHz cycle, area um2)
REGISTER_POINTS_32NM = ((256, 0.23 / 1.2, 770.0), (2048, 1.24 / 1.2, 2100.0), (3072, 1.68 / 1.2, 3200.0))
LARGE_REGISTER_ENERGY_EXPONENT = 0.5


def register_figures_32nm(size_bytes: float) -> tuple[float, float]:
    """(pJ per byte, area um2) of a register of `size_bytes` at 32 nm, log-log through ISAAC's three."""
    points = REGISTER_POINTS_32NM
    index = 1 if size_bytes < points[1][0] else 2
    lo, hi = points[index - 1], points[index]
    ratio = math.log(size_bytes / lo[0])
    span = math.log(hi[0] / lo[0])
    energy_slope = math.log(hi[1] / lo[1]) / span
    area_slope = math.log(hi[2] / lo[2]) / span
    if size_bytes > points[-1][0]:  # beyond the table: banked arrays, energy ~ sqrt(size)
        last = points[-1]
        grow = math.log(size_bytes / last[0])
        return last[1] * math.exp(LARGE_REGISTER_ENERGY_EXPONENT * grow), last[2] * math.exp(area_slope * grow)
    return lo[1] * math.exp(energy_slope * ratio), lo[2] * math.exp(area_slope * ratio)


class _IsaacRegister(ComponentModel):
    name = "isaac"
    source = ISAAC_SOURCE + " (2 KB IR 1.24 mW / 0.0021 mm2, 256 B OR 0.23 mW / 0.00077 mm2, 3 KB tile OR " \
                            "1.68 mW / 0.0032 mm2, one byte per cycle)"
    params = (Param("size_bytes", 1, 1 << 24, "B"), TECHNOLOGY, CLOCK, RATE, LEAKAGE)

    def figures(self) -> ComponentFigures:
        v = self.values
        energy, area = register_figures_32nm(v["size_bytes"])
        node = v["technology_nm"]
        return self.split(energy * energy_factor(node), area * area_factor(node), 1.0 / v["clock_ghz"])


@register
class IsaacInputRegister(_IsaacRegister):
    component = "input_register"


@register
class IsaacOutputRegister(_IsaacRegister):
    component = "output_register"


set_default("input_register", "isaac")
set_default("output_register", "isaac")

# ---------------------------------------------------------------- array periphery (per row, per column)

# DNN+NeuroSim V1.3 (Inference_pytorch/NeuroSIM, stock Param.cpp: 22 nm LSTP, 128x128 1T1R RRAM,
# numColMuxed 8, write voltage 2 V), one subarray evaluated with its own CalculateArea/CalculatePower:
# - per row: WL switch matrix (NewSwitchMatrix.cpp: pass gates + flip-flops) 1.883 um2, WL and BL
#   write level shifters (LevelShifter.cpp, V_write > 1.5 V) 2 x 10.01 um2 -> 21.9 um2; read energy
#   of the WL switch matrix per row and read: pass gates 2.09 fJ + flip-flops 5.10 fJ -> 7.19 fJ;
# - per column: SL switch matrix (SwitchMatrix.cpp) 1.505 um2, column mux and its decoder (Mux.cpp,
#   RowDecoder.cpp) 1.364 um2, SL write level shifter 10.01 um2 -> 12.9 um2; read energy per column
#   selected: mux 0.317 fJ + bit-line charging C_BL V_read^2 0.56 fJ -> 0.88 fJ.
# Not included: the word line's own charging (NeuroSim books it with its ADC; it scales with the
# access transistor, i.e. ~1/R_on), the SL switch matrix and level shifters (idle on a read).
NEUROSIM_NODE_NM = 22.0
NEUROSIM_SOURCE = ("DNN+NeuroSim V1.3 SubArray circuit models (NewSwitchMatrix, SwitchMatrix, Mux, RowDecoder, "
                   "LevelShifter) evaluated at 22 nm LSTP for a 128x128 1T1R RRAM subarray; node: Stillmaker & Baas")


class _NoPeriphery(ComponentModel):
    name = "none"
    source = "not modelled separately (ISAAC's and PUMA's published array figures include their periphery)"
    params = (CLOCK,)

    def figures(self) -> ComponentFigures:
        return ComponentFigures(0.0, 0.0, 1.0 / self.values["clock_ghz"], 0.0, 0.0, self.source)


class _NeurosimPeriphery(ComponentModel):
    name = "neurosim"
    source = NEUROSIM_SOURCE
    params = (TECHNOLOGY, CLOCK, RATE, LEAKAGE)
    ENERGY_PJ_22NM: float
    AREA_UM2_22NM: float

    def figures(self) -> ComponentFigures:
        v = self.values
        node = v["technology_nm"]
        energy = self.ENERGY_PJ_22NM * energy_factor(node) / energy_factor(NEUROSIM_NODE_NM)
        area = self.AREA_UM2_22NM * area_factor(node) / area_factor(NEUROSIM_NODE_NM)
        return self.split(energy, area, 1.0 / v["clock_ghz"])


@register
class NoRowPeriphery(_NoPeriphery):
    component = "row_periphery"


@register
class NoColumnPeriphery(_NoPeriphery):
    component = "column_periphery"


@register
class NeurosimRowPeriphery(_NeurosimPeriphery):
    """One row of an array: its word-line switch matrix and write level shifters."""

    component = "row_periphery"
    ENERGY_PJ_22NM = 7.19e-3
    AREA_UM2_22NM = 21.9


@register
class NeurosimColumnPeriphery(_NeurosimPeriphery):
    """One column of an array: its source-line switch matrix, column mux share and level shifter."""

    component = "column_periphery"
    ENERGY_PJ_22NM = 0.88e-3
    AREA_UM2_22NM = 12.9


set_default("row_periphery", "none")
set_default("column_periphery", "none")

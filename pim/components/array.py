"""Models for what sits in a PE (ISAAC's IMA): crossbar array, DAC, sample-and-hold,
shift-and-add and the input/output registers.

The `isaac` models are fitted to ISAAC's component table at 32 nm (../shared/reference/isaac.md):
each published power is divided by the action rate at which ISAAC runs that component, giving
the energy of one action; areas are the published areas per instance. CMOS parts scale with the
node (Stillmaker & Baas); the ReRAM cell's read energy does not (it is set by the device:
V^2/R x t), its area scales with F^2.

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

from recpim.pim.components.registry import (
    CLOCK,
    LEAKAGE,
    RATE,
    TECHNOLOGY,
    ComponentFigures,
    ComponentModel,
    Param,
    register,
    set_default,
)
from recpim.pim.components.scaling import REFERENCE_NODE_NM, area_factor, energy_factor

ISAAC_SOURCE = "ISAAC (Shafiee et al., ISCA 2016) component table at 32 nm; node: Stillmaker & Baas 2017"

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


class _CrossbarModel(ComponentModel):
    component = "crossbar"
    params = (ROWS, COLS, READ_LATENCY, CELL_ENERGY, TECHNOLOGY, RATE, *DEVICE)
    CELL_AREA_F2: float

    def cell_energy_pj(self) -> float:
        """V^2 x mean conductance x pulse: cells equally likely in the on and off state."""
        v = self.values
        mean_conductance = 0.5 * (1 / v["r_on_ohm"] + 1 / v["r_off_ohm"])
        return v["read_voltage_v"] ** 2 * mean_conductance * v["read_pulse_ns"] * 1e3  # V^2 S ns = nJ -> pJ

    def cell_area_um2(self) -> float:
        feature_um = self.values["technology_nm"] * 1e-3
        return self.CELL_AREA_F2 * feature_um**2

    def figures(self) -> ComponentFigures:
        v = self.values
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

    def cell_energy_pj(self) -> float:
        return 0.3 * 100.0 / (128 * 128)  # mW x ns / cells = pJ per cell read; device-set, no node scaling


@register
class DeviceCrossbar(_CrossbarModel):
    name = "device"
    source = "device physics: V_read^2 x mean(1/R_on, 1/R_off) x t_pulse per cell; passive 4F^2 crosspoint cell"
    CELL_AREA_F2 = 4.0


@register
class NeurosimCrossbar(_CrossbarModel):
    name = "neurosim"
    source = ("device physics: V_read^2 x mean(1/R_on, 1/R_off) x t_pulse per cell; 1T1R cell of 4F x 12F "
              "(DNN+NeuroSim default heightInFeatureSize1T1R x widthInFeatureSize1T1R)")
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
    component, name = "dac", "isaac"
    source = ISAAC_SOURCE + " (1-bit DAC, 4 mW / 0.00017 mm2 for 8x128; energy and area x 2^(bits-1))"
    params = (Param("bits", 1, 8, "bits"), TECHNOLOGY, CLOCK, RATE, LEAKAGE)
    ENERGY_PJ_32NM = 4.0 / 1024 * 100.0
    AREA_UM2_32NM = 170.0 / 1024

    def size_factor(self) -> float:
        return 2.0 ** (self.values["bits"] - 1)


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

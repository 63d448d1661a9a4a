"""Models for what a tile holds beside its PEs: the eDRAM/SRAM buffer, the bus to the PEs,
digital vector units, max-pool units and "extra peripherals".

Fitted at 32 nm (Stillmaker & Baas node scaling elsewhere):
- buffer (`isaac`): ISAAC's 64 KB eDRAM with a 256-bit port, 20.7 mW and 0.083 mm2, one access
  per cycle -> 17.25 pJ per 256-bit access (puma-simulator's constants give 17.2 pJ for the same
  eDRAM). Energy ~ width x (size / 64 KB)^0.56 and area = 48000 um2 + 547 um2 per KB, both from
  puma-simulator's 64 KB / 128 KB eDRAM entries. SRAM (6T) cells take about 2.5x an eDRAM cell,
  so the per-KB area is 2.5x; extra ports are modelled as replicated banks (area x ports).
- bus (`isaac`): ISAAC's 384-wire eDRAM-to-IMA bus, 7 mW and 0.090 mm2, every wire moving one
  bit per cycle at 1.2 GHz -> 0.0152 pJ per bit, 234 um2 per wire.
- vector unit (`isaac`): ISAAC's sigmoid unit, 0.26 mW and 300 um2, one op per cycle -> 0.217 pJ
  per op per lane; (`puma`): puma-simulator's 16-bit ALU (add/mul/logic 0.265 mW at 1 GHz,
  0.00403 mm2 per lane at 32 nm) -> 0.265 pJ per op. A unit has ops_per_cycle lanes.
- maxpool (`isaac`): ISAAC's max-pool unit, 0.4 mW and 240 um2, one comparison per cycle.
- extra_peripherals (`none`, the default): nothing; give a user table to lump in what recpim does
  not model (instruction memories, control units...).
"""

from __future__ import annotations

from recpim.pim.components.params import CLOCK, LEAKAGE, RATE, TECHNOLOGY, Param
from recpim.pim.components.registry import ComponentFigures, ComponentModel, register, set_default
from recpim.pim.components.scaling import ISAAC_SOURCE, area_factor, energy_factor

PUMA_SOURCE = "puma-simulator include/constants.py (Ankit et al., ASPLOS 2019) at 32 nm; node: Stillmaker & Baas 2017"


@register
class IsaacBuffer(ComponentModel):
    component, name = "buffer", "isaac"
    source = ISAAC_SOURCE + " (64 KB eDRAM, 256-bit port: 20.7 mW / 0.083 mm2); size scaling from " + PUMA_SOURCE
    params = (
        Param("size_kb", 1e-3, 1 << 20, "KB"),
        Param("width_bits", 1, 8192, "bits"),
        Param("ports", 1, 64),
        Param("kind", choices=("edram", "sram")),
        Param("energy_pj_per_access", 0, 1e5, "pJ", "overrides the model's access energy", optional=True),
        TECHNOLOGY, CLOCK, RATE, LEAKAGE,
    )
    ENERGY_PJ_64KB_256B = 20.7 / 1.2
    SIZE_ENERGY_EXPONENT = 0.56  # puma-simulator: 17.2 pJ at 64 KB, 25.35 pJ at 128 KB
    AREA_FIXED_UM2 = 48000.0
    AREA_UM2_PER_KB = 546.875  # puma-simulator: 0.086 mm2 at 64 KB, 0.121 mm2 at 128 KB
    SRAM_CELL_AREA_RATIO = 2.5
    ACCESS_CYCLES = 2.0  # puma-simulator's eDRAM latency

    def figures(self) -> ComponentFigures:
        v = self.values
        node = v["technology_nm"]
        per_kb = self.AREA_UM2_PER_KB * (self.SRAM_CELL_AREA_RATIO if v["kind"] == "sram" else 1.0)
        area = (self.AREA_FIXED_UM2 + per_kb * v["size_kb"]) * v["ports"] * area_factor(node)
        latency = self.ACCESS_CYCLES / v["clock_ghz"]
        if v["energy_pj_per_access"] is not None:
            return self.exact(v["energy_pj_per_access"], area, latency)
        size_scale = (v["size_kb"] / 64) ** self.SIZE_ENERGY_EXPONENT
        energy = self.ENERGY_PJ_64KB_256B * (v["width_bits"] / 256) * size_scale * energy_factor(node)
        return self.split(energy, area, latency)


@register
class IsaacBus(ComponentModel):
    component, name = "bus", "isaac"
    source = ISAAC_SOURCE + " (384-wire eDRAM-to-IMA bus: 7 mW / 0.090 mm2)"
    params = (Param("width_bits", 1, 65536, "wires"), TECHNOLOGY, CLOCK, RATE, LEAKAGE)
    ENERGY_PJ_PER_BIT = 7.0 / (384 * 1.2)
    AREA_UM2_PER_WIRE = 90000.0 / 384

    def figures(self) -> ComponentFigures:
        v = self.values
        node = v["technology_nm"]
        return self.split(self.ENERGY_PJ_PER_BIT * energy_factor(node),
                          self.AREA_UM2_PER_WIRE * v["width_bits"] * area_factor(node), 1.0 / v["clock_ghz"])


class _LaneUnit(ComponentModel):
    """A digital unit with `ops_per_cycle` lanes, each doing one op per cycle."""

    params = (Param("ops_per_cycle", 1, 65536, "lanes"), TECHNOLOGY, CLOCK, RATE, LEAKAGE)
    ENERGY_PJ_PER_OP_32NM: float
    AREA_UM2_PER_LANE_32NM: float

    def figures(self) -> ComponentFigures:
        v = self.values
        node = v["technology_nm"]
        lanes = v.get("ops_per_cycle", 1)
        return self.split(self.ENERGY_PJ_PER_OP_32NM * energy_factor(node),
                          self.AREA_UM2_PER_LANE_32NM * lanes * area_factor(node), 1.0 / v["clock_ghz"])


@register
class IsaacVectorUnit(_LaneUnit):
    component, name = "vector_unit", "isaac"
    source = ISAAC_SOURCE + " (sigmoid unit: 0.26 mW / 300 um2, one op per cycle)"
    ENERGY_PJ_PER_OP_32NM = 0.26 / 1.2
    AREA_UM2_PER_LANE_32NM = 300.0


@register
class PumaVectorUnit(_LaneUnit):
    component, name = "vector_unit", "puma"
    source = PUMA_SOURCE + " (16-bit ALU: 0.373 x 32/45 mW at 1 GHz, 0.00567 x 32/45 mm2)"
    ENERGY_PJ_PER_OP_32NM = 0.373 * 32 / 45 / 1.0
    AREA_UM2_PER_LANE_32NM = 5670.0 * 32 / 45


@register
class IsaacMaxpool(_LaneUnit):
    component, name = "maxpool", "isaac"
    source = ISAAC_SOURCE + " (max-pool unit: 0.4 mW / 240 um2, one comparison per cycle)"
    params = (TECHNOLOGY, CLOCK, RATE, LEAKAGE)
    ENERGY_PJ_PER_OP_32NM = 0.4 / 1.2
    AREA_UM2_PER_LANE_32NM = 240.0


@register
class NoExtraPeripherals(ComponentModel):
    component, name = "extra_peripherals", "none"
    source = "nothing beyond the modelled components"
    params = (CLOCK,)

    def figures(self) -> ComponentFigures:
        return ComponentFigures(0.0, 0.0, 1.0 / self.values["clock_ghz"], 0.0, 0.0, self.source)


set_default("buffer", "isaac")
set_default("bus", "isaac")
set_default("vector_unit", "isaac")
set_default("maxpool", "isaac")
set_default("extra_peripherals", "none")

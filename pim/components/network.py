"""Models for what joins tiles and chips: mesh routers, the chip-to-chip link and off-chip DRAM.

- router (`isaac`): ISAAC's router (8 ports, 32-flit buffers) shared by 4 tiles, 42 mW and
  0.151 mm2 at 32 nm. At full activity every port forwards its link bandwidth (ISAAC: 38.4 Gb/s,
  32 bits per 1.2 GHz cycle), so 42 mW / (8 x 38.4 Gb/s) = 0.137 pJ per bit, i.e. 35 pJ per 256-bit
  flit over one hop (hwcomponents-library quotes 20.7 pJ under a different activity assumption).
  Area scales with the port count and the link width in bits per cycle.
- offchip_link (`isaac`): ISAAC's HyperTransport, 4 links of 6.4 GB/s (51.2 Gb/s), 10.4 W and
  22.88 mm2 -> 50.8 pJ per bit; area per link grows with its bandwidth.
- dram (`ddr`): off-chip DRAM at the configured pJ per bit (dram.energy_pj_per_bit); no on-chip
  area and no leakage charged to the chip.
"""

from __future__ import annotations

from recpim.pim.components.params import LEAKAGE, RATE, TECHNOLOGY, Param
from recpim.pim.components.registry import ComponentFigures, ComponentModel, register, set_default
from recpim.pim.components.scaling import ISAAC_SOURCE, area_factor, energy_factor


@register
class IsaacRouter(ComponentModel):
    component, name = "router", "isaac"
    source = ISAAC_SOURCE + " (router per 4 tiles, 8 ports x 38.4 Gb/s: 42 mW / 0.151 mm2)"
    params = (
        Param("flit_bits", 1, 8192, "bits"),
        Param("ports", 1, 128),
        Param("link_bits_per_cycle", 1e-3, 1e6, "bits"),
        Param("hop_latency_ns", 0, 1e4, "ns"),
        Param("energy_pj_per_flit_hop", 0, 1e5, "pJ", "overrides the model's flit energy", optional=True),
        TECHNOLOGY, RATE, LEAKAGE,
    )
    ENERGY_PJ_PER_BIT_32NM = 42.0 / (8 * 38.4)
    AREA_UM2_32NM = 151000.0
    REFERENCE_PORTS = 8
    REFERENCE_LINK_BITS_PER_CYCLE = 38.4 / 1.2

    def figures(self) -> ComponentFigures:
        v = self.values
        node = v["technology_nm"]
        area = (self.AREA_UM2_32NM * (v["ports"] / self.REFERENCE_PORTS)
                * (v["link_bits_per_cycle"] / self.REFERENCE_LINK_BITS_PER_CYCLE) * area_factor(node))
        if v["energy_pj_per_flit_hop"] is not None:
            return self.exact(v["energy_pj_per_flit_hop"], area, v["hop_latency_ns"])
        energy = self.ENERGY_PJ_PER_BIT_32NM * v["flit_bits"] * energy_factor(node)
        return self.split(energy, area, v["hop_latency_ns"])


@register
class IsaacOffchipLink(ComponentModel):
    component, name = "offchip_link", "isaac"
    source = ISAAC_SOURCE + " (HyperTransport, 4 links x 6.4 GB/s: 10.4 W / 22.88 mm2)"
    params = (Param("bandwidth_gbps_per_link", 1e-3, 1e6, "Gb/s"), TECHNOLOGY, RATE, LEAKAGE)
    ENERGY_PJ_PER_BIT_32NM = 10400.0 / (4 * 51.2)
    AREA_UM2_PER_LINK_32NM = 22.88e6 / 4
    REFERENCE_GBPS = 51.2
    PACKET_LATENCY_NS = 5.0  # puma-simulator: one 32-byte packet over HyperTransport

    def figures(self) -> ComponentFigures:
        v = self.values
        node = v["technology_nm"]
        area = self.AREA_UM2_PER_LINK_32NM * (v["bandwidth_gbps_per_link"] / self.REFERENCE_GBPS) * area_factor(node)
        return self.split(self.ENERGY_PJ_PER_BIT_32NM * energy_factor(node), area, self.PACKET_LATENCY_NS)


@register
class DdrDram(ComponentModel):
    component, name = "dram", "ddr"
    source = "off-chip DRAM at the configured dram.energy_pj_per_bit (interface and array); off the chip's area"
    params = (Param("energy_pj_per_bit", 0, 1e4, "pJ"), Param("access_latency_ns", 0, 1e5, "ns"), RATE)

    def figures(self) -> ComponentFigures:
        v = self.values
        return ComponentFigures(
            energy_pj_per_action=v["energy_pj_per_bit"], area_um2=0.0, latency_ns=v["access_latency_ns"],
            leakage_mw=0.0, peak_power_mw=v["energy_pj_per_bit"] * v["actions_per_ns"], source=self.source,
        )


set_default("router", "isaac")
set_default("offchip_link", "isaac")
set_default("dram", "ddr")

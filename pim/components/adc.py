"""ADC models. One action = one conversion at the chip's ADC resolution.

`isaac` (the default): ISAAC's 8-bit 1.28 GS/s SAR ADC (2 mW, 1200 um2 at 32 nm) with its
capacitive-DAC resolution scaling (Saberi et al. 2011, as tabulated in hwcomponents-library and
../shared/reference/isaac.md). That table lists pJ per conversion at 1.2 GHz, i.e. each entry is
the ADC's power divided by 1.2 GS/s; the ISAAC ADC converts at 1.28 GS/s, so the energy of one
conversion at the reference point is entry x 1.2 / 1.28 -- 1.5625 pJ at 8 bits, the published
16 mW / (8 x 1.28 GS/s).

`walden`: the survey-style figure of merit E = FoM x 2^bits (Walden, JSAC 1999), with the
speed penalty seen in Murmann's ADC Performance Survey (the best FoM is flat at low sample rates
and grows about linearly with fs above a corner frequency), and an area of fixed logic plus a
capacitor array that doubles with each bit.

Both models share the rate and node behaviour:
- energy x (1 + fs / f_corner(node)): f_corner = 1 GS/s at 32 nm, scaling as 1/node (faster
  devices); the isaac model is normalised so that 1.28 GS/s at 32 nm gives the table exactly;
- area x max(1, fs / fs_single(node)): above the rate one converter reaches (ISAAC's 1.28 GS/s
  at 32 nm, scaling as 1/node) converters are time-interleaved, so area grows with the rate.
Energy and area strictly increase with resolution for both.
"""

from __future__ import annotations

import math

from recpim.pim.components.params import LEAKAGE, TECHNOLOGY, Param
from recpim.pim.components.registry import ComponentFigures, ComponentModel, register, set_default
from recpim.pim.components.scaling import REFERENCE_NODE_NM, area_factor, energy_factor

BITS = Param("bits", 1, 16, "bits", "ADC resolution")
SAMPLE_RATE = Param("sample_rate_gsps", 1e-6, 100, "GS/s", "conversions per ns")
CONVERSION = Param("conversion_ns", 1e-6, 1e6, "ns",
                   "one conversion at these bits (the chip sets it from adc.converter and adc.rate_bits); "
                   "null: 1 / sample_rate_gsps", optional=True)

# ISAAC / Saberi SAR table at 32 nm: bits -> (pJ per conversion at 1.2 GS/s, area um2).
ISAAC_TABLE_32NM = ((4, 0.79, 361.0), (5, 0.99, 477.0), (6, 1.20, 627.0), (7, 1.42, 845.0),
                    (8, 16.0 / (8 * 1.2), 1200.0), (9, 1.97, 1828.0), (10, 2.38, 3002.0))
TABLE_RATE_GSPS = 1.2  # the table's energies are power / 1.2 GS/s
ISAAC_RATE_GSPS = 1.28  # ...of an ADC that converts at 1.28 GS/s
CORNER_GSPS_32NM = 1.0
SINGLE_CHANNEL_GSPS_32NM = ISAAC_RATE_GSPS


def _table_log_interpolate(bits: float, column: int) -> float:
    """Piecewise log-linear in bits through the table; the end slopes continue outside 4..10 bits
    (which under-estimates high-resolution ADCs; prefer `walden` above 10 bits)."""
    rows = ISAAC_TABLE_32NM
    index = min(max(int(math.floor(bits)) - rows[0][0] + 1, 1), len(rows) - 1)
    lo, hi = rows[index - 1], rows[index]
    slope = math.log(hi[column] / lo[column])
    return lo[column] * math.exp(slope * (bits - lo[0]))


def speed_penalty(rate_gsps: float, node_nm: float) -> float:
    return 1 + rate_gsps / (CORNER_GSPS_32NM * REFERENCE_NODE_NM / node_nm)


def interleaving(rate_gsps: float, node_nm: float) -> float:
    return max(1.0, rate_gsps / (SINGLE_CHANNEL_GSPS_32NM * REFERENCE_NODE_NM / node_nm))


class _AdcModel(ComponentModel):
    component = "adc"
    params = (BITS, SAMPLE_RATE, CONVERSION, TECHNOLOGY, LEAKAGE)

    def total_energy_pj(self) -> float:
        raise NotImplementedError

    def area_um2(self) -> float:
        raise NotImplementedError

    def figures(self) -> ComponentFigures:
        # An ADC's full activity is one conversion after another. The chip passes the conversion time
        # at these bits (adc.conversion_ns: a SAR converter is faster at fewer bits); evaluated alone,
        # the quoted sample rate sets it. Energy keeps the quoted rate: the speed penalty is the bit
        # clock's, which the resolution does not change.
        v = self.values
        conversion_ns = v["conversion_ns"] if v["conversion_ns"] is not None else 1.0 / v["sample_rate_gsps"]
        return self.split(self.total_energy_pj(), self.area_um2(), conversion_ns, actions_per_ns=1.0 / conversion_ns)


@register
class IsaacAdc(_AdcModel):
    name = "isaac"
    source = ("ISAAC (Shafiee et al., ISCA 2016) 8-bit 1.28 GS/s SAR, 2 mW / 1200 um2 at 32 nm; resolution scaling "
              "after Saberi et al. 2011 (hwcomponents-library isaac.py); node: Stillmaker & Baas 2017")

    def total_energy_pj(self) -> float:
        v = self.values
        at_reference = _table_log_interpolate(v["bits"], 1) * TABLE_RATE_GSPS / ISAAC_RATE_GSPS
        rate = speed_penalty(v["sample_rate_gsps"], v["technology_nm"]) / speed_penalty(ISAAC_RATE_GSPS,
                                                                                        REFERENCE_NODE_NM)
        return at_reference * rate * energy_factor(v["technology_nm"])

    def area_um2(self) -> float:
        v = self.values
        return (_table_log_interpolate(v["bits"], 2) * area_factor(v["technology_nm"])
                * interleaving(v["sample_rate_gsps"], v["technology_nm"]))


@register
class WaldenAdc(_AdcModel):
    name = "walden"
    source = ("Walden figure of merit E = FoM x 2^bits (Walden, JSAC 1999), FoM 5 fJ/conversion-step at low rate "
              "with the survey's speed penalty (Murmann, ADC Performance Survey); area = logic + 2^bits unit "
              "capacitors, fitted to the ISAAC/Saberi 4- and 10-bit areas")

    FOM_FJ_PER_STEP = 5.0
    # area(bits) = LOGIC + UNIT_CAP * 2^bits, through the table's 4-bit and 10-bit areas at 32 nm
    UNIT_CAP_UM2 = (3002.0 - 361.0) / (2**10 - 2**4)
    LOGIC_UM2_32NM = 361.0 - 2**4 * UNIT_CAP_UM2

    def total_energy_pj(self) -> float:
        v = self.values
        return self.FOM_FJ_PER_STEP * 1e-3 * 2 ** v["bits"] * speed_penalty(v["sample_rate_gsps"], v["technology_nm"])

    def area_um2(self) -> float:
        # Logic shrinks with the node; capacitors are sized by matching and kT/C, so they do not.
        v = self.values
        single = self.LOGIC_UM2_32NM * area_factor(v["technology_nm"]) + self.UNIT_CAP_UM2 * 2 ** v["bits"]
        return single * interleaving(v["sample_rate_gsps"], v["technology_nm"])


set_default("adc", "isaac")

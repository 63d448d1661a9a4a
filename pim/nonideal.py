"""`crossbar.nonideal`: how real ReRAM cells depart from their ideal conductance levels, as the accuracy
simulation (recpim.arch.crossbar.device_sim) applies them. Every default is "off" (ideal cells), so a
chip that does not give this section computes exactly what it did before the section existed.

Each parameter, its unit and where a value for it comes from:

- off_current: model the current of the cells' off state. A cell holding level l of a c-bit cell
  conducts G_off + l (G_on - G_off) / (2^c - 1), with G_on = 1 / crossbar.device.r_on_ohm and
  G_off = 1 / crossbar.device.r_off_ohm, so a "0" cell still conducts G_off (finite on/off ratio).
  Source: DNN+NeuroSim's inference engine models the on/off ratio (`--onoffratio`, default 10; the
  neurosim-rram-22nm preset's r_on/r_off of 100 kOhm / 1.7 MOhm are NeuroSim's Param.cpp).
- programming_sigma (+ _unit, _distribution): the spread of a programmed level around its target,
  drawn once per cell per programmed chip. Units: "level_spacing" (absolute, a fraction of
  (G_on - G_off) / (2^c - 1)), "window" (absolute, a fraction of G_on - G_off) or "relative" (a
  fraction of the cell's own target conductance, DNN+NeuroSim's `--vari`, e.g. 0.1). Gaussian, or
  lognormal with the same mean and standard deviation. Calibrated reference: aihwkit's
  ReRamWan2022NoiseModel (NeuRRAM, Wan et al., Nature 2022) fits sigma(G) as a polynomial whose largest
  value is about 2.0 uS in a 40 uS window, i.e. programming_sigma = 0.05 in "window" units.
- read_noise_sigma: per read, each conducting cell's current fluctuates by this fraction of the
  window, independently per conversion. Source: aihwkit's ReRAM models recommend about 1 % additive
  read noise (forward.w_noise = 0.01, ADDITIVE_CONSTANT), for which no separate data exists.
- stuck_at_off_rate / stuck_at_on_rate: the share of cells stuck at G_off (SA0) or at G_on (SA1),
  drawn once per programmed chip. Reference values: Chen et al., "RRAM defect modeling and failure
  analysis based on March test and a novel squeeze-search scheme", IEEE Trans. Computers 2015 (1.75 %
  SA0 and 9.04 % SA1 on a fabricated array), the rates MNSIM 2.0 and fault-tolerance work reuse.
- drift_nu, drift_time_s, drift_t0_s: G(t) = G0 (t / t0)^-nu for every cell. aihwkit's ReRAM model
  states that ReRAM "does not show drift in the usual sense" (nu = 0); PCM's nu is about 0.05.
- wire_resistance_ohm: the wire resistance of one cell pitch, on the row (word line) and the column
  (bit line). First-order IR drop: a cell's current is attenuated by the voltage its row and column
  wires drop carrying the mean current of the cells beyond it (see device_sim). About 1 Ohm at 22 nm
  (copper at a 40 nm wire with size effects, ~4e-8 Ohm m, over a 4F 1T1R pitch: NeuroSim's wire table);
  NeuroSim uses it for latency and energy, not for accuracy.
- seed: the programmed chip. Draws are keyed by (seed, layer, crossbar); another seed is another chip.

Presets: isaac and puma give none of these (their papers assume ideal cells); neurosim-rram-22nm sets
off_current (NeuroSim models the on/off ratio) and leaves variation at its engine's default of 0.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SigmaUnit = Literal["level_spacing", "window", "relative"]
Distribution = Literal["gaussian", "lognormal"]


class NonidealConfig(BaseModel):
    """Device non-idealities of the crossbar cells (all off by default: ideal cells)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    off_current: bool = False
    programming_sigma: float = Field(default=0.0, ge=0, le=10)
    programming_sigma_unit: SigmaUnit = "level_spacing"
    programming_distribution: Distribution = "gaussian"
    read_noise_sigma: float = Field(default=0.0, ge=0, le=10)
    stuck_at_off_rate: float = Field(default=0.0, ge=0, le=1)
    stuck_at_on_rate: float = Field(default=0.0, ge=0, le=1)
    drift_nu: float = Field(default=0.0, ge=0, le=1)
    drift_time_s: float = Field(default=1.0, gt=0, le=1e10)
    drift_t0_s: float = Field(default=1.0, gt=0, le=1e10)
    wire_resistance_ohm: float = Field(default=0.0, ge=0, le=1e4)
    seed: int = Field(default=0, ge=0, le=2**62)

    @model_validator(mode="after")
    def _consistent(self) -> NonidealConfig:
        if self.stuck_at_off_rate + self.stuck_at_on_rate > 1:
            raise ValueError(f"stuck_at_off_rate + stuck_at_on_rate = "
                             f"{self.stuck_at_off_rate + self.stuck_at_on_rate} exceeds 1; allowed: a sum <= 1")
        if self.drift_time_s < self.drift_t0_s:
            raise ValueError(f"drift_time_s ({self.drift_time_s}) is before drift_t0_s ({self.drift_t0_s}); "
                             "allowed: drift_time_s >= drift_t0_s")
        return self

    @property
    def ideal(self) -> bool:
        """True when no effect is on (what the section's defaults give)."""
        return (not self.off_current and self.programming_sigma == 0 and self.read_noise_sigma == 0
                and self.stuck_at_off_rate == 0 and self.stuck_at_on_rate == 0
                and (self.drift_nu == 0 or self.drift_time_s == self.drift_t0_s) and self.wire_resistance_ohm == 0)

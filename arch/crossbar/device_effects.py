"""DeviceEffects: a chip's cell non-idealities in the units the crossbar arithmetic uses (torch-free).

Conductances are counted in level spacings: a c-bit cell at level l conducts off_conductance + l,
where off_conductance = G_off / dG and dG = (G_on - G_off) / (2^c - 1) is the level spacing. The
chip's physical numbers (crossbar.device, crossbar.nonideal; pim/nonideal.py gives their sources) are
turned into these by recpim.mapping.arithmetic. recpim.arch.crossbar.device_sim applies them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from recpim.errors import ConfigError

SIGMA_UNITS = ("level_spacing", "window", "relative")
DISTRIBUTIONS = ("gaussian", "lognormal")


@dataclass(frozen=True)
class DeviceEffects:
    """Cell non-idealities, in level spacings (module docstring). All zero: ideal cells."""

    off_conductance: float = 0.0          # G_off / dG: the current of a "0" cell (0: infinite on/off ratio)
    programming_sigma: float = 0.0        # spread of a programmed level, in programming_sigma_unit
    programming_sigma_unit: str = "level_spacing"   # level_spacing | window | relative (to the target)
    programming_distribution: str = "gaussian"      # gaussian | lognormal (same mean and std)
    read_noise_sigma: float = 0.0         # per read and conducting cell, a fraction of the window G_on - G_off
    stuck_at_off_rate: float = 0.0        # SA0: the cell conducts G_off whatever it was programmed to
    stuck_at_on_rate: float = 0.0         # SA1: the cell conducts G_on
    drift_factor: float = 1.0             # (t / t0)^-nu, on every cell
    ir_drop_per_cell: float = 0.0         # wire resistance of one cell pitch x the mean cell conductance
    cols: int = 128                       # columns of a crossbar (placement of columns on crossbars)
    chip_seed: int = 0                    # the programmed chip: draws are keyed by (chip_seed, layer, crossbar)

    def __post_init__(self) -> None:
        problems = []
        for key, low, high in (("off_conductance", 0.0, 1e6), ("programming_sigma", 0.0, 10.0),
                               ("read_noise_sigma", 0.0, 10.0), ("stuck_at_off_rate", 0.0, 1.0),
                               ("stuck_at_on_rate", 0.0, 1.0), ("drift_factor", 0.0, 1.0),
                               ("ir_drop_per_cell", 0.0, 1.0)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
                problems.append((key, f"{value!r} is not allowed; allowed: a number in [{low}, {high}]"))
        if self.programming_sigma_unit not in SIGMA_UNITS:
            problems.append(("programming_sigma_unit", f"{self.programming_sigma_unit!r} is not allowed; allowed: "
                                                       f"{', '.join(SIGMA_UNITS)}"))
        if self.programming_distribution not in DISTRIBUTIONS:
            problems.append(("programming_distribution", f"{self.programming_distribution!r} is not allowed; "
                                                         f"allowed: {', '.join(DISTRIBUTIONS)}"))
        if not problems and self.stuck_at_off_rate + self.stuck_at_on_rate > 1:
            problems.append(("stuck_at_on_rate", "stuck_at_off_rate + stuck_at_on_rate exceeds 1"))
        if not isinstance(self.cols, int) or not 2 <= self.cols <= 65536:
            problems.append(("cols", f"{self.cols!r} is not allowed; allowed: an integer in 2..65536"))
        if not isinstance(self.chip_seed, int) or self.chip_seed < 0:
            problems.append(("chip_seed", f"{self.chip_seed!r} is not allowed; allowed: an integer >= 0"))
        if problems:
            raise ConfigError("device effects", problems)

    @property
    def ideal(self) -> bool:
        """True when no effect is on: the arithmetic is then exactly the ideal cells' one."""
        return (self.off_conductance == 0 and self.programming_sigma == 0 and self.read_noise_sigma == 0
                and self.stuck_at_off_rate == 0 and self.stuck_at_on_rate == 0 and self.drift_factor == 1
                and self.ir_drop_per_cell == 0)

    @property
    def random(self) -> bool:
        """True when programmed chips differ from one another (a draw of the chip seed matters)."""
        return self.programming_sigma > 0 or self.read_noise_sigma > 0 or self.stuck_at_off_rate > 0 \
            or self.stuck_at_on_rate > 0

    def with_chip_seed(self, chip_seed: int) -> DeviceEffects:
        return replace(self, chip_seed=chip_seed)


__all__ = ["DISTRIBUTIONS", "SIGMA_UNITS", "DeviceEffects"]

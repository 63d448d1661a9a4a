"""CrossbarArithmetic: the numbers of a chip that decide crossbar arithmetic (arch/crossbar/matmul.py
simulates it with torch). Torch-free, so that the search's cost side and the CLI can build one
without loading torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from recpim.arch.crossbar.device_effects import DeviceEffects
from recpim.crossbar_numbers import ENCODINGS, Encoding, lossless_adc_bits, subtraction_allowed
from recpim.errors import ConfigError


@dataclass(frozen=True)
class CrossbarArithmetic:
    """The numbers of a chip that decide crossbar arithmetic (built from a ChipConfig by a higher
    layer: crossbar.rows, crossbar.rows_read_at_once, crossbar.bits_per_cell, dac.bits, adc.bits,
    weight_encoding, crossbar.analog_subtraction; crossbar.nonideal as `device`)."""

    rows: int = 128
    rows_read_at_once: int = 128
    cell_bits: int = 2
    dac_bits: int = 1
    adc_bits: int = 8
    encoding: Encoding = "offset"
    analog_subtraction: bool = False
    device: DeviceEffects | None = None   # cell non-idealities (None or all off: ideal cells)
    # Sparse fields whose tables the chip reads in crossbars (chip.embedding.mode in_crossbar, the
    # table in the ReRAM reserve): their rows reach the model through the ADC (arch/crossbar/bag_read.py).
    embedding_fields: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        problems = []
        for key, low, high in (("rows", 1, 65536), ("rows_read_at_once", 1, 65536), ("cell_bits", 1, 8),
                               ("dac_bits", 1, 8), ("adc_bits", 1, 32)):
            value = getattr(self, key)
            if not isinstance(value, int) or not low <= value <= high:
                problems.append((key, f"{value!r} is not allowed; allowed: an integer in {low}..{high}"))
        if not problems and self.rows_read_at_once > self.rows:
            problems.append(("rows_read_at_once", f"{self.rows_read_at_once} exceeds rows={self.rows}"))
        if self.encoding not in ENCODINGS:
            problems.append(("encoding", f"{self.encoding!r} is not allowed; allowed: {', '.join(ENCODINGS)}"))
        elif self.analog_subtraction and not subtraction_allowed(self.encoding):
            problems.append(("analog_subtraction", "needs a column pair per weight; allowed with encoding "
                                                   "'differential' or 'sign_magnitude'"))
        if not isinstance(self.embedding_fields, tuple) or not all(
                isinstance(f, int) and f >= 0 for f in self.embedding_fields):
            problems.append(("embedding_fields", f"{self.embedding_fields!r}; expected a tuple of field numbers >= 0"))
        if self.device is not None and not isinstance(self.device, DeviceEffects):
            problems.append(("device", f"expected DeviceEffects or None, got {type(self.device).__name__}"))
        if problems:
            raise ConfigError("crossbar arithmetic", problems)

    @property
    def ideal_cells(self) -> bool:
        """True when the cells are ideal (no device effect on): the arithmetic is today's exact one."""
        return self.device is None or self.device.ideal

    def with_chip_seed(self, chip_seed: int) -> CrossbarArithmetic:
        """The same arithmetic on another programmed chip (another draw of the device effects)."""
        return self if self.device is None else replace(self, device=self.device.with_chip_seed(chip_seed))

    def without_device_effects(self) -> CrossbarArithmetic:
        """The same chip with ideal cells (the ideal-cell figure a Monte-Carlo score is shown beside)."""
        return replace(self, device=None)

    def lossless_adc_bits(self, rows_summed: int | None = None) -> int:
        """ADC bits that digitise a partial sum of `rows_summed` rows (default rows_read_at_once)
        exactly: bitlength(R (2^d - 1)(2^c - 1))."""
        rows_summed = self.rows_read_at_once if rows_summed is None else rows_summed
        return lossless_adc_bits(rows_summed, self.cell_bits, self.dac_bits, signed=self.analog_subtraction)

    @property
    def sign_bit(self) -> int:
        """1 when the ADC digitises a signed difference (analog subtraction), else 0."""
        return 1 if self.analog_subtraction else 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if not self.embedding_fields:   # as before in-crossbar lookups were scored: stored scores unchanged
            del data["embedding_fields"]
        return data


__all__ = ["CrossbarArithmetic", "DeviceEffects", "ENCODINGS", "Encoding"]

"""A component model's parameter (a number in a range, or one of some choices) and the parameters
most models share (technology node, clock, activity rate, leakage share)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Param:
    """A model parameter: a number in [low, high] (or one of `choices`); `optional` allows None."""

    name: str
    low: float = -math.inf
    high: float = math.inf
    unit: str = ""
    doc: str = ""
    optional: bool = False
    choices: tuple[str, ...] = ()

    def allowed(self) -> str:
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        text = f"{self.low:g} <= {self.name} <= {self.high:g}" + (f" {self.unit}" if self.unit else "")
        return text + (" or null" if self.optional else "")

    def problem(self, value: Any) -> str | None:
        if value is None:
            return None if self.optional else f"missing; allowed: {self.allowed()}"
        if self.choices:
            return None if value in self.choices else f"got {value!r}; allowed: {self.allowed()}"
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or not self.low <= value <= self.high:
            return f"got {value!r}; allowed: {self.allowed()}"
        return None


# Parameters most models share.
TECHNOLOGY = Param("technology_nm", 3, 180, "nm", "CMOS technology node")
CLOCK = Param("clock_ghz", 1e-3, 10, "GHz", "chip clock")
RATE = Param("actions_per_ns", 0, 1e7, "1/ns", "actions per ns at full activity (set by the chip)")
LEAKAGE = Param("leakage_fraction", 0, 1, "", "static share of the power at full activity")

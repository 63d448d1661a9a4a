"""Run a cost engine on a PipelineWorkload for a chip: the one place where the chip model's
figures (durations, per-action energies, leakage, area) are handed to the engines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from recpim.pim import analytic, des
from recpim.pim.chip_model import CHIP, PE, TILE, ChipModel, build_chip_model
from recpim.pim.config import ChipConfig
from recpim.pim.cost_report import CostReport
from recpim.pim.timing import ChipTiming
from recpim.pim.workload import PipelineWorkload

Engine = Literal["analytic", "des"]
ENGINES = ("analytic", "des")


@dataclass(frozen=True)
class CostInputs:
    """What both engines take from the chip model."""

    chip_name: str
    timing: ChipTiming
    energy_pj_per_action: dict[str, float]
    tile_leakage_mw: float
    shared_leakage_mw: float      # routers, off-chip links: on whenever the chip runs
    area_mm2_by_component: dict[str, float]
    tile_area_mm2: float = 0.0    # one tile with its PEs and its share of a router
    shared_area_mm2: float = 0.0  # chip-level parts (off-chip links, embedding arrays)

    def leakage_mw(self, tiles_used: int) -> float:
        """Unused tiles are assumed power-gated; used tiles and chip-level parts leak."""
        return tiles_used * self.tile_leakage_mw + self.shared_leakage_mw

    def area_mm2_used(self, tiles_used: int) -> float:
        """Silicon a model occupies: the tiles it uses and the chip-level parts."""
        return tiles_used * self.tile_area_mm2 + self.shared_area_mm2


def cost_inputs(chip: ChipConfig, model: ChipModel | None = None) -> CostInputs:
    model = model or build_chip_model(chip)
    components = model.components
    timing = ChipTiming.from_chip(
        chip,
        crossbar_read_ns=components["crossbar"].latency_ns,
        adc_conversion_ns=components["adc"].latency_ns,
        buffer_access_ns=components["buffer"].latency_ns,
        dac_step_ns=components["dac"].latency_ns,
    )
    per_tile = sum(e.count_per_tile * e.figures.leakage_mw for e in model.rollup.values() if e.level in (PE, TILE))
    shared = sum(e.leakage_mw_per_chip for e in model.rollup.values() if e.level == CHIP)
    return CostInputs(
        chip_name=chip.name,
        timing=timing,
        energy_pj_per_action=dict(model.energy_pj),
        tile_leakage_mw=per_tile,
        shared_leakage_mw=shared,
        area_mm2_by_component=model.area_mm2_by_component(),
        tile_area_mm2=model.tile.area_mm2,
        shared_area_mm2=sum(e.area_mm2_per_chip for e in model.rollup.values() if e.level == CHIP),
    )


def run_engine(workload: PipelineWorkload, inputs: CostInputs, engine: Engine = "analytic", batch: int = 64,
               waves_per_event: int = analytic.DEFAULT_WAVES_PER_EVENT,
               record_trace: bool = False) -> tuple[CostReport, list | None]:
    common = dict(
        timing=inputs.timing, energy_pj_per_action=inputs.energy_pj_per_action,
        leakage_mw=inputs.leakage_mw(workload.tiles_used), area_mm2_by_component=inputs.area_mm2_by_component,
        chip_name=inputs.chip_name, batch=batch, waves_per_event=waves_per_event,
        area_mm2_of_tiles_used=inputs.area_mm2_used(workload.tiles_used),
    )
    if engine == "analytic":
        return analytic.analyze(workload, **common), None
    if engine == "des":
        return des.simulate(workload, record_trace=record_trace, **common)
    raise ValueError(f"unknown engine {engine!r}; allowed: {', '.join(ENGINES)}")

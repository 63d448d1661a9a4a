"""Run a cost engine on a PipelineWorkload for a chip: the one place where the chip model's
figures (durations, per-action energies, leakage, area) are handed to the engines."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import get_args

from recpim.pim import analytic, des
from recpim.pim.chip_model import CHIP, PE, TILE, ChipModel, build_chip_model
from recpim.pim.config import ChipConfig
from recpim.pim.cost_report import CostReport, Engine
from recpim.pim.timing import ChipTiming
from recpim.pim.workload import ActionEnergies, PipelineWorkload

ENGINES: tuple[str, ...] = get_args(Engine)


@dataclass(frozen=True)
class CostInputs:
    """What both engines take from the chip model."""

    chip_name: str
    timing: ChipTiming
    energy_pj_per_action: ActionEnergies
    tile_leakage_mw: float
    shared_leakage_mw: float      # routers, off-chip links: on whenever the chip runs
    area_mm2_by_component: dict[str, float]
    tile_area_mm2: float = 0.0    # one tile with its PEs and its share of a router
    shared_area_mm2: float = 0.0  # chip-level parts (off-chip links, embedding arrays)
    tiles_total: int = 1
    power_gating: bool = True     # unused tiles leak nothing
    tile_leakage_mw_by_component: dict[str, float] = field(default_factory=dict)
    shared_leakage_mw_by_component: dict[str, float] = field(default_factory=dict)

    def leaking_tiles(self, tiles_used: int) -> int:
        return tiles_used if self.power_gating else self.tiles_total

    def leakage_mw(self, tiles_used: int) -> float:
        """Leaking tiles (the used ones when idle tiles are power-gated, else all) and chip-level parts."""
        return self.leaking_tiles(tiles_used) * self.tile_leakage_mw + self.shared_leakage_mw

    def leakage_mw_by_component(self, tiles_used: int) -> dict[str, float]:
        """leakage_mw split by component (sums to it)."""
        tiles = self.leaking_tiles(tiles_used)
        names = self.tile_leakage_mw_by_component.keys() | self.shared_leakage_mw_by_component.keys()
        return {name: tiles * self.tile_leakage_mw_by_component.get(name, 0.0)
                + self.shared_leakage_mw_by_component.get(name, 0.0) for name in sorted(names)}

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
    per_tile_by = {name: e.count_per_tile * e.figures.leakage_mw for name, e in model.rollup.items()
                   if e.level in (PE, TILE) and e.figures.leakage_mw}
    shared_by = {name: e.leakage_mw_per_chip for name, e in model.rollup.items()
                 if e.level == CHIP and e.figures.leakage_mw}
    per_tile, shared = sum(per_tile_by.values()), sum(shared_by.values())
    return CostInputs(
        chip_name=chip.name,
        timing=timing,
        energy_pj_per_action=ActionEnergies.from_dict(model.energy_pj),
        tile_leakage_mw=per_tile,
        shared_leakage_mw=shared,
        area_mm2_by_component=model.area_mm2_by_component(),
        tile_area_mm2=model.tile.area_mm2,
        shared_area_mm2=sum(e.area_mm2_per_chip for e in model.rollup.values() if e.level == CHIP),
        tiles_total=chip.chip.tiles,
        power_gating=chip.chip.power_gating,
        tile_leakage_mw_by_component=per_tile_by,
        shared_leakage_mw_by_component=shared_by,
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
        report, trace = analytic.analyze(workload, **common), None
    elif engine == "des":
        report, trace = des.simulate(workload, record_trace=record_trace, **common)
    else:
        raise ValueError(f"unknown engine {engine!r}; allowed: {', '.join(ENGINES)}")
    return with_leakage_breakdown(report, inputs, workload.tiles_used), trace


def with_leakage_breakdown(report: CostReport, inputs: CostInputs, tiles_used: int) -> CostReport:
    """The report's leakage energy split by the components that leak (it sums to the leakage entry)."""
    leakage_pj = report.energy_pj_by_component.get("leakage", 0.0)
    by_component = inputs.leakage_mw_by_component(tiles_used)
    total_mw = sum(by_component.values())
    if not leakage_pj or not total_mw:
        return report
    return replace(report, leakage_pj_by_component={name: leakage_pj * mw / total_mw
                                                    for name, mw in by_component.items()})

"""CostReport: the one result type both cost engines return, and energy accounting from activity.

Energy = sum over activity of (count x energy of one action) + leakage power x time. The same
function prices activity for both engines, so their dynamic energies agree to float precision.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import chain
from operator import attrgetter
from typing import Literal

from recpim.pim.workload import (
    ACTIVITY_KEYS,
    COMPONENT_OF_ACTIVITY,
    DIGITAL_ORDER,
    ActionEnergies,
    PipelineWorkload,
    Stage,
    StageKind,
)

# The breakdown's components, in the order reports list them (each action's component is its
# Activity field's metadata, pim/workload.py).
COMPONENTS: tuple[str, ...] = ("adc", "dac", "crossbar", "sample_hold", "shift_add", "registers", "buffer", "bus",
                               "noc", "dram", "vector_unit", "maxpool", "periphery")
# Components that appear in a breakdown only when used (embedding lookups' hot-row cache and the
# reduction units of near-memory DRAM), so breakdowns without them read as before.
OPTIONAL_COMPONENTS: tuple[str, ...] = ("embedding_cache", "near_memory")
assert set(COMPONENTS) | set(OPTIONAL_COMPONENTS) == set(COMPONENT_OF_ACTIVITY.values())
LEAKAGE = "leakage"
# Activity / ActionEnergies fields in ACTIVITY_KEYS order (one C-level call per stage) and their components.
# The order a stage's energies are added in decides the last bit of a float sum (see Activity): an MVM
# or embedding stage adds them in field order, a digital stage its vector ops first (DIGITAL_ORDER).
_ACTIVITY_COUNTS = attrgetter(*ACTIVITY_KEYS)   # an Activity's counts, or an ActionEnergies' energies
_DIGITAL_COLUMNS = [ACTIVITY_KEYS.index(key) for key in DIGITAL_ORDER]
# each component's actions (their columns, in field order)
_COMPONENT_COLUMNS = {component: [i for i, key in enumerate(ACTIVITY_KEYS) if COMPONENT_OF_ACTIVITY[key] == component]
                      for component in COMPONENTS + OPTIONAL_COMPONENTS}
REPROGRAMMING = "crossbar_write"
WAITING = "waiting"   # the simulator's part of a stage's time spent queueing (stage_ns_by_layer_part)


Engine = Literal["analytic", "des"]   # the analytic model or the discrete-event simulator


@dataclass(frozen=True)
class EnergyBreakdown:
    total_pj: float
    by_component_pj: dict[str, float]
    by_layer_pj: dict[str, float]
    embedding_pj: float
    dynamic_pj: float
    leakage_pj: float


def energy_per_inference(workload: PipelineWorkload, energy_pj_per_action: ActionEnergies,
                         leakage_mw: float, elapsed_ns_per_inference: float, batch: int) -> EnergyBreakdown:
    """Price each stage's activity; leakage (mW x ns = pJ) and crossbar rewriting (time-multiplexed
    mappings, once per batch) are their own component and layer entries. The total is the sum of
    the component entries; the layer entries hold the same terms."""
    by_component = dict.fromkeys(COMPONENTS + OPTIONAL_COMPONENTS, 0.0)
    by_layer: dict[str, float] = {}
    stages = workload.stages
    if stages:
        layer_pj, component_pj = _priced_activity(stages, energy_pj_per_action)
        by_layer = dict(zip((stage.name for stage in stages), layer_pj, strict=True))
        by_component.update(component_pj)
    for name in OPTIONAL_COMPONENTS:
        if not by_component[name]:
            del by_component[name]
    leakage_pj = leakage_mw * elapsed_ns_per_inference
    by_component[LEAKAGE] = leakage_pj
    by_layer[LEAKAGE] = leakage_pj
    if workload.reprogram_pj_per_batch:
        by_component[REPROGRAMMING] = by_layer[REPROGRAMMING] = workload.reprogram_pj_per_batch / batch
    embedding_pj = sum(by_layer[s.name] for s in workload.stages if s.kind == StageKind.EMBEDDING)
    dynamic_pj = math.fsum(v for k, v in by_component.items() if k not in (LEAKAGE, REPROGRAMMING))
    return EnergyBreakdown(
        total_pj=math.fsum(by_component.values()),
        by_component_pj=by_component,
        by_layer_pj=by_layer,
        embedding_pj=embedding_pj,
        dynamic_pj=dynamic_pj,
        leakage_pj=leakage_pj,
    )


def _priced_activity(stages: Sequence[Stage], energy_pj_per_action: ActionEnergies,
                     ) -> tuple[list[float], dict[str, float]]:
    """Each stage's energy and each component's, from one (stages x actions) array of count x energy
    of one action. Every sum is the one written out: a stage's terms added one after another in its
    order (its actions in field order, a digital stage's vector ops first), a component's in stage
    order and then in field order within a stage (the digital order moves only vector ops, alone in
    their component). np.add.accumulate adds one term after another; actions that never happen are
    exact zeros, and adding 0.0 to a sum changes no bit of it."""
    import numpy as np  # deferred: the simulate command and the reports import this module before they need it

    activities = [stage.activity for stage in stages]
    size = len(stages) * len(ACTIVITY_KEYS)
    try:   # the counts as 64-bit integers in one call, then to floats (the same rounding as int * float)
        count = np.frombuffer(struct.pack(f"<{size}q", *chain.from_iterable(map(_ACTIVITY_COUNTS, activities))),
                              np.int64).astype(np.float64)
    except struct.error:   # a count past 64 bits
        count = np.fromiter(chain.from_iterable(map(_ACTIVITY_COUNTS, activities)), np.float64, size)
    count = count.reshape(len(stages), len(ACTIVITY_KEYS))
    energies = _ACTIVITY_COUNTS(energy_pj_per_action)
    priced = count * np.array(energies)
    if not all(0.0 <= pj < math.inf for pj in energies):   # 0 x such an energy is no exact 0.0
        priced[count == 0.0] = 0.0
    digital = [i for i, stage in enumerate(stages) if stage.kind == StageKind.DIGITAL]
    layer_pj = np.add.accumulate(priced, axis=1)[:, -1]
    if digital:
        layer_pj[digital] = np.add.accumulate(priced[digital][:, _DIGITAL_COLUMNS], axis=1)[:, -1]
    per_action = np.add.accumulate(priced, axis=0)[-1].tolist()
    component_pj = {component: per_action[columns[0]] if len(columns) == 1
                    else float(np.add.accumulate(priced[:, columns].ravel())[-1])
                    for component, columns in _COMPONENT_COLUMNS.items()}
    return layer_pj.tolist(), component_pj


@dataclass(frozen=True)
class CostReport:
    engine: Engine
    model: str
    chip: str
    batch: int
    latency_ns_per_inference: float           # one inference through the empty pipeline
    latency_ns_per_batch: float
    throughput_inf_per_s: float
    macs_per_inference: int
    tops: float                               # 2 ops per MAC
    tops_per_w: float
    power_w: float
    energy_pj_per_inference: float
    dynamic_energy_pj_per_inference: float
    energy_pj_by_component: dict[str, float]
    energy_pj_by_layer: dict[str, float]
    embedding_energy_pj_per_inference: float
    area_mm2: float                           # the whole chip
    area_mm2_by_component: dict[str, float]
    stage_ns_by_layer: dict[str, float]       # per-inference busy time of each stage
    utilization: dict[str, float]             # busy fraction of each resource class
    bottleneck_layer: str
    bottleneck_resource: str
    wait_ns_by_resource: dict[str, float] = field(default_factory=dict)  # simulator only
    notes: list[str] = field(default_factory=list)
    area_mm2_of_tiles_used: float = 0.0       # the tiles the model occupies and the chip-level parts
    leakage_pj_by_component: dict[str, float] = field(default_factory=dict)  # sums to the "leakage" entry
    # Each stage's time split by what it is spent on (pim/analytic.py LATENCY_PARTS: compute, buffer,
    # transfer, merge, dram; the simulator adds `waiting`, its queueing beyond them): sums to stage_ns_by_layer.
    stage_ns_by_layer_part: dict[str, dict[str, float]] = field(default_factory=dict)

    def bound_by(self, layer: str) -> str:
        """What a stage's work is mostly spent on: the largest of its parts other than the simulator's
        `waiting` ('' when the report has no split), e.g. "merge" for a merge-bound layer."""
        parts = {k: v for k, v in self.stage_ns_by_layer_part.get(layer, {}).items() if k != WAITING}
        return max(parts, key=parts.get) if parts else ""

    def to_json_dict(self) -> dict:
        return asdict(self)


def build_report(*, engine: Engine, workload: PipelineWorkload, chip_name: str, batch: int,
                 latency_ns_per_inference: float, latency_ns_per_batch: float,
                 energy: EnergyBreakdown, area_mm2_by_component: dict[str, float],
                 stage_ns_by_layer: dict[str, float], utilization: dict[str, float],
                 bottleneck_layer: str, bottleneck_resource: str,
                 wait_ns_by_resource: dict[str, float] | None = None,
                 notes: list[str] | None = None, macs_per_inference: int | None = None,
                 area_mm2_of_tiles_used: float | None = None,
                 stage_ns_by_layer_part: dict[str, dict[str, float]] | None = None) -> CostReport:
    """Derived figures (throughput, power, TOPS) computed once here for both engines.
    `macs_per_inference` defaults to the workload's; the simulator passes what it counted."""
    macs = workload.macs_per_inference if macs_per_inference is None else macs_per_inference
    throughput = batch / latency_ns_per_batch * 1e9
    power_w = energy.total_pj * throughput * 1e-12
    tops = 2 * macs * throughput / 1e12
    return CostReport(
        engine=engine,
        model=workload.name,
        chip=chip_name,
        batch=batch,
        latency_ns_per_inference=latency_ns_per_inference,
        latency_ns_per_batch=latency_ns_per_batch,
        throughput_inf_per_s=throughput,
        macs_per_inference=macs,
        tops=tops,
        tops_per_w=tops / power_w if power_w > 0 else 0.0,
        power_w=power_w,
        energy_pj_per_inference=energy.total_pj,
        dynamic_energy_pj_per_inference=energy.dynamic_pj,
        energy_pj_by_component=energy.by_component_pj,
        energy_pj_by_layer=energy.by_layer_pj,
        embedding_energy_pj_per_inference=energy.embedding_pj,
        area_mm2=math.fsum(area_mm2_by_component.values()),
        area_mm2_by_component=area_mm2_by_component,
        stage_ns_by_layer=stage_ns_by_layer,
        utilization=utilization,
        bottleneck_layer=bottleneck_layer,
        bottleneck_resource=bottleneck_resource,
        wait_ns_by_resource=wait_ns_by_resource or {},
        notes=notes or [],
        # Without a chip model (engines driven directly) the whole chip stands for what is used.
        area_mm2_of_tiles_used=(math.fsum(area_mm2_by_component.values()) if area_mm2_of_tiles_used is None
                                else area_mm2_of_tiles_used),
        stage_ns_by_layer_part=stage_ns_by_layer_part or {},
    )

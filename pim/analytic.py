"""The analytic cost model: per-stage times from the same counts and durations the simulator
uses, combined as an inter-layer pipeline: batch latency = fill + (batch - 1) x period.

- fill: the longest path through the stage DAG (stage times plus inter-tile transfer times);
- period: the largest of (a) the slowest stage, (b) the busiest shared resource per inference
  (each mesh link, the DRAM channel, each tile's buffer ports and vector units), and (c) the
  double-buffer bound: a producer may be at most two inferences ahead of each consumer, so for an
  edge P -> C the time from P's start to C's end, over 2, bounds the period.
(b) assumes perfect interleaving on shared resources; the simulator shows the queueing on top.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from recpim.pim.cost_report import CostReport, build_report, energy_per_inference
from recpim.pim.timing import ChipTiming, vector_waves
from recpim.pim.workload import PipelineWorkload, Stage, StageKind

HANDOFF_SLOTS = 2  # double-buffered handoff between layers
DEFAULT_WAVES_PER_EVENT = 16


def stage_ns(stage: Stage, timing: ChipTiming, waves_per_event: int = DEFAULT_WAVES_PER_EVENT) -> float:
    """Time one inference occupies a stage when nothing else competes for its resources."""
    return stage_cost(stage, timing, waves_per_event)[0]


def stage_cost(stage: Stage, timing: ChipTiming,
               waves_per_event: int = DEFAULT_WAVES_PER_EVENT) -> tuple[float, dict[str, float]]:
    """A stage's time per inference and the busy time it adds to each shared resource, named as
    the simulator names them (buffer time is per port; vector-unit time is shared by the units)."""
    tile = f"tile{stage.tile}"
    busy: dict[str, float] = {}
    if stage.kind == StageKind.MVM:
        time_ns = buffer_ns = 0.0
        for waves, n in vector_waves(stage.vectors, stage.replicas, waves_per_event):
            io_ns = (timing.buffer_ns(n * stage.input_bits_per_vector)
                     + timing.buffer_ns(n * stage.output_bits_per_vector))
            time_ns += io_ns + timing.mvm_ns(stage, waves)
            buffer_ns += io_ns
        busy[f"{tile}.buffer"] = buffer_ns / timing.buffer_ports
        return time_ns, busy
    read_ns = timing.buffer_ns(stage.input_bits_per_vector)
    write_ns = timing.buffer_ns(stage.output_bits_per_vector)
    busy[f"{tile}.buffer"] = (read_ns + write_ns) / timing.buffer_ports
    if stage.kind == StageKind.DIGITAL:
        # Equal chunks, one per vector unit; the pool's busy time is shared by its units.
        chunk_ns = [timing.digital_ns(ops) for ops in timing.digital_chunks(stage.digital_ops)]
        busy[f"{tile}.vector_units"] = sum(chunk_ns) / timing.vector_units
        return read_ns + max(chunk_ns, default=0.0) + write_ns, busy
    dram_ns = timing.dram_ns(stage.dram_bits)
    if stage.dram_bits:
        busy["dram"] = dram_ns
    return dram_ns + timing.reram_lookup_ns(stage.reram_lookup_rows) + write_ns, busy


def transfer_times_ns(workload: PipelineWorkload, timing: ChipTiming) -> dict[tuple[str, str], float]:
    return {(t.producer, t.consumer): timing.transfer_ns(t.num_bytes, t.hops) for t in workload.transfers}


def pipeline_fill_ns(workload: PipelineWorkload, stage_times: dict[str, float],
                     transfer_ns: dict[tuple[str, str], float]) -> dict[str, float]:
    """Finish time of each stage for one inference entering an empty pipeline at t = 0: the
    longest path through the stage DAG (stages are stored in topological order)."""
    finish: dict[str, float] = {}
    for stage in workload.stages:
        start = max((finish[p] + transfer_ns.get((p, stage.name), 0.0) for p in stage.predecessors), default=0.0)
        finish[stage.name] = start + stage_times[stage.name]
    return finish


def _stage_times_and_busy(workload: PipelineWorkload, timing: ChipTiming,
                          waves_per_event: int) -> tuple[dict[str, float], dict[str, float]]:
    stage_times: dict[str, float] = {}
    busy: dict[str, float] = defaultdict(float)
    for stage in workload.stages:
        stage_times[stage.name], adds = stage_cost(stage, timing, waves_per_event)
        for resource, ns in adds.items():
            busy[resource] += ns
    for transfer in workload.transfers:
        link_ns = timing.transfer_ns(transfer.num_bytes, transfer.hops)
        for link in transfer.links:
            busy[f"link{link[0]}-{link[1]}"] += link_ns
    return stage_times, dict(busy)


def handoff_bounds_ns(workload: PipelineWorkload, stage_times: dict[str, float],
                      transfer_ns: dict[tuple[str, str], float]) -> dict[str, float]:
    """Double-buffered handoff: producer P starts inference b only after consumer C has finished
    b - 2, so every path P -> ... -> C, closed by C's two slots, bounds the period by its length
    over 2 (a cycle of a marked graph). Only the longest path from each P to each C matters: one
    forward pass in topological order fills longest[p, v] for all p at once (numpy columns)."""
    index = {stage.name: i for i, stage in enumerate(workload.stages)}
    longest = np.full((len(index), len(index)), -np.inf)
    edges = []
    for stage in workload.stages:
        v = index[stage.name]
        if stage.predecessors:
            arrivals = [longest[:, index[p]] + transfer_ns.get((p, stage.name), 0.0) for p in stage.predecessors]
            longest[:, v] = np.maximum.reduce(arrivals) + stage_times[stage.name]
            edges += [(p, stage.name) for p in stage.predecessors]
        longest[v, v] = stage_times[stage.name]
    return {f"handoff {p}->{c}": float(longest[index[p], index[c]]) / HANDOFF_SLOTS for p, c in edges}


def analyze(workload: PipelineWorkload, timing: ChipTiming, energy_pj_per_action: dict[str, float],
            leakage_mw: float, area_mm2_by_component: dict[str, float], chip_name: str, batch: int = 1,
            waves_per_event: int = DEFAULT_WAVES_PER_EVENT) -> CostReport:
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    stage_times, busy = _stage_times_and_busy(workload, timing, waves_per_event)
    transfer_ns = transfer_times_ns(workload, timing)
    finish = pipeline_fill_ns(workload, stage_times, transfer_ns)
    fill_ns = max(finish.values(), default=0.0)

    bounds = {f"stage {name}": t for name, t in stage_times.items()}
    bounds.update(busy)
    bounds.update(handoff_bounds_ns(workload, stage_times, transfer_ns))
    limiter, period_ns = max(bounds.items(), key=lambda item: item[1])
    batch_ns = fill_ns + (batch - 1) * period_ns + workload.reprogram_ns_per_batch

    energy = energy_per_inference(workload, energy_pj_per_action, leakage_mw, batch_ns / batch, batch)
    bottleneck_layer = max(stage_times, key=stage_times.get)
    utilization = {name: min(1.0, busy_ns * batch / batch_ns) for name, busy_ns in busy.items()}
    for name, t in stage_times.items():
        utilization[f"stage {name}"] = min(1.0, t * batch / batch_ns)
    return build_report(
        engine="analytic", workload=workload, chip_name=chip_name, batch=batch,
        latency_ns_per_inference=fill_ns, latency_ns_per_batch=batch_ns, energy=energy,
        area_mm2_by_component=area_mm2_by_component, stage_ns_by_layer=stage_times,
        utilization=utilization, bottleneck_layer=bottleneck_layer, bottleneck_resource=limiter,
    )


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

from recpim.pim.cost_report import CostReport, build_report, energy_per_inference
from recpim.pim.timing import ChipTiming, vector_waves
from recpim.pim.workload import PipelineWorkload, Stage, StageKind

HANDOFF_SLOTS = 2  # double-buffered handoff between layers
DEFAULT_WAVES_PER_EVENT = 16


def stage_ns(stage: Stage, timing: ChipTiming, waves_per_event: int = DEFAULT_WAVES_PER_EVENT) -> float:
    """Time one inference occupies a stage when nothing else competes for its resources."""
    if stage.kind == StageKind.MVM:
        return sum(
            timing.buffer_ns(n * stage.input_bits_per_vector) + timing.mvm_ns(stage, waves)
            + timing.buffer_ns(n * stage.output_bits_per_vector)
            for waves, n in vector_waves(stage.vectors, stage.replicas, waves_per_event)
        )
    read_ns = timing.buffer_ns(stage.input_bits_per_vector)
    write_ns = timing.buffer_ns(stage.output_bits_per_vector)
    if stage.kind == StageKind.DIGITAL:
        chunks = timing.digital_chunks(stage.digital_ops)
        return read_ns + timing.digital_ns(max(chunks, default=0)) + write_ns
    return timing.dram_ns(stage.dram_bits) + timing.reram_lookup_ns(stage.reram_lookup_rows) + write_ns


def pipeline_fill_ns(workload: PipelineWorkload, stage_times: dict[str, float], timing: ChipTiming) -> dict[str, float]:
    """Finish time of each stage for one inference entering an empty pipeline at t = 0: the
    longest path through the stage DAG (stages are stored in topological order)."""
    transfer_ns = {(t.producer, t.consumer): timing.transfer_ns(t.num_bytes, t.hops) for t in workload.transfers}
    finish: dict[str, float] = {}
    for stage in workload.stages:
        start = max((finish[p] + transfer_ns.get((p, stage.name), 0.0) for p in stage.predecessors), default=0.0)
        finish[stage.name] = start + stage_times[stage.name]
    return finish


def resource_busy_ns(workload: PipelineWorkload, timing: ChipTiming,
                     waves_per_event: int = DEFAULT_WAVES_PER_EVENT) -> dict[str, float]:
    """Busy time per inference of every shared resource, named as the simulator names them."""
    busy: dict[str, float] = defaultdict(float)
    for stage in workload.stages:
        tile = f"tile{stage.tile}"
        if stage.kind == StageKind.MVM:
            for _, n in vector_waves(stage.vectors, stage.replicas, waves_per_event):
                busy[f"{tile}.buffer"] += _buffer_ns(timing, n * stage.input_bits_per_vector,
                                                     n * stage.output_bits_per_vector)
        else:
            busy[f"{tile}.buffer"] += _buffer_ns(timing, stage.input_bits_per_vector, stage.output_bits_per_vector)
        if stage.kind == StageKind.DIGITAL:
            # The ops are split into equal chunks, one per unit; the pool's busy time is shared by its units.
            chunks = timing.digital_chunks(stage.digital_ops)
            busy[f"{tile}.vector_units"] += sum(timing.digital_ns(ops) for ops in chunks) / timing.vector_units
        if stage.kind == StageKind.EMBEDDING and stage.dram_bits:
            busy["dram"] += timing.dram_ns(stage.dram_bits)
    for transfer in workload.transfers:
        for link in transfer.links:
            busy[f"link{link[0]}-{link[1]}"] += timing.transfer_ns(transfer.num_bytes, transfer.hops)
    return dict(busy)


def handoff_bounds_ns(workload: PipelineWorkload, stage_times: dict[str, float],
                      timing: ChipTiming) -> dict[str, float]:
    """Double-buffered handoff: producer P starts inference b only after consumer C has finished
    b - 2, so every path P -> ... -> C, closed by C's two slots, bounds the period by its length
    over 2 (a cycle of a marked graph). Only the longest path from each P to each C matters."""
    transfer_ns = {(t.producer, t.consumer): timing.transfer_ns(t.num_bytes, t.hops) for t in workload.transfers}
    stages = workload.stages
    bounds = {}
    for index, producer in enumerate(stages):
        consumers = [s.name for s in stages[index + 1:] if producer.name in s.predecessors]
        if not consumers:
            continue
        # Longest path from the start of `producer` to the end of each later stage it reaches
        # (stages are in topological order, so one forward pass suffices).
        reach = {producer.name: stage_times[producer.name]}
        for stage in stages[index + 1:]:
            arrivals = [reach[p] + transfer_ns.get((p, stage.name), 0.0) for p in stage.predecessors if p in reach]
            if arrivals:
                reach[stage.name] = max(arrivals) + stage_times[stage.name]
        for consumer in consumers:
            bounds[f"handoff {producer.name}->{consumer}"] = reach[consumer] / HANDOFF_SLOTS
    return bounds


def _buffer_ns(timing: ChipTiming, read_bits: int, write_bits: int) -> float:
    """Buffer time per port for one read and one write (ports serve requests in parallel)."""
    return (timing.buffer_ns(read_bits) + timing.buffer_ns(write_bits)) / timing.buffer_ports


def analyze(workload: PipelineWorkload, timing: ChipTiming, energy_pj_per_action: dict[str, float],
            leakage_mw: float, area_mm2_by_component: dict[str, float], chip_name: str, batch: int = 1,
            waves_per_event: int = DEFAULT_WAVES_PER_EVENT) -> CostReport:
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    stage_times = {s.name: stage_ns(s, timing, waves_per_event) for s in workload.stages}
    finish = pipeline_fill_ns(workload, stage_times, timing)
    fill_ns = max(finish.values(), default=0.0)

    busy = resource_busy_ns(workload, timing, waves_per_event)
    bounds = {f"stage {name}": t for name, t in stage_times.items()}
    bounds.update(busy)
    bounds.update(handoff_bounds_ns(workload, stage_times, timing))
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


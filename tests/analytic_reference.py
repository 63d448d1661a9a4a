"""The analytic engine as it was written out before issue 23's speed work (main at c9c57a7): the
reference the fast engine (pim/analytic.py, pim/marked_graph.py, the energy pricing of
pim/cost_report.py) must match bit for bit. tests/test_analytic_reference.py holds them equal on
random pipelines. Kept for tests only: nothing in recpim imports it."""

from __future__ import annotations

import math
from collections import defaultdict
from operator import attrgetter

import numpy as np

from recpim.pim.cost_report import (
    COMPONENTS,
    LEAKAGE,
    OPTIONAL_COMPONENTS,
    REPROGRAMMING,
    CostReport,
    EnergyBreakdown,
    build_report,
)
from recpim.pim.timing import ChipTiming, vector_waves
from recpim.pim.workload import (
    ACTIVITY_KEYS,
    COMPONENT_OF_ACTIVITY,
    DIGITAL_ORDER,
    ActionEnergies,
    PipelineWorkload,
    Stage,
    StageKind,
)
from recpim.units import ceil_div

HANDOFF_SLOTS = 2
DEFAULT_WAVES_PER_EVENT = 16
EXACT_INFERENCES = 32
LATENCY_PARTS: tuple[str, ...] = ("compute", "buffer", "transfer", "merge", "dram")
_ORDERS = {False: ACTIVITY_KEYS, True: DIGITAL_ORDER}
_action_values = {digital: attrgetter(*order) for digital, order in _ORDERS.items()}
_COMPONENT_PER_ACTION = {digital: tuple(COMPONENT_OF_ACTIVITY[key] for key in order)
                         for digital, order in _ORDERS.items()}


def _parallel_buffer_ns(timing: ChipTiming, bits_by_tile: dict[int, int]) -> float:
    return max((timing.buffer_ns(bits) for bits in bits_by_tile.values()), default=0.0)


def energy_per_inference(workload: PipelineWorkload, energy_pj_per_action: ActionEnergies,
                         leakage_mw: float, elapsed_ns_per_inference: float, batch: int) -> EnergyBreakdown:
    """Price each stage's activity; leakage (mW x ns = pJ) and crossbar rewriting (time-multiplexed
    mappings, once per batch) are their own component and layer entries. The total is the sum of
    the component entries; the layer entries hold the same terms."""
    by_component = dict.fromkeys(COMPONENTS + OPTIONAL_COMPONENTS, 0.0)
    by_layer: dict[str, float] = {}
    priced = {digital: tuple(zip(_COMPONENT_PER_ACTION[digital], _action_values[digital](energy_pj_per_action),
                                 strict=True)) for digital in _ORDERS}
    for stage in workload.stages:
        layer_pj = 0.0
        digital = stage.kind == StageKind.DIGITAL
        for count, (component, action_pj) in zip(_action_values[digital](stage.activity), priced[digital],
                                                 strict=True):
            if count:   # most actions of a stage never happen; adding their 0.0 changes no bit of a sum
                pj = count * action_pj
                by_component[component] += pj
                layer_pj += pj
        by_layer[stage.name] = layer_pj
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


def stage_cost(stage: Stage, timing: ChipTiming, waves_per_event: int = DEFAULT_WAVES_PER_EVENT,
               ) -> tuple[float, dict[str, float], dict[str, float]]:
    """A stage's time per inference, the busy time it adds to each shared resource (named as the
    simulator names them), and its time split by LATENCY_PARTS (the parts on its critical path:
    where stations overlap, the chain of work that finished last)."""
    busy: dict[str, float] = defaultdict(float)
    writes = {b.tile: b.write_bits for b in stage.buffers if b.write_bits}
    for tile, bits in writes.items():
        busy[f"tile{tile}.buffer"] += timing.buffer_ns(bits)
    write_ns = _parallel_buffer_ns(timing, writes)
    dram_ns = timing.dram_ns(stage.dram_bits, stage.dram_rank_bits)
    if dram_ns:
        busy["dram"] += dram_ns
    if stage.kind == StageKind.MVM:
        # Crossbar events one after another; each event's output path (its PEs' results merged on
        # their tile's adders, links, the home tile's buffer, then its adders) runs beside the next
        # events, a five-station flow shop in FIFO order, or before the next event starts
        # (tile.pipelining serial). (The work of each event is mvm_events', written out here: this
        # runs once per stage per sweep point.) Each station's finish time carries its critical
        # path's parts (compute, buffer, transfer, merge, dram), taken from the station it waited for.
        computed = accumulated = linked = buffered = added = dram_ns + write_ns
        path = (0.0, write_ns, 0.0, 0.0, dram_ns)
        computed_path = accumulated_path = linked_path = buffered_path = added_path = path
        tile_adders = f"tile{stage.tile_adds_tile}.adders"
        psum_buffer = f"tile{stage.psum_buffer_tile}.buffer"
        serial = timing.serial_output_path
        buffer_ns, transfer_ns = timing.buffer_ns, timing.transfer_ns
        readers = [(f"tile{b.tile}.buffer", b.read_bits) for b in stage.buffers if b.read_bits]
        pieces = [(t.num_bytes, t.hops, [f"link{link[0]}-{link[1]}" for link in t.links]) for t in stage.partial_sums]
        adders = f"tile{stage.tile}.adders"
        vectors = stage.vectors
        for waves, n in vector_waves(vectors, stage.replicas, waves_per_event):
            read_ns = 0.0
            for track, bits in readers:
                ns = buffer_ns(-(-bits * n // vectors))
                busy[track] += ns
                if ns > read_ns:
                    read_ns = ns
            mvm_ns = timing.mvm_ns(stage, waves)
            computed += read_ns + mvm_ns
            c, b, t, m, d = computed_path
            computed_path = (c + mvm_ns, b + read_ns, t, m, d)
            tile_adds_ns = 0.0
            if stage.tile_adds:
                tile_adds_ns = timing.adds_ns(-(-stage.tile_adds * n // vectors))
                busy[tile_adders] += tile_adds_ns
            c, b, t, m, d = computed_path if computed >= accumulated else accumulated_path
            accumulated = max(computed, accumulated) + tile_adds_ns
            accumulated_path = (c, b, t, m + tile_adds_ns, d)
            psum_ns = 0.0
            for num_bytes, hops, links in pieces:
                ns = transfer_ns(-(-num_bytes * n // vectors), hops)
                for link in links:
                    busy[link] += ns
                if ns > psum_ns:
                    psum_ns = ns
            c, b, t, m, d = accumulated_path if accumulated >= linked else linked_path
            linked = max(accumulated, linked) + psum_ns
            linked_path = (c, b, t + psum_ns, m, d)
            psum_buffer_ns = 0.0
            if stage.psum_buffer_bits:
                psum_buffer_ns = 2 * buffer_ns(-(-stage.psum_buffer_bits * n // vectors))
                busy[psum_buffer] += psum_buffer_ns
            c, b, t, m, d = linked_path if linked >= buffered else buffered_path
            buffered = max(linked, buffered) + psum_buffer_ns
            buffered_path = (c, b + psum_buffer_ns, t, m, d)
            adds_ns = timing.adds_ns(-(-stage.psum_adds * n // vectors))
            busy[adders] += adds_ns
            c, b, t, m, d = buffered_path if buffered >= added else added_path
            added = max(buffered, added) + adds_ns
            added_path = (c, b, t, m + adds_ns, d)
            if serial:
                computed, computed_path = added, added_path
        finish, path = max((computed, computed_path), (accumulated, accumulated_path), (linked, linked_path),
                           (buffered, buffered_path), (added, added_path), key=lambda station: station[0])
        return finish, dict(busy), dict(zip(LATENCY_PARTS, path, strict=True))
    reads = {b.tile: b.read_bits for b in stage.buffers if b.read_bits}
    for tile, bits in reads.items():
        busy[f"tile{tile}.buffer"] += timing.buffer_ns(bits)
    read_ns = _parallel_buffer_ns(timing, reads)
    if stage.kind == StageKind.DIGITAL:
        # Equal chunks, one per vector unit; the pool's busy time is shared by its units.
        chunk_ns = [timing.digital_ns(ops) for ops in timing.digital_chunks(stage.digital_ops)]
        busy[f"tile{stage.tile}.vector_units"] = sum(chunk_ns) / timing.vector_units
        ops_ns = max(chunk_ns, default=0.0)
        return (dram_ns + write_ns + read_ns + ops_ns, dict(busy),
                {"compute": ops_ns, "buffer": write_ns + read_ns, "transfer": 0.0, "merge": 0.0, "dram": dram_ns})
    # Embedding lookups: DRAM or the ReRAM reserve, then the bags' pooling on the tile's vector units.
    pool_ns = [timing.digital_ns(ops) for ops in timing.digital_chunks(stage.digital_ops)] if stage.digital_ops else []
    if pool_ns:
        busy[f"tile{stage.tile}.vector_units"] += sum(pool_ns) / timing.vector_units
    lookup_ns = timing.reram_lookup_ns(stage.reram_lookup_rows) + max(pool_ns, default=0.0)
    return (write_ns + read_ns + dram_ns + lookup_ns, dict(busy),
            {"compute": lookup_ns, "buffer": write_ns + read_ns, "transfer": 0.0, "merge": 0.0, "dram": dram_ns})


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


def stage_costs(workload: PipelineWorkload, timing: ChipTiming, waves_per_event: int,
                ) -> tuple[dict[str, float], dict[str, float], dict[str, dict[str, float]]]:
    """Every stage's time, the shared resources' busy time per inference, and every stage's time
    split by LATENCY_PARTS."""
    stage_times: dict[str, float] = {}
    parts: dict[str, dict[str, float]] = {}
    busy: dict[str, float] = defaultdict(float)
    for stage in workload.stages:
        stage_times[stage.name], adds, parts[stage.name] = stage_cost(stage, timing, waves_per_event)
        for resource, ns in adds.items():
            busy[resource] += ns
    for transfer in workload.transfers:
        link_ns = timing.transfer_ns(transfer.num_bytes, transfer.hops)
        for link in transfer.links:
            busy[f"link{link[0]}-{link[1]}"] += link_ns
    return stage_times, dict(busy), parts


def handoff_bounds_ns(workload: PipelineWorkload, stage_times: dict[str, float],
                      transfer_ns: dict[tuple[str, str], float]) -> dict[str, float]:
    """Double-buffered handoff: producer P starts inference b only after consumer C has finished
    b - 2, so every path P -> ... -> C, closed by C's two slots, bounds the period by its length
    over 2 (a cycle of a marked graph). Only the longest path from each P to each C matters: one
    forward pass in topological order fills to_stage[v, p] (the longest path p -> v) for all p at
    once (contiguous numpy rows, written in place)."""
    index = {stage.name: i for i, stage in enumerate(workload.stages)}
    size = len(index)
    to_stage = np.full((size, size), -np.inf)
    row = np.empty(size)
    edges = []
    for stage in workload.stages:
        v, name = index[stage.name], stage.name
        if stage.predecessors:
            first, *rest = stage.predecessors
            out = to_stage[v]
            np.add(to_stage[index[first]], transfer_ns.get((first, name), 0.0), out=out)
            for p in rest:
                np.add(to_stage[index[p]], transfer_ns.get((p, name), 0.0), out=row)
                np.maximum(out, row, out=out)
            out += stage_times[name]
            edges += [(p, name) for p in stage.predecessors]
        to_stage[v, v] = stage_times[name]
    return {f"handoff {p}->{c}": float(to_stage[index[c], index[p]]) / HANDOFF_SLOTS for p, c in edges}


MAX_CYCLICITY = 4  # periodic regimes repeating every 1..4 inferences are recognised


def batch_makespan_ns(workload: PipelineWorkload, stage_times: dict[str, float],
                      transfer_ns: dict[tuple[str, str], float], batch: int, period_ns: float) -> float:
    """When the last stage finishes the batch, without contention on shared resources: the
    pipeline as a marked graph, followed inference by inference (max-plus recursion). Inference b
    starts at a stage once its inputs have arrived, the stage has finished b - 1, and every
    consumer has freed a handoff slot by finishing b - 2. Such a recursion becomes periodic: once
    every stage advances by the same amounts over k inferences twice in a row (k <= MAX_CYCLICITY),
    the rest of the batch is extrapolated exactly; past EXACT_INFERENCES it adds `period_ns` (the
    largest stage or handoff bound) per inference."""
    names = [stage.name for stage in workload.stages]
    index = {name: i for i, name in enumerate(names)}
    consumers: list[list[int]] = [[] for _ in names]
    for i, stage in enumerate(workload.stages):
        for producer in stage.predecessors:
            consumers[index[producer]].append(i)
    # per stage: (its time, its inputs as (producer, transfer delay), its consumers)
    plan = [(stage_times[stage.name], [(index[p], transfer_ns.get((p, stage.name), 0.0)) for p in stage.predecessors],
             consumers[i]) for i, stage in enumerate(workload.stages)]
    history: list[list[float]] = []
    arrays: list[np.ndarray] = []
    for inference in range(min(batch, EXACT_INFERENCES)):
        done = [0.0] * len(names)
        before = history[-1] if history else None
        freed = history[-HANDOFF_SLOTS] if len(history) >= HANDOFF_SLOTS else None
        for i, (time_ns, inputs, after) in enumerate(plan):
            start = 0.0
            for p, delay in inputs:
                arrival = done[p] + delay
                if arrival > start:
                    start = arrival
            if before is not None:
                if before[i] > start:
                    start = before[i]
                if freed is not None:
                    for c in after:
                        if freed[c] > start:
                            start = freed[c]
            done[i] = start + time_ns
        history.append(done)
        arrays.append(np.asarray(done))
        periodic = _periodic_advance(arrays)
        if periodic is not None and inference < batch - 1:
            cycle, advance = periodic
            rounds = ceil_div(batch - 1 - inference, cycle)   # whole cycles to reach or pass the last inference
            return float(np.max(arrays[batch - 1 - rounds * cycle] + rounds * advance))
    return max(history[-1], default=0.0) + (batch - len(history)) * period_ns


def _periodic_advance(history: list[np.ndarray]) -> tuple[int, np.ndarray] | None:
    """(k, advance per k inferences) when the last two k-inference advances agree for every stage
    (to 1e-9 relative and absolute, np.allclose's test written out: it is called once per inference)."""
    latest = len(history) - 1
    for cycle in range(1, MAX_CYCLICITY + 1):
        if latest - 1 - cycle < 0:
            break
        now = history[latest] - history[latest - cycle]
        then = history[latest - 1] - history[latest - 1 - cycle]
        if (np.abs(now - then) <= 1e-9 + 1e-9 * np.abs(then)).all():
            return cycle, now
    return None


def analyze(workload: PipelineWorkload, timing: ChipTiming, energy_pj_per_action: ActionEnergies,
            leakage_mw: float, area_mm2_by_component: dict[str, float], chip_name: str, batch: int = 1,
            waves_per_event: int = DEFAULT_WAVES_PER_EVENT, area_mm2_of_tiles_used: float | None = None) -> CostReport:
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    stage_times, busy, parts = stage_costs(workload, timing, waves_per_event)
    transfer_ns = transfer_times_ns(workload, timing)
    finish = pipeline_fill_ns(workload, stage_times, transfer_ns)
    fill_ns = max(finish.values(), default=0.0)

    bounds = {f"stage {name}": t for name, t in stage_times.items()}
    bounds.update(handoff_bounds_ns(workload, stage_times, transfer_ns))
    pipeline_period_ns = max(bounds.values(), default=0.0)
    bounds.update(busy)
    limiter, _ = max(bounds.items(), key=lambda item: item[1])
    resource_period_ns = max(busy.values(), default=0.0)
    batch_ns = max(batch_makespan_ns(workload, stage_times, transfer_ns, batch, pipeline_period_ns),
                   fill_ns + (batch - 1) * resource_period_ns) + workload.reprogram_ns_per_batch

    energy = energy_per_inference(workload, energy_pj_per_action, leakage_mw, batch_ns / batch, batch)
    bottleneck_layer = max(stage_times, key=stage_times.get)
    utilization = {name: min(1.0, busy_ns * batch / batch_ns) for name, busy_ns in busy.items()}
    for name, t in stage_times.items():
        utilization[f"stage {name}"] = min(1.0, t * batch / batch_ns)
    return build_report(
        notes=list(workload.notes), engine="analytic", workload=workload, chip_name=chip_name, batch=batch,
        latency_ns_per_inference=fill_ns, latency_ns_per_batch=batch_ns, energy=energy,
        area_mm2_by_component=area_mm2_by_component, stage_ns_by_layer=stage_times,
        utilization=utilization, bottleneck_layer=bottleneck_layer, bottleneck_resource=limiter,
        area_mm2_of_tiles_used=area_mm2_of_tiles_used, stage_ns_by_layer_part=parts,
    )


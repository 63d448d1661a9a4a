"""The analytic cost model: per-stage times from the same counts and durations the simulator
uses, combined as an inter-layer pipeline.

- fill (latency of one inference): the longest path through the stage DAG (stage times plus
  inter-tile transfer times);
- batch latency: the larger of (a) the pipeline followed inference by inference as a marked graph
  (each stage serves one inference at a time; a producer may be at most two inferences ahead of
  each consumer, double-buffered handoff), exact for a pipeline without shared resources, and
  (b) fill + (batch - 1) x the busiest shared resource per inference (each mesh link, the DRAM
  channel, each tile's buffer and adders and vector units).
(b) assumes perfect interleaving on shared resources; the simulator shows the queueing on top.
The bottleneck reported is the largest per-inference bound: a stage, a handoff cycle (the time
from P's start to C's end over 2 for an edge P -> C) or a resource.

The marked-graph parts (fill, handoff paths, the batch recursion) live in pim/marked_graph.py.
Every figure is the float the written-out engine gave (tests/analytic_reference.py,
tests/test_analytic_reference.py): faster forms here only drop work, never reorder a sum.
"""

from __future__ import annotations

from dataclasses import dataclass

from recpim.pim.cost_report import CostReport, build_report, energy_per_inference
from recpim.pim.marked_graph import HANDOFF_SLOTS, StageGraph
from recpim.pim.timing import ChipTiming, vector_waves
from recpim.pim.workload import ActionEnergies, PipelineWorkload, Stage, StageKind, TileBuffer, Transfer
from recpim.units import ceil_div

DEFAULT_WAVES_PER_EVENT = 16


@dataclass(frozen=True)
class MvmEvent:
    """One simulator event of an MVM stage: a group of waves over `vectors` vectors."""

    vectors: int
    read_bits_by_tile: dict[int, int]
    crossbar_ns: float
    partial_sums: tuple[tuple[Transfer, int], ...]   # (transfer, bytes of this event)
    psum_adds: int
    psum_buffer_ns: float = 0.0   # partial sums written to the busiest receiving tile's buffer and read back
    tile_adds: int = 0            # its PEs' results merged on the busiest tile's adders before they leave


# What a stage's time per inference is spent on (`stage_cost`'s parts; they sum to its time):
# compute - crossbar read steps, vector-unit ops, embedding reads and pooling;
# buffer - the tile buffers: input writes and reads, partial sums written and read back;
# transfer - partial sums hopping over the mesh to their home tile;
# merge - tile adders: PE results merged where they were computed, partial sums added at home;
# dram - off-chip reads and their spills.
LATENCY_PARTS: tuple[str, ...] = ("compute", "buffer", "transfer", "merge", "dram")


def stage_ns(stage: Stage, timing: ChipTiming, waves_per_event: int = DEFAULT_WAVES_PER_EVENT) -> float:
    """Time one inference occupies a stage when nothing else competes for its resources."""
    return stage_cost(stage, timing, waves_per_event)[0]


def mvm_events(stage: Stage, timing: ChipTiming, waves_per_event: int) -> list[MvmEvent]:
    """A stage's groups of waves with the work of each: the buffer reads on each tile, the crossbar
    time, and its output path (partial sums to the home tile, then their additions there). Both
    engines time exactly these."""
    events = []
    for waves, n in vector_waves(stage.vectors, stage.replicas, waves_per_event):
        reads = {b.tile: timing.wave_read_bits(b, stage, n) for b in stage.buffers if b.read_bits}
        psums = tuple((t, ceil_div(t.num_bytes * n, stage.vectors)) for t in stage.partial_sums)
        events.append(MvmEvent(n, reads, timing.mvm_ns(stage, waves), psums,
                               ceil_div(stage.psum_adds * n, stage.vectors),
                               2 * timing.buffer_ns(ceil_div(stage.psum_buffer_bits * n, stage.vectors)),
                               ceil_div(stage.tile_adds * n, stage.vectors)))
    return events


def stage_cost(stage: Stage, timing: ChipTiming, waves_per_event: int = DEFAULT_WAVES_PER_EVENT,
               ) -> tuple[float, dict[str, float], dict[str, float]]:
    """A stage's time per inference, the busy time it adds to each shared resource (named as the
    simulator names them), and its time split by LATENCY_PARTS (the parts on its critical path:
    where stations overlap, the chain of work that finished last)."""
    # Runs once per stage per evaluation: plain dicts and explicit comparisons (max(), defaultdict and
    # dict(zip()) cost more than the arithmetic). Every float is formed by the same operations, in the
    # same order, as in the written-out form (tests/analytic_reference.py), so every bit is the same.
    busy: dict[str, float] = {}
    buffers = stage.buffers
    # tiles' buffers work at once: the slowest one sets the time
    write_ns = _buffer_ns(busy, timing, buffers, "write_bits") if buffers else 0.0
    dram_ns = timing.dram_ns(stage.dram_bits, stage.dram_rank_bits)
    if dram_ns:
        busy["dram"] = busy.get("dram", 0.0) + dram_ns
    if stage.kind == StageKind.MVM:
        return _mvm_stage_cost(stage, timing, waves_per_event, busy, write_ns, dram_ns)
    read_ns = _buffer_ns(busy, timing, buffers, "read_bits") if buffers else 0.0
    # Digital ops and the bags' pooling: equal chunks, one per vector unit; the pool's busy time is
    # shared by its units.
    pool_ns, ops_ns = timing.digital_pool_ns(stage.digital_ops)
    if stage.kind == StageKind.DIGITAL:
        busy[f"tile{stage.tile}.vector_units"] = pool_ns / timing.vector_units
        return (dram_ns + write_ns + read_ns + ops_ns, busy,
                {"compute": ops_ns, "buffer": write_ns + read_ns, "transfer": 0.0, "merge": 0.0, "dram": dram_ns})
    # Embedding lookups: DRAM or the ReRAM reserve, then the bags' pooling on the tile's vector units.
    if stage.digital_ops:
        key = f"tile{stage.tile}.vector_units"
        busy[key] = busy.get(key, 0.0) + pool_ns / timing.vector_units
    lookup_ns = timing.reram_lookup_ns(stage.reram_lookup_rows) + ops_ns
    return (write_ns + read_ns + dram_ns + lookup_ns, busy,
            {"compute": lookup_ns, "buffer": write_ns + read_ns, "transfer": 0.0, "merge": 0.0, "dram": dram_ns})


def _buffer_ns(busy: dict[str, float], timing: ChipTiming, buffers: tuple[TileBuffer, ...], bits_field: str) -> float:
    """The slowest of the tiles' buffers moving their `bits_field` (the last entry of a tile listed
    twice counts), each tile's time added to its busy time."""
    get = busy.get
    if len(buffers) == 1:
        bits = getattr(buffers[0], bits_field)
        if not bits:
            return 0.0
        key = f"tile{buffers[0].tile}.buffer"
        ns = timing.buffer_ns(bits)
        busy[key] = get(key, 0.0) + ns
        return ns
    times = []
    for tile, bits in {b.tile: getattr(b, bits_field) for b in buffers if getattr(b, bits_field)}.items():
        key = f"tile{tile}.buffer"
        ns = timing.buffer_ns(bits)
        busy[key] = get(key, 0.0) + ns
        times.append(ns)
    return max(times, default=0.0)


def _mvm_stage_cost(stage: Stage, timing: ChipTiming, waves_per_event: int, busy: dict[str, float],
                    write_ns: float, dram_ns: float) -> tuple[float, dict[str, float], dict[str, float]]:
    """stage_cost of an MVM stage, after its input writes and DRAM reads (already in `busy`).

    Crossbar events one after another; each event's output path (its PEs' results merged on their
    tile's adders, links, the home tile's buffer, then its adders) runs beside the next events, a
    five-station flow shop in FIFO order, or before the next event starts (tile.pipelining serial).
    (The work of each event is mvm_events', written out here: this runs once per stage per sweep
    point.) Each station's finish time carries its critical path's parts (compute, buffer,
    transfer, merge, dram), taken from the station it waited for."""
    total_waves = ceil_div(stage.vectors, stage.replicas)
    if 0 < total_waves <= waves_per_event:
        return _one_event_mvm_cost(stage, timing, total_waves, busy, write_ns, dram_ns)
    get = busy.get
    computed = accumulated = linked = buffered = added = dram_ns + write_ns
    path = (0.0, write_ns, 0.0, 0.0, dram_ns)
    computed_path = accumulated_path = linked_path = buffered_path = added_path = path
    serial = timing.serial_output_path
    buffer_ns, transfer_ns, adds_ns_of = timing.buffer_ns, timing.transfer_ns, timing.adds_ns
    readers = [(f"tile{b.tile}.buffer", b.read_bits) for b in stage.buffers if b.read_bits]
    pieces = [(t.num_bytes, t.hops, [f"link{link[0]}-{link[1]}" for link in t.links]) for t in stage.partial_sums]
    tile_adds, psum_buffer_bits, psum_adds = stage.tile_adds, stage.psum_buffer_bits, stage.psum_adds
    tile_adders = f"tile{stage.tile_adds_tile}.adders" if tile_adds else ""
    psum_buffer = f"tile{stage.psum_buffer_tile}.buffer" if psum_buffer_bits else ""
    adders = f"tile{stage.tile}.adders"
    vectors = stage.vectors
    # timing.mvm_ns(stage, waves), its read step taken once
    steps, row_groups, read_step_ns = stage.steps_per_vector, stage.row_groups, timing.read_step_ns(stage)
    for waves, n in vector_waves(vectors, stage.replicas, waves_per_event):
        read_ns = 0.0
        for track, bits in readers:
            ns = buffer_ns(-(-bits * n // vectors))
            busy[track] = get(track, 0.0) + ns
            if ns > read_ns:
                read_ns = ns
        mvm_ns = waves * steps * row_groups * read_step_ns
        computed += read_ns + mvm_ns
        c, b, t, m, d = computed_path
        computed_path = (c + mvm_ns, b + read_ns, t, m, d)
        tile_adds_ns = 0.0
        if tile_adds:
            tile_adds_ns = adds_ns_of(-(-tile_adds * n // vectors))
            busy[tile_adders] = get(tile_adders, 0.0) + tile_adds_ns
        if computed >= accumulated:
            c, b, t, m, d = computed_path
            accumulated = computed + tile_adds_ns
        else:
            c, b, t, m, d = accumulated_path
            accumulated = accumulated + tile_adds_ns
        accumulated_path = (c, b, t, m + tile_adds_ns, d)
        psum_ns = 0.0
        for num_bytes, hops, links in pieces:
            ns = transfer_ns(-(-num_bytes * n // vectors), hops)
            for link in links:
                busy[link] = get(link, 0.0) + ns
            if ns > psum_ns:
                psum_ns = ns
        if accumulated >= linked:
            c, b, t, m, d = accumulated_path
            linked = accumulated + psum_ns
        else:
            c, b, t, m, d = linked_path
            linked = linked + psum_ns
        linked_path = (c, b, t + psum_ns, m, d)
        psum_buffer_ns = 0.0
        if psum_buffer_bits:
            psum_buffer_ns = 2 * buffer_ns(-(-psum_buffer_bits * n // vectors))
            busy[psum_buffer] = get(psum_buffer, 0.0) + psum_buffer_ns
        if linked >= buffered:
            c, b, t, m, d = linked_path
            buffered = linked + psum_buffer_ns
        else:
            c, b, t, m, d = buffered_path
            buffered = buffered + psum_buffer_ns
        buffered_path = (c, b + psum_buffer_ns, t, m, d)
        adds_ns = adds_ns_of(-(-psum_adds * n // vectors))
        busy[adders] = get(adders, 0.0) + adds_ns
        if buffered >= added:
            c, b, t, m, d = buffered_path
            added = buffered + adds_ns
        else:
            c, b, t, m, d = added_path
            added = added + adds_ns
        added_path = (c, b, t, m + adds_ns, d)
        if serial:
            computed, computed_path = added, added_path
    # the station that finished last (the first of equals, in flow order) and its critical path
    finish, path = computed, computed_path
    if accumulated > finish:
        finish, path = accumulated, accumulated_path
    if linked > finish:
        finish, path = linked, linked_path
    if buffered > finish:
        finish, path = buffered, buffered_path
    if added > finish:
        finish, path = added, added_path
    c, b, t, m, d = path
    return finish, busy, {"compute": c, "buffer": b, "transfer": t, "merge": m, "dram": d}


def _one_event_mvm_cost(stage: Stage, timing: ChipTiming, waves: int, busy: dict[str, float], write_ns: float,
                        dram_ns: float) -> tuple[float, dict[str, float], dict[str, float]]:
    """_mvm_stage_cost when all the stage's vectors make one event (its shares are the stage's whole
    counts): each station starts as the one before it finishes, for no earlier event holds it, so
    the flow shop is a chain. The same sums as the flow shop's, the same first station of equals."""
    get = busy.get
    buffer_ns = timing.buffer_ns
    read_ns = 0.0
    for b in stage.buffers:
        if b.read_bits:
            key = f"tile{b.tile}.buffer"
            ns = buffer_ns(b.read_bits)
            busy[key] = get(key, 0.0) + ns
            if ns > read_ns:
                read_ns = ns
    mvm_ns = waves * stage.steps_per_vector * stage.row_groups * timing.read_step_ns(stage)
    computed = dram_ns + write_ns + (read_ns + mvm_ns)
    compute, buffer = 0.0 + mvm_ns, write_ns + read_ns
    tile_adds_ns = 0.0
    if stage.tile_adds:
        tile_adds_ns = timing.adds_ns(stage.tile_adds)
        key = f"tile{stage.tile_adds_tile}.adders"
        busy[key] = get(key, 0.0) + tile_adds_ns
    accumulated = computed + tile_adds_ns
    merge = 0.0 + tile_adds_ns
    psum_ns = 0.0
    for t in stage.partial_sums:
        ns = timing.transfer_ns(t.num_bytes, t.hops)
        for link in t.links:
            key = f"link{link[0]}-{link[1]}"
            busy[key] = get(key, 0.0) + ns
        if ns > psum_ns:
            psum_ns = ns
    linked = accumulated + psum_ns
    transfer = 0.0 + psum_ns
    psum_buffer_ns = 0.0
    if stage.psum_buffer_bits:
        psum_buffer_ns = 2 * buffer_ns(stage.psum_buffer_bits)
        key = f"tile{stage.psum_buffer_tile}.buffer"
        busy[key] = get(key, 0.0) + psum_buffer_ns
    buffered = linked + psum_buffer_ns
    adds_ns = timing.adds_ns(stage.psum_adds)
    key = f"tile{stage.tile}.adders"
    busy[key] = get(key, 0.0) + adds_ns
    added = buffered + adds_ns
    if timing.serial_output_path:   # the crossbars' station waits for the output path: it finishes last
        finish, parts = added, (compute, buffer + psum_buffer_ns, transfer, merge + adds_ns, dram_ns)
    else:   # the station that finished last, the first of equals in flow order
        finish, parts = computed, (compute, buffer, 0.0, 0.0, dram_ns)
        if accumulated > finish:
            finish, parts = accumulated, (compute, buffer, 0.0, merge, dram_ns)
        if linked > finish:
            finish, parts = linked, (compute, buffer, transfer, merge, dram_ns)
        if buffered > finish:
            finish, parts = buffered, (compute, buffer + psum_buffer_ns, transfer, merge, dram_ns)
        if added > finish:
            finish, parts = added, (compute, buffer + psum_buffer_ns, transfer, merge + adds_ns, dram_ns)
    c, b, t, m, d = parts
    return finish, busy, {"compute": c, "buffer": b, "transfer": t, "merge": m, "dram": d}


def transfer_times_ns(workload: PipelineWorkload, timing: ChipTiming) -> dict[tuple[str, str], float]:
    return {(t.producer, t.consumer): timing.transfer_ns(t.num_bytes, t.hops) for t in workload.transfers}


def stage_costs(workload: PipelineWorkload, timing: ChipTiming, waves_per_event: int,
                ) -> tuple[dict[str, float], dict[str, float], dict[str, dict[str, float]]]:
    """Every stage's time, the shared resources' busy time per inference, and every stage's time
    split by LATENCY_PARTS."""
    return _costs(workload, timing, waves_per_event)[:3]


def _costs(workload: PipelineWorkload, timing: ChipTiming, waves_per_event: int,
           ) -> tuple[dict[str, float], dict[str, float], dict[str, dict[str, float]], dict[tuple[str, str], float]]:
    """stage_costs and transfer_times_ns, each transfer timed once."""
    stage_times: dict[str, float] = {}
    parts: dict[str, dict[str, float]] = {}
    busy: dict[str, float] = {}
    get = busy.get
    for stage in workload.stages:
        stage_times[stage.name], adds, parts[stage.name] = stage_cost(stage, timing, waves_per_event)
        for resource, ns in adds.items():
            busy[resource] = get(resource, 0.0) + ns
    transfer_ns: dict[tuple[str, str], float] = {}
    for transfer in workload.transfers:
        links = getattr(transfer.links, "links", transfer.links)   # an XYRoute's links as its cached tuple
        hops = len(links)
        link_ns = transfer_ns[(transfer.producer, transfer.consumer)] = timing.transfer_ns(transfer.num_bytes, hops)
        if hops:
            for link in links:
                key = f"link{link[0]}-{link[1]}"
                busy[key] = get(key, 0.0) + link_ns
    return stage_times, busy, parts, transfer_ns


def handoff_bounds_ns(workload: PipelineWorkload, stage_times: dict[str, float],
                      transfer_ns: dict[tuple[str, str], float]) -> dict[str, float]:
    """Double-buffered handoff: producer P starts inference b only after consumer C has finished
    b - 2, so every path P -> ... -> C, closed by C's two slots, bounds the period by its length
    over 2 (a cycle of a marked graph). Only the longest path from each P to each C matters."""
    graph = StageGraph.build(workload, stage_times, transfer_ns)
    lengths = graph.handoff_lengths_ns().tolist()
    return {graph.edge_name(e): length / HANDOFF_SLOTS for e, length in enumerate(lengths)}


def batch_makespan_ns(workload: PipelineWorkload, stage_times: dict[str, float],
                      transfer_ns: dict[tuple[str, str], float], batch: int, period_ns: float) -> float:
    """When the last stage finishes the batch, without contention on shared resources (the
    marked-graph recursion, pim/marked_graph.py StageGraph.batch_ns)."""
    return StageGraph.build(workload, stage_times, transfer_ns).batch_ns(batch, period_ns)[1]


def analyze(workload: PipelineWorkload, timing: ChipTiming, energy_pj_per_action: ActionEnergies,
            leakage_mw: float, area_mm2_by_component: dict[str, float], chip_name: str, batch: int = 1,
            waves_per_event: int = DEFAULT_WAVES_PER_EVENT, area_mm2_of_tiles_used: float | None = None) -> CostReport:
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    stage_times, busy, parts, transfer_ns = _costs(workload, timing, waves_per_event)
    graph = StageGraph.build(workload, stage_times, transfer_ns)
    # The bound on the time per inference (the largest; the first of equals in the order stages,
    # handoff cycles, shared resources) names the limiter; a handoff bound is the length of its
    # path over its slots.
    bottleneck_layer = max(stage_times, key=stage_times.get)
    limiter, bound_ns = f"stage {bottleneck_layer}", stage_times[bottleneck_layer]
    lengths = graph.handoff_lengths_ns()
    if len(lengths):
        edge = int(lengths.argmax())
        handoff_ns = float(lengths[edge]) / HANDOFF_SLOTS
        if handoff_ns > bound_ns:
            limiter, bound_ns = graph.edge_name(edge), handoff_ns
    pipeline_period_ns = bound_ns
    resource_period_ns = 0.0
    if busy:
        resource = max(busy, key=busy.get)
        resource_period_ns = busy[resource]
        if resource_period_ns > bound_ns:
            limiter = resource
    fill_ns, makespan_ns = graph.batch_ns(batch, pipeline_period_ns)
    batch_ns = max(makespan_ns, fill_ns + (batch - 1) * resource_period_ns) + workload.reprogram_ns_per_batch

    energy = energy_per_inference(workload, energy_pj_per_action, leakage_mw, batch_ns / batch, batch)
    utilization: dict[str, float] = {}   # busy fraction, at most 1 (min(1.0, u) written out: the first of equals)
    for name, busy_ns in busy.items():
        fraction = busy_ns * batch / batch_ns
        utilization[name] = fraction if fraction < 1.0 else 1.0
    for name, t in stage_times.items():
        fraction = t * batch / batch_ns
        utilization[f"stage {name}"] = fraction if fraction < 1.0 else 1.0
    return build_report(
        notes=list(workload.notes), engine="analytic", workload=workload, chip_name=chip_name, batch=batch,
        latency_ns_per_inference=fill_ns, latency_ns_per_batch=batch_ns, energy=energy,
        area_mm2_by_component=area_mm2_by_component, stage_ns_by_layer=stage_times,
        utilization=utilization, bottleneck_layer=bottleneck_layer, bottleneck_resource=limiter,
        area_mm2_of_tiles_used=area_mm2_of_tiles_used, stage_ns_by_layer_part=parts,
    )


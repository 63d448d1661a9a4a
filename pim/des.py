"""The SimPy discrete-event simulator.

A batch of inferences flows through the stages as an ISAAC-style inter-layer pipeline. Shared
hardware is a SimPy resource and contention emerges from requests:
- the crossbars of an MVM stage (all its copies, with their ADCs, DACs, S+H and shift-and-add) are
  a resource of capacity 1; the copies take one input vector each in lockstep waves, and one event
  is a group of at most `waves_per_event` waves, each wave bit-serial over its DAC steps, held for
  the time the component models give;
- each tile's buffer (capacity 1: one stage's access uses all its ports), each tile's adders
  (capacity 1) and each tile's vector units (capacity = count);
- every directed mesh link (capacity 1): an inter-tile transfer holds all links of its path;
- the off-chip DRAM channel (capacity 1) for embedding lookups.
Handoff between stages is double-buffered: a producer takes one of two slots on each outgoing
edge before it starts an inference, and the consumer frees it when it has finished with it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import simpy

from recpim.pim.analytic import DEFAULT_WAVES_PER_EVENT, HANDOFF_SLOTS, mvm_events
from recpim.pim.cost_report import CostReport, build_report, energy_per_inference
from recpim.pim.timing import ChipTiming
from recpim.pim.workload import ActionEnergies, PipelineWorkload, Stage, StageKind


@dataclass
class _Recorder:
    busy_ns: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    wait_ns: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    trace: list[tuple[str, str, float, float]] | None = None  # (track, label, start_ns, duration_ns)


class _Simulation:
    def __init__(self, workload: PipelineWorkload, timing: ChipTiming, batch: int, waves_per_event: int,
                 record_trace: bool):
        self.workload = workload
        self.timing = timing
        self.batch = batch
        self.waves_per_event = waves_per_event
        self.env = simpy.Environment()
        self.rec = _Recorder(trace=[] if record_trace else None)
        env = self.env
        tiles = ({stage.tile for stage in workload.stages} | {b.tile for s in workload.stages for b in s.buffers}
                 | {s.psum_buffer_tile for s in workload.stages})
        self.buffers = {t: simpy.Resource(env, capacity=1) for t in tiles}
        self.adders = {t: simpy.Resource(env, capacity=1) for t in tiles}
        self.vector_units = {t: simpy.Resource(env, capacity=timing.vector_units) for t in tiles}
        self.crossbars = {s.name: simpy.Resource(env, capacity=1) for s in workload.stages if s.kind == StageKind.MVM}
        all_transfers = [*workload.transfers, *(t for s in workload.stages for t in s.partial_sums)]
        self.links = {link: simpy.Resource(env, capacity=1) for t in all_transfers for link in t.links}
        self.dram = simpy.Resource(env, capacity=1)
        self.transfers = {(t.producer, t.consumer): t for t in workload.transfers}
        self.consumers: dict[str, list[str]] = defaultdict(list)
        for stage in workload.stages:
            for producer in stage.predecessors:
                self.consumers[producer].append(stage.name)
        edges = [(p, s.name) for s in workload.stages for p in s.predecessors]
        self.slots = {edge: simpy.Container(env, capacity=HANDOFF_SLOTS, init=HANDOFF_SLOTS) for edge in edges}
        self.ready = {edge: simpy.Store(env) for edge in edges}
        self.start_ns: dict[tuple[int, str], float] = {}
        self.finish_ns: dict[tuple[int, str], float] = {}
        self.macs_done = 0
        self.completed: dict[str, int] = defaultdict(int)

    # ---- one hold of one resource, with waiting, busy time and trace recorded
    def _hold(self, resource: simpy.Resource, track: str, kind: str, duration_ns: float, label: str):
        requested = self.env.now
        with resource.request() as request:
            yield request
            self.rec.wait_ns[kind] += self.env.now - requested
            yield from self._busy(track, duration_ns, label)

    def _busy(self, track: str, duration_ns: float, label: str):
        start = self.env.now
        yield self.env.timeout(duration_ns)
        self.rec.busy_ns[track] += duration_ns
        if self.rec.trace is not None and duration_ns > 0:
            self.rec.trace.append((track, label, start, duration_ns))

    def _buffer(self, tile: int, bits: int, label: str):
        if bits:
            duration_ns = self.timing.buffer_ns(bits)
            yield from self._hold(self.buffers[tile], f"tile{tile}.buffer", "buffer", duration_ns, label)

    def _buffers(self, bits_by_tile: dict[int, int], label: str):
        """Several tiles' buffers at once (each tile reads or writes its own share)."""
        active = [(tile, bits) for tile, bits in bits_by_tile.items() if bits]
        if len(active) == 1:
            yield from self._buffer(*active[0], label)
        elif active:
            yield self.env.all_of([self.env.process(self._buffer(tile, bits, label)) for tile, bits in active])

    # ---- the work of one stage for one inference
    def _mvm_events(self, stage: Stage, inference: int):
        """Waves of vectors on the layer's crossbar copies: each tile reads its rows, the bit-serial
        steps run, and the event's output path (partial sums to the home tile over the mesh, then
        their additions there) proceeds while the next waves compute."""
        env = self.env
        macs_per_vector = stage.macs // stage.vectors
        label = f"{stage.name} #{inference}"
        outputs = []
        for event in mvm_events(stage, self.timing, self.waves_per_event):
            yield from self._buffers(event.read_bits_by_tile, label)
            yield from self._hold(self.crossbars[stage.name], f"{stage.name}.crossbars", "crossbar",
                                  event.crossbar_ns, label)
            self.macs_done += event.vectors * macs_per_vector
            if self.timing.serial_output_path:
                yield from self._output_path(stage, event, label)
            elif event.partial_sums or event.psum_adds or event.psum_buffer_ns:
                outputs.append(env.process(self._output_path(stage, event, label)))
        if outputs:
            yield env.all_of(outputs)

    def _output_path(self, stage: Stage, event, label: str):
        sends = [self.env.process(self._send(transfer, num_bytes, label)) for transfer, num_bytes in event.partial_sums]
        if sends:
            yield self.env.all_of(sends)
        if event.psum_buffer_ns:
            tile = stage.psum_buffer_tile
            yield from self._hold(self.buffers[tile], f"tile{tile}.buffer", "buffer", event.psum_buffer_ns, label)
        if event.psum_adds:
            yield from self._hold(self.adders[stage.tile], f"tile{stage.tile}.adders", "adders",
                                  self.timing.adds_ns(event.psum_adds), label)

    def _digital_chunk(self, stage: Stage, ops: int, inference: int):
        yield from self._hold(self.vector_units[stage.tile], f"tile{stage.tile}.vector_units", "vector_units",
                              self.timing.digital_ns(ops), f"{stage.name} #{inference}")

    def _do_stage(self, stage: Stage, inference: int):
        env, label = self.env, f"{stage.name} #{inference}"
        if stage.dram_bits and stage.kind != StageKind.EMBEDDING:   # inputs spilled from a full buffer
            yield from self._hold(self.dram, "dram", "dram", self.timing.dram_ns(stage.dram_bits), label)
        yield from self._buffers({b.tile: b.write_bits for b in stage.buffers}, label)
        if stage.kind == StageKind.MVM:
            yield from self._mvm_events(stage, inference)
            return
        yield from self._buffers({b.tile: b.read_bits for b in stage.buffers}, label)
        if stage.kind == StageKind.DIGITAL:
            chunks = self.timing.digital_chunks(stage.digital_ops)
            yield env.all_of([env.process(self._digital_chunk(stage, ops, inference)) for ops in chunks])
            self.macs_done += stage.macs
        else:
            if stage.dram_bits or stage.dram_rank_bits:
                yield from self._hold(self.dram, "dram", "dram",
                                      self.timing.dram_ns(stage.dram_bits, stage.dram_rank_bits), label)
            if stage.reram_lookup_rows:
                read_ns = self.timing.reram_lookup_ns(stage.reram_lookup_rows)
                yield from self._busy(f"{stage.name}.reram", read_ns, label)
            if stage.digital_ops:   # the bags' pooling on the tile's vector units
                chunks = self.timing.digital_chunks(stage.digital_ops)
                yield env.all_of([env.process(self._digital_chunk(stage, ops, inference)) for ops in chunks])

    def _send(self, transfer, num_bytes: int, label: str):
        """Hold every link of the transfer's path (taken in a global order: no deadlock) while
        `num_bytes` cross it."""
        if not transfer.hops:
            return
        requested = self.env.now
        requests = []
        for link in sorted(transfer.links):
            request = self.links[link].request()
            requests.append((link, request))
            yield request
        self.rec.wait_ns["link"] += self.env.now - requested
        duration = self.timing.transfer_ns(num_bytes, transfer.hops)
        start = self.env.now
        yield self.env.timeout(duration)
        for link, request in requests:
            self.links[link].release(request)
            self.rec.busy_ns[f"link{link[0]}-{link[1]}"] += duration
            if self.rec.trace is not None:
                self.rec.trace.append((f"link{link[0]}-{link[1]}", label, start, duration))

    def _deliver(self, transfer, inference: int):
        """An inter-tile transfer, then the consumer is told the data is there."""
        producer, consumer = transfer.producer, transfer.consumer
        yield from self._send(transfer, transfer.num_bytes, f"{producer}->{consumer} #{inference}")
        self.ready[(producer, consumer)].put(inference)  # unbounded store: never waits

    def _stage_process(self, stage: Stage):
        env = self.env
        for inference in range(self.batch):
            waited = env.now
            for producer in stage.predecessors:
                yield self.ready[(producer, stage.name)].get()
            for consumer in self.consumers[stage.name]:
                yield self.slots[(stage.name, consumer)].get(1)
            self.rec.wait_ns["handoff"] += env.now - waited
            self.start_ns[(inference, stage.name)] = env.now
            yield from self._do_stage(stage, inference)
            self.finish_ns[(inference, stage.name)] = env.now
            self.completed[stage.name] += 1
            # Freeing a slot and signalling an on-tile consumer never wait: no need to yield them.
            for producer in stage.predecessors:
                self.slots[(producer, stage.name)].put(1)
            for consumer in self.consumers[stage.name]:
                transfer = self.transfers.get((stage.name, consumer))
                if transfer is not None and transfer.hops:
                    env.process(self._deliver(transfer, inference))
                else:
                    self.ready[(stage.name, consumer)].put(inference)

    def run(self) -> None:
        # Time-multiplexed mappings first write the crossbars (modelled as one up-front pause).
        if self.workload.reprogram_ns_per_batch:
            self.env.run(until=self.workload.reprogram_ns_per_batch)
        for stage in self.workload.stages:
            self.env.process(self._stage_process(stage))
        self.env.run()
        unfinished = [s.name for s in self.workload.stages if self.completed[s.name] != self.batch]
        if unfinished:
            raise RuntimeError(f"simulation stalled: stages {unfinished} did not finish the batch")


def simulate(workload: PipelineWorkload, timing: ChipTiming, energy_pj_per_action: ActionEnergies,
             leakage_mw: float, area_mm2_by_component: dict[str, float], chip_name: str, batch: int = 1,
             waves_per_event: int = DEFAULT_WAVES_PER_EVENT, record_trace: bool = False,
             area_mm2_of_tiles_used: float | None = None,
             ) -> tuple[CostReport, list[tuple[str, str, float, float]] | None]:
    """Run the batch through the pipeline; returns the report and (optionally) the timeline."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    sim = _Simulation(workload, timing, batch, waves_per_event, record_trace)
    sim.run()
    batch_ns = sim.env.now
    first = [name for (i, name) in sim.start_ns if i == 0]
    latency_ns = (max(sim.finish_ns[(0, name)] for name in first)
                  - min(sim.start_ns[(0, name)] for name in first))
    stage_ns = {s.name: _stage_busy_ns(sim, s) / batch for s in workload.stages}
    energy = energy_per_inference(workload, energy_pj_per_action, leakage_mw, batch_ns / batch, batch)
    utilization = {track: min(1.0, busy / batch_ns) for track, busy in sim.rec.busy_ns.items()} if batch_ns else {}
    bottleneck_resource = max(utilization, key=utilization.get, default="")
    queueing = {k: v for k, v in sim.rec.wait_ns.items() if v > 0}
    notes = list(workload.notes)
    physical = {k: v for k, v in queueing.items() if k != "handoff"}
    if physical:
        worst = max(physical, key=physical.get)
        notes.append(f"most queueing on {worst} resources: {physical[worst]:.1f} ns in total")
    report = build_report(
        engine="des", workload=workload, chip_name=chip_name, batch=batch,
        latency_ns_per_inference=latency_ns, latency_ns_per_batch=batch_ns, energy=energy,
        area_mm2_by_component=area_mm2_by_component, stage_ns_by_layer=stage_ns, utilization=utilization,
        bottleneck_layer=max(stage_ns, key=stage_ns.get), bottleneck_resource=bottleneck_resource,
        wait_ns_by_resource=queueing, notes=notes, macs_per_inference=sim.macs_done // batch,
        area_mm2_of_tiles_used=area_mm2_of_tiles_used,
    )
    return report, sim.rec.trace


def _stage_busy_ns(sim: _Simulation, stage: Stage) -> float:
    return sum(sim.finish_ns[(i, stage.name)] - sim.start_ns[(i, stage.name)] for i in range(sim.batch))

"""The SimPy discrete-event simulator.

A batch of inferences flows through the stages as an ISAAC-style inter-layer pipeline. Shared
hardware is a first-come-first-served unit pool and contention emerges from requests:
- the crossbars of an MVM stage (all its copies, with their ADCs, DACs, S+H and shift-and-add) are
  one unit; the copies take one input vector each in lockstep waves, and one event is a group of
  at most `waves_per_event` waves, each wave bit-serial over its DAC steps, held for the time the
  component models give;
- each tile's buffer (one unit: one stage's access uses all its ports), each tile's adders (one
  unit) and each tile's vector units (as many units as it has);
- every directed mesh link (one unit): an inter-tile transfer holds all links of its path;
- the off-chip DRAM channel (one unit) for embedding lookups.
Handoff between stages is double-buffered: a producer takes one of two slots on each outgoing
edge before it starts an inference, and the consumer frees it when it has finished with it.

Why the lean form times exactly the same pipeline as the SimPy-process form before it (issue 23;
that form ran one SimPy process per hold and per partial-sum piece, and a SimPy Resource per unit,
about 5x the queue steps of the code before the fidelity work):
- A unit pool is served first come, first served, as a SimPy Resource, Container or Store is.
- Holds that run side by side (a transfer's links, the chunks of a digital stage, the pieces of
  an event's output path) are driven by callbacks on their timeouts instead of a process each:
  nothing happens between them that a process would have to do.
- Events are merged only where they cannot contend: a stage's crossbars serve that stage's own
  events one after another, and a tile buffer that one stage alone uses (and not as the target of
  overlapped partial-sum traffic) is only ever accessed by that stage's sequential steps. Such
  holds take no unit: a queue turn (where the request was granted), then a plain timeout.
- The order in which requests made at the same simulated instant are served is kept, because a
  contended latency depends on it (serving them at once instead moved DES latencies by up to 50 %
  on contended subnets): every place where SimPy spent a queue turn keeps one, as a bare scheduled
  call (`_soon`: a request granted, a released unit handed over, a process or all_of ending) or an
  urgent one (`_urgent`: a process starting). What goes is the process machinery around them.
  `recpim simulate --engine des --json` is byte-identical to the form before on the zoo and the
  example subnets on every preset.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import simpy

from recpim.pim.analytic import DEFAULT_WAVES_PER_EVENT, HANDOFF_SLOTS, mvm_events, stage_cost
from recpim.pim.cost_report import WAITING, CostReport, build_report, energy_per_inference
from recpim.pim.des_units import ScheduledCall, Units
from recpim.pim.timing import ChipTiming
from recpim.pim.workload import ActionEnergies, PipelineWorkload, Stage, StageKind, Transfer

Done = Callable[[], None]


@dataclass
class _Recorder:
    busy_ns: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    wait_ns: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    trace: list[tuple[str, str, float, float]] | None = None  # (track, label, start_ns, duration_ns)


@dataclass(frozen=True)
class _Event:
    """One MVM event with its durations worked out once per stage (the same for every inference)."""

    vectors: int
    reads: tuple[tuple[int, float], ...]              # (tile, buffer ns) of the tiles it reads
    crossbar_ns: float
    sends: tuple[tuple[Transfer, float], ...]         # (transfer, ns) of its partial sums
    psum_buffer_ns: float
    adds_ns: float
    tile_adds_ns: float = 0.0                         # its PEs' results merged on their tile's adders

    @property
    def has_output(self) -> bool:
        return bool(self.tile_adds_ns or self.sends or self.psum_buffer_ns or self.adds_ns)


class _Simulation:
    def __init__(self, workload: PipelineWorkload, timing: ChipTiming, batch: int, waves_per_event: int,
                 record_trace: bool):
        self.workload = workload
        self.timing = timing
        self.batch = batch
        self.waves_per_event = waves_per_event
        self.env = simpy.Environment()
        self.rec = _Recorder(trace=[] if record_trace else None)
        tiles = ({stage.tile for stage in workload.stages} | {b.tile for s in workload.stages for b in s.buffers}
                 | {s.psum_buffer_tile for s in workload.stages} | {s.tile_adds_tile for s in workload.stages})
        self.buffers = {t: Units(1, self._soon) for t in tiles}
        self.adders = {t: Units(1, self._soon) for t in tiles}
        self.vector_units = {t: Units(timing.vector_units, self._soon) for t in tiles}
        all_transfers = [*workload.transfers, *(t for s in workload.stages for t in s.partial_sums)]
        self.links = {link: Units(1, self._soon) for t in all_transfers for link in t.links}
        # each transfer's links in the global order they are taken in, with their track names
        self.paths = {id(t): [(self.links[link], f"link{link[0]}-{link[1]}") for link in sorted(t.links)]
                      for t in all_transfers}
        self.dram = Units(1, self._soon)
        # A tile buffer that one stage alone uses is accessed only by that stage's steps, one after
        # another: never contended, timed without taking the unit. Partial sums written to a buffer
        # beside the next events' compute (tile.pipelining overlapped) may overlap those steps.
        users: dict[int, set[str]] = defaultdict(set)
        overlapped_psums: set[int] = set()
        for s in workload.stages:
            for b in s.buffers:
                users[b.tile].add(s.name)
            if s.psum_buffer_bits:
                users[s.psum_buffer_tile].add(s.name)
                if not timing.serial_output_path:
                    overlapped_psums.add(s.psum_buffer_tile)
        self.private_buffers = {tile for tile, names in users.items()
                                if len(names) == 1 and tile not in overlapped_psums}
        self.transfers = {(t.producer, t.consumer): t for t in workload.transfers}
        self.consumers: dict[str, list[str]] = defaultdict(list)
        for stage in workload.stages:
            for producer in stage.predecessors:
                self.consumers[producer].append(stage.name)
        edges = [(p, s.name) for s in workload.stages for p in s.predecessors]
        self.slots = {edge: Units(HANDOFF_SLOTS, self._soon) for edge in edges}   # free handoff slots
        self.ready = {edge: Units(0, self._soon) for edge in edges}   # delivered, not yet taken
        self.start_ns: dict[tuple[int, str], float] = {}
        self.finish_ns: dict[tuple[int, str], float] = {}
        self.macs_done = 0
        self.completed: dict[str, int] = defaultdict(int)

    # ---- waiting for units, holding them, recording busy time and the trace
    def _take(self, units: Units):
        """Wait (in a process) until one of `units` is ours."""
        event = self.env.event()
        if units.take(event.succeed):
            event.succeed()
        yield event

    def _hold(self, units: Units, track: str, kind: str, duration_ns: float, label: str):
        requested = self.env.now
        yield from self._take(units)
        self.rec.wait_ns[kind] += self.env.now - requested
        yield from self._busy(track, duration_ns, label)
        units.release()

    def _busy(self, track: str, duration_ns: float, label: str):
        start = self.env.now
        yield self.env.timeout(duration_ns)
        self._record(track, start, duration_ns, label)

    def _record(self, track: str, start: float, duration_ns: float, label: str) -> None:
        self.rec.busy_ns[track] += duration_ns
        if self.rec.trace is not None and duration_ns > 0:
            self.rec.trace.append((track, label, start, duration_ns))

    def _soon(self, then: Callable[[], None]) -> None:
        """Call `then` one queue turn from now (where a SimPy request would be granted)."""
        self.env.schedule(ScheduledCall(then))

    def _urgent(self, then: Callable[[], None]) -> None:
        """Call `then` before the other events of this instant (where SimPy would start a process)."""
        self.env.schedule(ScheduledCall(then), simpy.events.URGENT)

    def _turn(self):
        """An event one queue turn from now, for a process to wait on (a granted request)."""
        event = self.env.event()
        event.succeed()
        return event

    def _after(self, duration_ns: float, then: Callable[[], None]) -> None:
        self.env.timeout(duration_ns).callbacks.append(lambda _: then())

    def _wait_all(self, starters: list[Callable[[Done], None]]):
        """Start several holds at once (each told whom to call when done); wait (in a process) for all."""
        done = self.env.event()
        self._start_all(starters, done.succeed)
        if not done.triggered:
            yield done

    def _as_process(self, start: Callable[[Done], None]) -> Callable[[Done], None]:
        """`start` run as SimPy ran a process: begun before this instant's other events, its end
        signalled one queue turn after it finishes."""
        return lambda done: self._urgent(lambda: start(lambda: self._soon(done)))

    @staticmethod
    def _start_all(starters: list[Callable[[Done], None]], done: Done) -> None:
        remaining = [len(starters)]

        def one_done() -> None:
            remaining[0] -= 1
            if not remaining[0]:
                done()

        if not starters:
            done()
        for start in starters:
            start(one_done)

    @staticmethod
    def _start_chain(steps: list[Callable[[Done], None]], done: Done, first: int = 0) -> None:
        """Steps one after another, each started when the previous one is done."""
        if first == len(steps):
            done()
        else:
            steps[first](partial(_Simulation._start_chain, steps, done, first + 1))

    def _start_hold(self, units: Units, track: str, kind: str, duration_ns: float, label: str, done: Done) -> None:
        """A hold driven by callbacks rather than a process (for holds that run side by side)."""
        requested = self.env.now

        def run() -> None:
            now = self.env.now
            self.rec.wait_ns[kind] += now - requested
            self._after(duration_ns, lambda: finish(now))

        def finish(start: float) -> None:
            self._record(track, start, duration_ns, label)
            units.release()
            done()

        if units.take(partial(self._soon, run)):
            self._soon(run)

    def _start_buffer(self, tile: int, duration_ns: float, label: str, done: Done) -> None:
        if tile in self.private_buffers:
            start = self.env.now
            self.rec.wait_ns["buffer"] += 0.0

            def finish() -> None:
                self._record(f"tile{tile}.buffer", start, duration_ns, label)
                done()

            self._soon(partial(self._after, duration_ns, finish))
        else:
            self._start_hold(self.buffers[tile], f"tile{tile}.buffer", "buffer", duration_ns, label, done)

    def _buffers(self, accesses: tuple[tuple[int, float], ...], label: str):
        """Several tiles' buffers at once (each tile reads or writes its own share)."""
        if len(accesses) == 1:
            tile, duration_ns = accesses[0]
            if tile in self.private_buffers:
                self.rec.wait_ns["buffer"] += 0.0
                yield self._turn()
                yield from self._busy(f"tile{tile}.buffer", duration_ns, label)
            else:
                yield from self._hold(self.buffers[tile], f"tile{tile}.buffer", "buffer", duration_ns, label)
        elif accesses:
            yield from self._wait_all([self._as_process(partial(self._start_buffer, tile, ns, label))
                                       for tile, ns in accesses])

    def _buffer_plan(self, bits_by_tile) -> tuple[tuple[int, float], ...]:
        return tuple((tile, self.timing.buffer_ns(bits)) for tile, bits in bits_by_tile if bits)

    # ---- the work of one stage for one inference
    def _events(self, stage: Stage) -> list[_Event]:
        timing = self.timing
        return [_Event(e.vectors, self._buffer_plan(e.read_bits_by_tile.items()), e.crossbar_ns,
                       tuple((t, timing.transfer_ns(num_bytes, t.hops)) for t, num_bytes in e.partial_sums),
                       e.psum_buffer_ns, timing.adds_ns(e.psum_adds), timing.adds_ns(e.tile_adds))
                for e in mvm_events(stage, timing, self.waves_per_event)]

    def _start_output_path(self, stage: Stage, event: _Event, label: str, done: Done) -> None:
        """The event's PE results merged on their tile's adders, its partial sums to the home tile over
        the mesh (all pieces at once), written to the receiving tile's buffer and read back, then
        their additions on the home tile's adders."""
        steps: list[Callable[[Done], None]] = []
        if event.tile_adds_ns:
            tile = stage.tile_adds_tile
            steps.append(partial(self._start_hold, self.adders[tile], f"tile{tile}.adders", "adders",
                                 event.tile_adds_ns, label))
        if event.sends:
            sends = [self._as_process(partial(self._start_send, t, ns, label)) for t, ns in event.sends]
            steps.append(lambda done: self._start_all(sends, partial(self._soon, done)))   # SimPy's all_of: a turn
        if event.psum_buffer_ns:
            steps.append(partial(self._start_buffer, stage.psum_buffer_tile, event.psum_buffer_ns, label))
        if event.adds_ns:
            steps.append(partial(self._start_hold, self.adders[stage.tile], f"tile{stage.tile}.adders", "adders",
                                 event.adds_ns, label))
        self._start_chain(steps, done)

    def _serial_output_path(self, stage: Stage, event: _Event, label: str):
        """The output path of tile.pipelining serial: the stage waits for it before its next event."""
        if event.tile_adds_ns:
            tile = stage.tile_adds_tile
            yield from self._hold(self.adders[tile], f"tile{tile}.adders", "adders", event.tile_adds_ns, label)
        if event.sends:
            yield from self._wait_all([self._as_process(partial(self._start_send, t, ns, label))
                                       for t, ns in event.sends])
        if event.psum_buffer_ns:
            yield from self._buffers(((stage.psum_buffer_tile, event.psum_buffer_ns),), label)
        if event.adds_ns:
            yield from self._hold(self.adders[stage.tile], f"tile{stage.tile}.adders", "adders", event.adds_ns, label)

    def _mvm_events(self, stage: Stage, events: list[_Event], inference: int):
        """Waves of vectors on the layer's crossbar copies: each tile reads its rows, the bit-serial
        steps run, and the event's output path proceeds while the next waves compute (or before
        the next event starts, tile.pipelining serial)."""
        macs_per_vector = stage.macs // stage.vectors
        label = f"{stage.name} #{inference}"
        track = f"{stage.name}.crossbars"
        serial = self.timing.serial_output_path
        outputs = []
        for event in events:
            yield from self._buffers(event.reads, label)
            # a stage's crossbars serve only its own events, one after another: never contended
            self.rec.wait_ns["crossbar"] += 0.0
            yield self._turn()
            yield from self._busy(track, event.crossbar_ns, label)
            self.macs_done += event.vectors * macs_per_vector
            if serial:
                yield from self._serial_output_path(stage, event, label)
            elif event.has_output:   # started now, waited for at the end of the stage
                outputs.append(self._started(self._as_process(partial(self._start_output_path, stage, event, label))))
        if outputs:
            yield from self._wait_all(outputs)

    def _started(self, start: Callable[[Done], None]) -> Callable[[Done], None]:
        """Start `start` now; the returned starter calls its `done` once `start` has finished."""
        state: dict = {"finished": False, "waiter": None}

        def finished() -> None:
            state["finished"] = True
            if state["waiter"] is not None:
                state["waiter"]()

        def wait(done: Done) -> None:
            if state["finished"]:
                done()
            else:
                state["waiter"] = done

        start(finished)
        return wait

    def _digital(self, stage: Stage, chunk_ns: list[float], label: str):
        units, track = self.vector_units[stage.tile], f"tile{stage.tile}.vector_units"
        yield from self._wait_all([self._as_process(partial(self._start_hold, units, track, "vector_units", ns, label))
                                   for ns in chunk_ns])

    def _do_stage(self, stage: Stage, plan: dict, inference: int):
        label = f"{stage.name} #{inference}"
        if stage.dram_bits and stage.kind != StageKind.EMBEDDING:   # inputs spilled from a full buffer
            yield from self._hold(self.dram, "dram", "dram", plan["spill_ns"], label)
        yield from self._buffers(plan["writes"], label)
        if stage.kind == StageKind.MVM:
            yield from self._mvm_events(stage, plan["events"], inference)
            return
        yield from self._buffers(plan["reads"], label)
        if stage.kind == StageKind.DIGITAL:
            yield from self._digital(stage, plan["chunks_ns"], label)
            self.macs_done += stage.macs
        else:
            if stage.dram_bits or stage.dram_rank_bits:
                yield from self._hold(self.dram, "dram", "dram", plan["lookup_ns"], label)
            if stage.reram_lookup_rows:
                yield from self._busy(f"{stage.name}.reram", plan["reram_ns"], label)
            if stage.digital_ops:   # the bags' pooling on the tile's vector units
                yield from self._digital(stage, plan["chunks_ns"], label)

    def _plan(self, stage: Stage) -> dict:
        """Everything about a stage's work that is the same for every inference."""
        timing = self.timing
        plan = {"writes": self._buffer_plan((b.tile, b.write_bits) for b in stage.buffers),
                "reads": self._buffer_plan((b.tile, b.read_bits) for b in stage.buffers),
                "spill_ns": timing.dram_ns(stage.dram_bits),
                "lookup_ns": timing.dram_ns(stage.dram_bits, stage.dram_rank_bits),
                "reram_ns": timing.reram_lookup_ns(stage.reram_lookup_rows),
                "chunks_ns": [timing.digital_ns(ops) for ops in timing.digital_chunks(stage.digital_ops)]}
        if stage.kind == StageKind.MVM:
            plan["events"] = self._events(stage)
        return plan

    def _start_send(self, transfer: Transfer, duration: float, label: str, done: Done) -> None:
        """Take every link of the transfer's path (in a global order: no deadlock), hold them all
        while its bytes cross, release them, then call `done`."""
        if not transfer.hops:
            done()
            return
        links = self.paths[id(transfer)]
        requested = self.env.now

        def acquire(first: int) -> None:
            if first < len(links):
                granted = partial(self._soon, partial(acquire, first + 1))
                if links[first][0].take(granted):
                    granted()
                return
            now = self.env.now
            self.rec.wait_ns["link"] += now - requested
            self._after(duration, lambda: finish(now))

        def finish(start: float) -> None:
            for units, track in links:
                units.release()
                self._record(track, start, duration, label)
            done()

        acquire(0)

    def _stage_process(self, stage: Stage):
        env = self.env
        plan = self._plan(stage)
        inputs = [self.ready[(producer, stage.name)] for producer in stage.predecessors]
        freed = [self.slots[(producer, stage.name)] for producer in stage.predecessors]
        outputs = [(self.slots[(stage.name, consumer)], self.ready[(stage.name, consumer)],
                    self.transfers.get((stage.name, consumer))) for consumer in self.consumers[stage.name]]
        for inference in range(self.batch):
            waited = env.now
            for ready in inputs:
                yield from self._take(ready)
            for slots, _, _ in outputs:
                yield from self._take(slots)
            self.rec.wait_ns["handoff"] += env.now - waited
            self.start_ns[(inference, stage.name)] = env.now
            yield from self._do_stage(stage, plan, inference)
            self.finish_ns[(inference, stage.name)] = env.now
            self.completed[stage.name] += 1
            for slots in freed:
                slots.release()
            for _, ready, transfer in outputs:
                if transfer is not None and transfer.hops:
                    self._urgent(partial(self._start_send, transfer,   # SimPy ran a process for it
                                         self.timing.transfer_ns(transfer.num_bytes, transfer.hops),
                                         f"{stage.name}->{transfer.consumer} #{inference}", ready.release))
                else:
                    ready.release()

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
        stage_ns_by_layer_part={s.name: _stage_parts(s, timing, waves_per_event, stage_ns[s.name])
                                for s in workload.stages},
    )
    return report, sim.rec.trace


def _stage_busy_ns(sim: _Simulation, stage: Stage) -> float:
    return sum(sim.finish_ns[(i, stage.name)] - sim.start_ns[(i, stage.name)] for i in range(sim.batch))


def _stage_parts(stage: Stage, timing: ChipTiming, waves_per_event: int, measured_ns: float) -> dict[str, float]:
    """A stage's measured time split: the work on its uncontended critical path (the analytic
    model's parts, the same durations) and `waiting`, the rest (queueing for shared units and
    handoffs). Were the simulator ever faster than that path, the parts are scaled down to it."""
    _, _, parts = stage_cost(stage, timing, waves_per_event)
    work_ns = sum(parts.values())
    if work_ns > measured_ns:
        scale = measured_ns / work_ns
        return {**{name: ns * scale for name, ns in parts.items()}, WAITING: 0.0}
    return {**parts, WAITING: measured_ns - work_ns}

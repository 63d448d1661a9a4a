"""Durations of the basic actions, from the chip's component models.

Both cost engines take every duration from here: the analytic model adds them up, the simulator
holds resources for them and lets contention emerge. Nothing here knows about pipelines.
"""

from __future__ import annotations

from dataclasses import dataclass

from recpim.pim.config import ChipConfig
from recpim.pim.workload import Stage, TileBuffer
from recpim.units import ceil_div

MAX_DIGITAL_CHUNKS = 64
ADDER_VALUES_PER_CYCLE = 2   # a tile shift-and-add unit merges two values per cycle (ISAAC)


@dataclass(frozen=True)
class ChipTiming:
    # The hot durations (buffer, adders, vector units) write ceil_div out as -(-a // b): the same
    # integers, without a call per stage per sweep point.
    cycle_ns: float
    crossbar_read_ns: float          # one read of the active rows of a crossbar
    adc_conversion_ns: float         # one conversion (1 / sample rate)
    buffer_width_bits: int
    buffer_ports: int                # ports work in parallel: one stage's access uses all of them
    buffer_access_ns: float          # one access of buffer_width_bits through one port
    dac_step_ns: float               # one DAC drive of a row (shared DACs drive rows one step after another)
    tile_adders: int                 # tile shift-and-add units merging partial sums from other tiles
    vector_units: int
    vector_ops_per_cycle: int
    link_bandwidth_gbps: float       # Gb/s = bits per ns
    hop_latency_ns: float
    flit_bits: int
    dram_bandwidth_gbps: float
    dram_latency_ns: float
    serial_output_path: bool = False  # tile.pipelining == "serial": no overlap of output path and compute
    dram_ranks: int = 1              # ranks reading at once near memory (chip.embedding.dram_ranks)

    @classmethod
    def from_chip(cls, chip: ChipConfig, crossbar_read_ns: float, adc_conversion_ns: float,
                  buffer_access_ns: float, dac_step_ns: float) -> ChipTiming:
        """Latencies of the crossbar, ADC and buffer come from their component models (the caller
        passes them from the chip model); bandwidths and counts come from the config."""
        return cls(
            cycle_ns=chip.cycle_ns,
            crossbar_read_ns=crossbar_read_ns,
            adc_conversion_ns=adc_conversion_ns,
            buffer_width_bits=chip.tile.buffer.width_bits,
            buffer_ports=chip.tile.buffer.ports,
            buffer_access_ns=buffer_access_ns,
            dac_step_ns=dac_step_ns,
            tile_adders=chip.tile.shift_add_units,
            vector_units=chip.tile.vector_units.count,
            vector_ops_per_cycle=chip.tile.vector_units.ops_per_cycle,
            link_bandwidth_gbps=chip.chip.noc.link_bandwidth_gbps,
            hop_latency_ns=chip.chip.noc.hop_latency_ns,
            flit_bits=chip.chip.noc.flit_bits,
            dram_bandwidth_gbps=chip.chip.dram.bandwidth_gbps,
            dram_latency_ns=chip.chip.dram.access_latency_ns,
            serial_output_path=chip.tile.pipelining == "serial",
            dram_ranks=chip.chip.embedding.dram_ranks,
        )

    # ---- crossbars
    def read_step_ns(self, stage: Stage) -> float:
        """One read of one row group followed by its conversions. Sample-and-hold lets the next
        read overlap this read's conversions (ISAAC), so the slower of the two sets the pace.
        With one DAC per row the drive is part of the read latency; DACs shared by s rows first
        drive the rows in s steps, s - 1 of them before the read can start."""
        conversion_ns = stage.conversions_per_adc_per_read * self.adc_conversion_ns
        return (stage.dac_steps_per_read - 1) * self.dac_step_ns + max(self.crossbar_read_ns, conversion_ns)

    def mvm_ns(self, stage: Stage, num_vectors: int) -> float:
        """`num_vectors` input vectors, each bit-serial over its steps, on one replica."""
        return num_vectors * stage.steps_per_vector * stage.row_groups * self.read_step_ns(stage)

    # ---- tile buffer, adders, vector units
    def buffer_ns(self, bits: int) -> float:
        """`bits` through one tile's buffer: its ports move width x ports bits per access time."""
        return -(-bits // (self.buffer_width_bits * self.buffer_ports)) * self.buffer_access_ns   # ceil_div inline

    def wave_read_bits(self, buffer: TileBuffer, stage: Stage, num_vectors: int) -> int:
        """A tile's buffer reads for `num_vectors` of an MVM stage's vectors (its reads are spread
        evenly over the vectors)."""
        return ceil_div(buffer.read_bits * num_vectors, stage.vectors)

    def adds_ns(self, adds: int) -> float:
        """Partial-sum additions on a tile's adders (the vector units when it has none)."""
        if adds == 0:
            return 0.0
        if self.tile_adders == 0:
            return self.digital_ns(ceil_div(adds, self.vector_units))
        return -(-adds // (self.tile_adders * ADDER_VALUES_PER_CYCLE)) * self.cycle_ns   # ceil_div inline

    def digital_chunks(self, ops: int) -> list[int]:
        """A digital stage's ops split into equal chunks, one per vector unit, and at most
        MAX_DIGITAL_CHUNKS of them (one simulator event each): beyond that many units a stage is
        spread no further, which both engines assume alike."""
        parallel = max(1, min(self.vector_units, MAX_DIGITAL_CHUNKS, ops))
        per_chunk = ceil_div(ops, parallel)
        return [min(per_chunk, ops - i * per_chunk) for i in range(ceil_div(ops, per_chunk))] if ops else []

    def digital_ns(self, ops: int) -> float:
        """`ops` digital ops on one vector unit."""
        return -(-ops // self.vector_ops_per_cycle) * self.cycle_ns   # ceil_div inline

    def digital_pool_ns(self, ops: int) -> tuple[float, float]:
        """(the busy time of all of digital_chunks(ops) together, the longest chunk's time): exactly
        sum() and max() of their digital_ns, without listing the chunks (all but the last are equal)."""
        if not ops:
            return 0, 0.0   # sum([]) and max([], default=0.0)
        parallel = self.vector_units if self.vector_units < MAX_DIGITAL_CHUNKS else MAX_DIGITAL_CHUNKS
        per_chunk = -(-ops // max(1, parallel if parallel < ops else ops))
        chunks = -(-ops // per_chunk)
        ops_per_cycle, cycle_ns = self.vector_ops_per_cycle, self.cycle_ns
        full_ns = -(-per_chunk // ops_per_cycle) * cycle_ns   # digital_ns, inline
        total_ns = 0
        for _ in range(chunks - 1):
            total_ns += full_ns
        return total_ns + -(-(ops - (chunks - 1) * per_chunk) // ops_per_cycle) * cycle_ns, full_ns

    # ---- interconnect and memory
    def link_ns(self, num_bytes: int) -> float:
        """Time a transfer occupies each link (serialisation at the link bandwidth)."""
        return num_bytes * 8 / self.link_bandwidth_gbps

    def transfer_ns(self, num_bytes: int, hops: int) -> float:
        """Cut-through transfer: serialisation once plus the per-hop router latency."""
        if hops == 0:
            return 0.0
        return self.link_ns(num_bytes) + hops * self.hop_latency_ns

    def flits(self, num_bytes: int) -> int:
        return ceil_div(num_bytes * 8, self.flit_bits)

    def dram_ns(self, bits: int, rank_bits: int = 0) -> float:
        """`bits` over the DRAM channel, after `rank_bits` read inside the ranks, all ranks at once
        each at the channel's bandwidth (near memory); one access latency."""
        if bits == 0 and rank_bits == 0:
            return 0.0
        return self.dram_latency_ns + bits / self.dram_bandwidth_gbps + rank_bits / (
            self.dram_ranks * self.dram_bandwidth_gbps)

    def reram_lookup_ns(self, rows: int) -> float:
        """Embedding rows read from on-chip ReRAM, one crossbar read per row."""
        return rows * self.crossbar_read_ns


def vector_waves(vectors: int, replicas: int, waves_per_event: int) -> list[tuple[int, int]]:
    """How a stage's vectors are processed: its `replicas` identical copies take one vector each at
    a time, in lockstep waves (ceil(vectors / replicas) waves, the last one maybe partial). One
    simulator event is a group of at most `waves_per_event` waves. Returns (waves, vectors) per
    event; the vectors of all events add up to `vectors`."""
    total_waves = ceil_div(vectors, replicas)
    events = []
    done_vectors = 0
    for first_wave in range(0, total_waves, waves_per_event):
        waves = min(waves_per_event, total_waves - first_wave)
        group_vectors = min(waves * replicas, vectors - done_vectors)
        events.append((waves, group_vectors))
        done_vectors += group_vectors
    return events

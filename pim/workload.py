"""PipelineWorkload: what the cost engines (analytic model and SimPy simulator) consume.

The mapping stage (recpim.mapping) turns a WorkloadGraph and a ChipConfig into this description;
pim/ never imports mapping/ (imports flow arch, pim -> mapping), so this module is the contract.

Every count is per inference and an exact integer, so that both engines charge identical
activity and their dynamic energies agree to float precision.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from functools import cached_property
from typing import Any


class StageKind(StrEnum):
    MVM = "mvm"              # crossbar matrix-vector products, bit-serial over input slices
    DIGITAL = "digital"      # vector units of a tile (products of activations, softmax, ...)
    EMBEDDING = "embedding"  # table lookups from off-chip DRAM or on-chip ReRAM


class TransferKind(StrEnum):
    ACTIVATION = "activation"    # a producer's output delivered to a consumer
    PARTIAL_SUM = "partial_sum"  # a layer's partial sums on their way to the tile gathering them

def _count(component: str) -> Any:
    """A count of one action per inference; `component` is the breakdown entry its energy goes to."""
    return field(default=0, metadata={"component": component})


def _energy(component: str) -> Any:
    return field(default=0.0, metadata={"component": component})


@dataclass(frozen=True)
class Activity:
    """What one stage does per inference, action by action: exact integer counts, priced by the
    chip model's energy of one action (`ActionEnergies`, the priced twin below). Each field's
    metadata names the component its energy is charged to in the breakdown. The field order is the
    order in which an MVM or embedding stage's energies are added up (pim/cost_report.py), the
    order the mapping listed them in before this record existed, so every float sum is what it was;
    a digital stage adds its vector ops first (DIGITAL_ORDER), as it listed them."""

    adc_conversion: int = _count("adc")            # one ADC conversion
    sample_hold: int = _count("sample_hold")       # one column sampled
    dac_drive: int = _count("dac")                 # one row driven for one input slice
    row_periphery: int = _count("periphery")       # one row's switch matrix for one read (with every row drive)
    column_periphery: int = _count("periphery")    # one column's mux and bit line for one read-out (per conversion)
    cell_read: int = _count("crossbar")            # one ReRAM cell read
    shift_add: int = _count("shift_add")           # one shift-and-add op
    register_byte: int = _count("registers")       # one byte through a PE's input/output registers
    buffer_access: int = _count("buffer")          # one access of the tile buffer's width (one port)
    bus_bit: int = _count("bus")                   # one bit over a tile's bus
    # one addition merging partial sums that arrive from other tiles (the tile's shift-and-add units)
    psum_add: int = _count("shift_add")
    vector_op: int = _count("vector_unit")         # one digital op
    maxpool_op: int = _count("maxpool")            # one comparison of a tile's max-pool unit (fused pooling)
    router_flit_hop: int = _count("noc")           # one flit over one mesh hop
    dram_bit: int = _count("dram")                 # one bit from off-chip DRAM
    # Embedding lookups (issue 25): a bit read from the hot-row cache; a bit read inside a DRAM rank
    # and pooled there (near memory: no channel I/O); a pooled bit sent over the DRAM channel; one
    # addition of a rank's reduction unit.
    embedding_cache_bit: int = _count("embedding_cache")
    dram_rank_bit: int = _count("dram")
    dram_channel_bit: int = _count("dram")
    near_memory_op: int = _count("near_memory")
    # one addition of a tile's adders merging its PEs' results for the same outputs (last: a stage
    # without any adds its energies in the order, and to the float, it did before this field)
    tile_add: int = _count("shift_add")

    def items(self, order: Sequence[str] | None = None) -> Iterator[tuple[str, int]]:
        """(action, count) in field order, or in `order` (every action once)."""
        for name in order or ACTIVITY_KEYS:
            yield name, getattr(self, name)

    def __add__(self, other: Activity) -> Activity:
        return Activity(*(getattr(self, name) + getattr(other, name) for name in ACTIVITY_KEYS))

    def with_added(self, **counts: int) -> Activity:
        """These counts with `counts` added to the named actions."""
        return replace(self, **{name: getattr(self, name) + count for name, count in counts.items()})


@dataclass(frozen=True)
class ActionEnergies:
    """The energy of one action of each kind (pJ), as the chip model prices them: Activity's twin."""

    adc_conversion: float = _energy("adc")
    sample_hold: float = _energy("sample_hold")
    dac_drive: float = _energy("dac")
    row_periphery: float = _energy("periphery")
    column_periphery: float = _energy("periphery")
    cell_read: float = _energy("crossbar")
    shift_add: float = _energy("shift_add")
    register_byte: float = _energy("registers")
    buffer_access: float = _energy("buffer")
    bus_bit: float = _energy("bus")
    psum_add: float = _energy("shift_add")
    vector_op: float = _energy("vector_unit")
    maxpool_op: float = _energy("maxpool")
    router_flit_hop: float = _energy("noc")
    dram_bit: float = _energy("dram")
    embedding_cache_bit: float = _energy("embedding_cache")
    dram_rank_bit: float = _energy("dram")
    dram_channel_bit: float = _energy("dram")
    near_memory_op: float = _energy("near_memory")
    tile_add: float = _energy("shift_add")

    @classmethod
    def from_dict(cls, energy_pj: dict[str, float]) -> ActionEnergies:
        """From the chip model's per-operation energies (a KeyError names any action it lacks)."""
        missing = [key for key in ACTIVITY_KEYS if key not in energy_pj]
        if missing:
            raise KeyError(f"chip model lacks per-action energies for {missing}")
        return cls(**{key: float(energy_pj[key]) for key in ACTIVITY_KEYS})


ACTIVITY_KEYS: tuple[str, ...] = tuple(f.name for f in fields(Activity))
DIGITAL_ORDER: tuple[str, ...] = ("vector_op", *(key for key in ACTIVITY_KEYS if key != "vector_op"))
# Which component each action's energy is charged to (from the field metadata).
COMPONENT_OF_ACTIVITY: dict[str, str] = {f.name: f.metadata["component"] for f in fields(Activity)}
assert [f.name for f in fields(ActionEnergies)] == list(ACTIVITY_KEYS)
assert all(f.metadata["component"] == COMPONENT_OF_ACTIVITY[f.name] for f in fields(ActionEnergies))


@dataclass(frozen=True)
class TileBuffer:
    """What a stage moves through one tile's buffer per inference.

    A stage writes the inputs it receives on that tile once (from the mesh, from off chip or from a
    producer on the same tile: producers send their outputs from their output registers and never
    write them into their own buffer), and reads back what its crossbars or vector units take. An
    MVM stage's reads are spread evenly over its vectors, wave by wave; every tile holding some of
    its crossbars reads its own rows from its own buffer, in parallel with the others."""

    tile: int
    write_bits: int = 0
    read_bits: int = 0


Link = tuple[int, int]   # (from router, to router); router id = mesh row x mesh columns + mesh col


@dataclass(frozen=True)
class XYRoute(Sequence[Link]):
    """The links from mesh router `src` (row, col) to `dst` under XY routing (columns first, then
    rows) on a mesh `mesh_cols` wide. Its length is known at once; the links are listed when first
    read, since a mapping on a large mesh makes thousands of transfers a sweep never walks."""

    src: tuple[int, int]
    dst: tuple[int, int]
    mesh_cols: int

    def __len__(self) -> int:
        return abs(self.dst[0] - self.src[0]) + abs(self.dst[1] - self.src[1])

    @cached_property
    def links(self) -> tuple[Link, ...]:
        (row, col), (end_row, end_col), width = self.src, self.dst, self.mesh_cols
        start, corner, end = row * width + col, row * width + end_col, end_row * width + end_col
        routers = [*range(start, corner, 1 if end_col > col else -1),
                   *range(corner, end, width if end_row > row else -width), end]
        return tuple(zip(routers, routers[1:], strict=False))

    def __getitem__(self, index):
        return self.links[index]

    def __iter__(self) -> Iterator[Link]:
        return iter(self.links)


@dataclass(frozen=True, slots=True)
class Transfer:
    """Bytes per inference from a producer to a consumer on another tile, along a mesh path.

    `activation` transfers carry a producer's output to (the share of) a consumer on a tile; free
    moves (concat/reshape) passed through are listed in `via`. `partial_sum` transfers carry a layer's
    partial sums from a tile holding some of its crossbars towards the tile that gathers them
    (producer == consumer) and are timed inside that layer's stage. The mapping lists one transfer
    per (source tile, destination tile) piece; a workload merges a stage pair's pieces into one
    transfer, whose tiles are then None."""

    producer: str
    consumer: str
    num_bytes: int
    links: Sequence[Link]            # per hop (an XYRoute from the mapping); empty = same router
    kind: TransferKind = TransferKind.ACTIVATION
    via: tuple[str, ...] = ()
    src_tile: int | None = None
    dst_tile: int | None = None

    @property
    def hops(self) -> int:
        return len(self.links)

    @property
    def byte_hops(self) -> int:
        return self.num_bytes * self.hops


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: a graph node with work, placed on the chip.

    MVM stages run `vectors` input vectors per inference, each taking `steps_per_vector`
    bit-serial steps (ceil(activation bits / DAC bits)); a step reads `row_groups` groups of rows
    one after another, each read first driving its rows in `dac_steps_per_read` DAC steps (DACs
    shared by several rows) and then converting `conversions_per_adc_per_read` columns per ADC.
    `replicas` copies of the layer's crossbars work on different vectors at once. Partial sums
    from other tiles travel as `partial_sums` after each group of waves (hops of a reduction chain,
    all at once), are written to the receiving tiles' buffers and read back (`psum_buffer_bits` each way on
    the busiest, `psum_buffer_tile`)
    and are merged by the tiles' adders, `psum_adds` additions on the busiest tile. Before they leave
    a tile, the tile's adders merge what several of its PEs computed of the same outputs:
    `tile_adds` additions on the busiest such tile, `tile_adds_tile`.
    """

    name: str
    kind: StageKind
    tile: int                            # home tile: where outputs are gathered, vector units used
    predecessors: tuple[str, ...] = ()
    replicas: int = 1
    vectors: int = 0
    steps_per_vector: int = 0
    row_groups: int = 0
    dac_steps_per_read: int = 1
    conversions_per_adc_per_read: int = 0
    buffers: tuple[TileBuffer, ...] = ()
    partial_sums: tuple[Transfer, ...] = ()
    psum_adds: int = 0
    psum_buffer_bits: int = 0            # partial sums reaching the busiest tile of the chain: written, read back
    psum_buffer_tile: int = 0            # that tile
    tile_adds: int = 0                   # PE results merged on the busiest tile's adders per inference
    tile_adds_tile: int = 0              # that tile
    digital_ops: int = 0
    dram_bits: int = 0                   # embedding rows, or inputs spilled from a full buffer (written and read)
    reram_lookup_rows: int = 0           # embedding rows (or in-crossbar reads) from on-chip ReRAM per inference
    dram_rank_bits: int = 0              # embedding bits read inside DRAM ranks at once (near memory)
    macs: int = 0
    activity: Activity = Activity()

    def to_dict(self) -> dict:
        data = asdict(self)
        data["kind"] = str(self.kind)
        # a stage's partial sums: their path and size (the mapping's tiles and via are not the stage's)
        data["partial_sums"] = [{"producer": t.producer, "consumer": t.consumer, "num_bytes": t.num_bytes,
                                 "links": tuple(t.links), "kind": str(t.kind)} for t in self.partial_sums]
        return data


@dataclass(frozen=True)
class PipelineWorkload:
    name: str
    stages: tuple[Stage, ...]            # in topological order
    transfers: tuple[Transfer, ...] = ()
    tiles_used: int = 1
    macs_per_inference: int = 0
    # Time-multiplexed mapping: crossbars rewritten between rounds, once per batch.
    reprogram_pj_per_batch: float = 0.0
    reprogram_ns_per_batch: float = 0.0
    notes: tuple[str, ...] = ()          # what the mapping wants the reader to know (buffer spills ...)

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)

    def total_activity(self) -> Activity:
        return sum((stage.activity for stage in self.stages), Activity())

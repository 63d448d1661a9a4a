"""PipelineWorkload: what the cost engines (analytic model and SimPy simulator) consume.

The mapping stage (recpim.mapping) turns a WorkloadGraph and a ChipConfig into this description;
pim/ never imports mapping/ (imports flow arch, pim -> mapping), so this module is the contract.

Every count is per inference and an exact integer, so that both engines charge identical
activity and their dynamic energies agree to float precision.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from functools import cached_property


class StageKind(StrEnum):
    MVM = "mvm"              # crossbar matrix-vector products, bit-serial over input slices
    DIGITAL = "digital"      # vector units of a tile (products of activations, softmax, ...)
    EMBEDDING = "embedding"  # table lookups from off-chip DRAM or on-chip ReRAM


class TransferKind(StrEnum):
    ACTIVATION = "activation"    # a producer's output delivered to a consumer
    PARTIAL_SUM = "partial_sum"  # a layer's partial sums on their way to the tile gathering them

# Activity counted per inference; each key is priced by the chip model's energy of one action.
ACTIVITY_KEYS = (
    "adc_conversion",   # one ADC conversion
    "dac_drive",        # one row driven for one input slice
    "cell_read",        # one ReRAM cell read
    "sample_hold",      # one column sampled
    "shift_add",        # one shift-and-add op
    "register_byte",    # one byte through a PE's input/output registers
    "buffer_access",    # one access of the tile buffer's width (one port)
    "bus_bit",          # one bit over a tile's bus
    "router_flit_hop",  # one flit over one mesh hop
    "dram_bit",         # one bit from off-chip DRAM
    "vector_op",        # one digital op
    "maxpool_op",       # one comparison of a tile's max-pool unit (pooling fused into a layer's output)
    "psum_add",         # one addition merging partial sums that arrive from other tiles (tile adders)
    "row_periphery",    # one row's switch matrix for one read (charged with every row drive)
    "column_periphery", # one column's mux and bit line for one read-out (charged with every conversion)
)


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
    all at once) and are merged by the tiles' adders, `psum_adds` additions on the busiest tile.
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
    digital_ops: int = 0
    dram_bits: int = 0                   # embedding rows, or inputs spilled from a full buffer (written and read)
    reram_lookup_rows: int = 0           # embedding rows read from on-chip ReRAM per inference
    macs: int = 0
    activity: dict[str, int] = field(default_factory=dict)

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

    def total_activity(self) -> dict[str, int]:
        totals = dict.fromkeys(ACTIVITY_KEYS, 0)
        for stage in self.stages:
            for key, count in stage.activity.items():
                totals[key] += count
        return totals

"""PipelineWorkload: what the cost engines (analytic model and SimPy simulator) consume.

The mapping stage (recpim.mapping) turns a WorkloadGraph and a ChipConfig into this description;
pim/ never imports mapping/ (imports flow arch, pim -> mapping), so this module is the contract.

Every count is per inference and an exact integer, so that both engines charge identical
activity and their dynamic energies agree to float precision.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum


class StageKind(StrEnum):
    MVM = "mvm"              # crossbar matrix-vector products, bit-serial over input slices
    DIGITAL = "digital"      # vector units of a tile (products of activations, softmax, ...)
    EMBEDDING = "embedding"  # table lookups from off-chip DRAM or on-chip ReRAM


# Activity counted per inference; each key is priced by the chip model's energy of one action.
ACTIVITY_KEYS = (
    "adc_conversion",   # one ADC conversion
    "dac_drive",        # one row driven for one input slice
    "cell_read",        # one ReRAM cell read
    "sample_hold",      # one column sampled
    "shift_add",        # one shift-and-add op
    "register_byte",    # one byte through a PE's input/output registers
    "buffer_access",    # one access of the tile buffer's width
    "bus_bit",          # one bit over a tile's bus
    "router_flit_hop",  # one flit over one mesh hop
    "dram_bit",         # one bit from off-chip DRAM
    "vector_op",        # one digital op
)


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: a graph node with work, placed on the chip.

    MVM stages run `vectors` input vectors per inference, each taking `steps_per_vector`
    bit-serial steps (ceil(activation bits / DAC bits)); a step reads `row_groups` groups of rows
    one after another, and after each read the ADCs convert `conversions_per_adc_per_read`
    columns each. `replicas` copies of the layer's crossbars work on different vectors at once.
    """

    name: str
    kind: StageKind
    tile: int                            # the tile whose buffer and vector units it uses
    predecessors: tuple[str, ...] = ()
    replicas: int = 1
    vectors: int = 0
    steps_per_vector: int = 0
    row_groups: int = 0
    conversions_per_adc_per_read: int = 0
    input_bits_per_vector: int = 0       # read from the tile buffer per vector
    output_bits_per_vector: int = 0      # written to the tile buffer per vector
    digital_ops: int = 0
    dram_bits: int = 0
    reram_lookup_rows: int = 0           # embedding rows read from on-chip ReRAM per inference
    macs: int = 0
    activity: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["kind"] = str(self.kind)
        return data


@dataclass(frozen=True)
class Transfer:
    """Bytes a stage sends to a consumer on another tile, per inference, along a mesh path."""

    producer: str
    consumer: str
    num_bytes: int
    links: tuple[tuple[int, int], ...]   # (from_router, to_router) per hop; empty = same router

    @property
    def hops(self) -> int:
        return len(self.links)


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
    extra: dict = field(default_factory=dict)

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

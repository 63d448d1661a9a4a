"""MappingResult: what the mapping decided, with every count the cost engines need per node.

All counts are per inference (one sample). Crossbar activity (conversions, drives, reads,
shift-adds) is the total over a layer's copies: replication splits a layer's vectors over its
copies and does not add work. Serialises to JSON with stable snake_case keys (to_json_dict).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from .embedding import OFF_CHIP, ON_CHIP, EmbeddingPlacement
from .placement import Segment


@dataclass(frozen=True)
class MvmLayerMapping:
    """One MVM layer on crossbars. `*_per_copy` sizes are for one copy; `crossbars` counts all copies."""

    name: str
    source: str
    weight_shape: tuple[int, int]
    weight_bits: int
    activation_bits: int
    vectors: int
    macs: int
    encoding: str
    bit_slices: int
    row_tiles: int
    col_tiles: int
    crossbars_per_copy: int
    replication: int
    crossbars: int
    pes: int
    tiles: tuple[int, ...]
    home_tile: int              # where its outputs are gathered (the tile holding most of its crossbars)
    home_round: int             # the round of that tile (0 unless time-multiplexed)
    copy_home_tiles: tuple[int, ...]  # per copy: the tile gathering that copy's outputs
    segments: tuple[Segment, ...]
    columns_used_per_copy: int
    cells_used_per_copy: int
    cell_utilization: float     # cells used / cells of the crossbars it occupies
    input_cycles: int           # per vector: ceil(activation bits / DAC bits)
    row_groups: int             # sequential row-group reads per input cycle
    dac_steps_per_read: int     # DAC drive steps before each read (DACs shared by several rows)
    dac_steps_per_inference: int  # one copy: read steps x dac_steps_per_read
    rows_summed: int            # rows summed in one column conversion: min(rows read at once, K)
    adc_conversions: int
    dac_drives: int
    cell_reads: int
    shift_add_ops: int
    read_steps_per_inference: int             # one copy: vectors x input_cycles x row_groups
    read_steps_per_inference_replicated: int  # copies split the vectors: ceil(vectors / R) x ...
    pipeline_read_steps: float                # steady-state interval: read_steps / R
    adcs: int                                 # ADCs serving its crossbars
    conversions_per_adc_per_read: int         # columns the busiest ADC converts after each read
    input_bits_per_vector: int                # K x activation bits
    output_bits_per_vector: int               # N x activation bits
    input_elements: int                       # what the vectors are cut from: a conv's feature map, else vectors x K
    partial_sum_bits: int                     # a + w + ceil(log2 K): exact dot-product width
    lossless_adc_bits: int
    chip_adc_bits: int
    adc_lossy: bool
    # Per tile holding its crossbars: the share of the layer's input rows it reads, over all copies
    # (rows of its (copy, row tile) pairs / (K x copies)); column tiles on different tiles need the
    # same rows, so the shares may add up to more than 1.
    input_share_by_tile: tuple[tuple[int, Fraction], ...] = ()

    def to_json_dict(self, coords: list[tuple[int, int]]) -> dict:
        data = {key: getattr(self, key) for key in self.__dataclass_fields__
                if key not in ("segments", "input_share_by_tile")}
        data["input_share_by_tile"] = {str(tile): float(share) for tile, share in self.input_share_by_tile}
        data["kind"] = "mvm"
        data["weight_shape"] = list(self.weight_shape)
        data["tiles"] = list(self.tiles)
        data["copy_home_tiles"] = list(self.copy_home_tiles)
        data["home_mesh_coord"] = list(coords[self.home_tile])
        data["segments"] = [segment.to_json_dict(coords[segment.tile]) for segment in self.segments]
        return data


@dataclass(frozen=True)
class DigitalMapping:
    """A digital op on the vector units of one tile."""

    name: str
    kind: str
    source: str
    tile: int
    round: int
    ops: int
    macs: int
    fused_into: str = ""        # an MVM layer whose output path does this op (ReLU/pool fusion), or ""

    def to_json_dict(self, coords: list[tuple[int, int]]) -> dict:
        return {"name": self.name, "kind": self.kind, "source": self.source, "tile": self.tile,
                "mesh_coord": list(coords[self.tile]), "round": self.round, "ops": self.ops, "macs": self.macs,
                "fused_into": self.fused_into}


@dataclass(frozen=True)
class Transfer:
    """Bytes per inference from one tile to another over the mesh (only when the tiles differ).

    kind "activation": a producer's output delivered to (the share of) a consumer on a tile;
    free moves (concat/reshape) in between are listed in `via`. kind "partial_sum": a layer spread
    over several tiles sends its partial sums from a tile to its home tile.
    """

    producer: str
    consumer: str
    kind: str
    via: tuple[str, ...]
    num_bytes: int
    src_tile: int
    dst_tile: int
    route: tuple[tuple[int, int], ...]   # mesh coords visited under XY routing, both ends included
                                         # (JSON gives only the ends: XY routing derives the rest)

    @property
    def hops(self) -> int:
        return len(self.route) - 1

    @property
    def byte_hops(self) -> int:
        return self.num_bytes * self.hops

    def to_json_dict(self) -> dict:
        return {"producer": self.producer, "consumer": self.consumer, "kind": self.kind, "via": list(self.via),
                "bytes_per_inference": self.num_bytes, "src_tile": self.src_tile, "dst_tile": self.dst_tile,
                "src_mesh_coord": list(self.route[0]), "dst_mesh_coord": list(self.route[-1]),
                "hops": self.hops, "byte_hops": self.byte_hops}


@dataclass(frozen=True)
class IoTransfer:
    """Bytes per inference entering a tile from off the mesh (model inputs, embedding rows) or leaving
    it (the model's outputs). `source` is "input", "onchip_reram", "dram" or "output"."""

    node: str
    consumer: str
    tile: int
    source: str
    num_bytes: int

    def to_json_dict(self) -> dict:
        return {"node": self.node, "consumer": self.consumer, "tile": self.tile, "source": self.source,
                "bytes_per_inference": self.num_bytes}


@dataclass(frozen=True)
class Reprogramming:
    """Time-multiplexed mode: crossbars rewritten between rounds.

    Convention: an inference batch passes through round 1, then round 2 ... each round's weights
    are written once per batch, and with more than one round every round (the first included, which
    the last round of the previous batch overwrote) is rewritten for every batch; with one round
    nothing is rewritten. Energy = cells written x write_energy_pj_per_cell. Latency: PEs are
    written in parallel, the crossbars of one PE one row at a time, so a round takes the largest
    number of rows written in any one PE x write_latency_ns_per_row.
    """

    rounds: int
    cells_written_per_round: tuple[int, ...]
    rows_written_per_round: tuple[int, ...]   # in the busiest PE of the round
    write_energy_pj_per_batch: float
    write_latency_ns_per_batch: float

    @property
    def cells_written_per_batch(self) -> int:
        return sum(self.cells_written_per_round) if self.rounds > 1 else 0

    def to_json_dict(self) -> dict:
        return {"rounds": self.rounds, "cells_written_per_round": list(self.cells_written_per_round),
                "rows_written_per_round": list(self.rows_written_per_round),
                "cells_written_per_batch": self.cells_written_per_batch,
                "write_energy_pj_per_batch": self.write_energy_pj_per_batch,
                "write_latency_ns_per_batch": self.write_latency_ns_per_batch}


@dataclass(frozen=True)
class TileUsage:
    tile: int
    mesh_coord: tuple[int, int]
    pes_used: int          # in the busiest round
    crossbars_used: int    # in the busiest round
    layers: tuple[str, ...]
    digital_nodes: tuple[str, ...]
    digital_ops: int
    digital_macs: int

    def to_json_dict(self) -> dict:
        return {"tile": self.tile, "mesh_coord": list(self.mesh_coord), "pes_used": self.pes_used,
                "crossbars_used": self.crossbars_used, "layers": list(self.layers),
                "digital_nodes": list(self.digital_nodes), "digital_ops": self.digital_ops,
                "digital_macs": self.digital_macs}


@dataclass(frozen=True)
class MappingResult:
    model: str
    chip: str
    weight_encoding: str
    replication_policy: str
    time_multiplexed: bool
    crossbar_rows: int
    crossbar_cols: int
    crossbars_available: int
    pes_available: int
    tiles_available: int
    tile_coords: tuple[tuple[int, int], ...]    # mesh (row, col) of every tile index
    layers: tuple[MvmLayerMapping, ...]         # MVM nodes, topological order
    digital: tuple[DigitalMapping, ...]
    embeddings: tuple[EmbeddingPlacement, ...]
    free_nodes: tuple[str, ...]                 # input / concat / reshape / output
    transfers: tuple[Transfer, ...]
    io_transfers: tuple[IoTransfer, ...]
    intra_tile_bytes_per_inference: int         # producer -> consumer flows that stay on one tile
    tiles: tuple[TileUsage, ...]                # tiles holding anything, by index
    reprogramming: Reprogramming
    notes: tuple[str, ...] = field(default_factory=tuple)

    # ---- lookups
    def layer(self, name: str) -> MvmLayerMapping:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    # ---- totals
    @property
    def rounds(self) -> int:
        return self.reprogramming.rounds

    @property
    def crossbars_needed(self) -> int:
        """Crossbars holding weights, all layers and copies (over all rounds)."""
        return sum(layer.crossbars for layer in self.layers)

    @property
    def crossbars_used(self) -> int:
        """Physical crossbars holding weights at once (the busiest round)."""
        return max((tile_sum for tile_sum in self._per_round("crossbars")), default=0)

    @property
    def pes_used(self) -> int:
        return max((tile_sum for tile_sum in self._per_round("pes")), default=0)

    @property
    def tiles_used(self) -> int:
        return sum(1 for tile in self.tiles if tile.pes_used or tile.digital_nodes)

    @property
    def utilization(self) -> float:
        """Crossbar utilisation: crossbars used / crossbars available."""
        return self.crossbars_used / self.crossbars_available

    @property
    def cell_utilization(self) -> float:
        """Cells holding weights / cells of the crossbars holding weights (all rounds)."""
        cells = sum(layer.cells_used_per_copy * layer.replication for layer in self.layers)
        total = self.crossbars_needed * self.crossbar_rows * self.crossbar_cols
        return cells / total if total else 0.0

    @property
    def embedding_bytes_on_chip(self) -> int:
        return sum(t.table_bytes for t in self.embeddings if t.location == ON_CHIP)

    @property
    def embedding_bytes_off_chip(self) -> int:
        return sum(t.table_bytes for t in self.embeddings if t.location == OFF_CHIP)

    @property
    def noc_bytes_per_inference(self) -> int:
        return sum(t.num_bytes for t in self.transfers)

    @property
    def noc_byte_hops_per_inference(self) -> int:
        return sum(t.byte_hops for t in self.transfers)

    @property
    def adc_lossy_layers(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.layers if layer.adc_lossy)

    def _per_round(self, what: str) -> list[int]:
        totals: dict[int, int] = {}
        for layer in self.layers:
            for segment in layer.segments:
                totals[segment.round] = totals.get(segment.round, 0) + getattr(segment, what)
        return list(totals.values())

    def totals_json_dict(self) -> dict:
        return {
            "crossbars_used": self.crossbars_used,
            "crossbars_needed": self.crossbars_needed,
            "crossbars_available": self.crossbars_available,
            "utilization": self.utilization,
            "cell_utilization": self.cell_utilization,
            "pes_used": self.pes_used,
            "pes_available": self.pes_available,
            "tiles_used": self.tiles_used,
            "tiles_available": self.tiles_available,
            "rounds": self.rounds,
            "adc_lossy_layers": list(self.adc_lossy_layers),
            "adc_conversions_per_inference": sum(layer.adc_conversions for layer in self.layers),
            "digital_ops_per_inference": sum(d.ops for d in self.digital),
            "digital_macs_per_inference": sum(d.macs for d in self.digital),
            "embedding_bytes_on_chip": self.embedding_bytes_on_chip,
            "embedding_bytes_off_chip": self.embedding_bytes_off_chip,
            "embedding_bits_read_on_chip_per_inference":
                sum(t.bits_read_per_inference for t in self.embeddings if t.location == ON_CHIP),
            "embedding_bits_read_off_chip_per_inference":
                sum(t.bits_read_per_inference for t in self.embeddings if t.location == OFF_CHIP),
            "noc_bytes_per_inference": self.noc_bytes_per_inference,
            "noc_byte_hops_per_inference": self.noc_byte_hops_per_inference,
            "intra_tile_bytes_per_inference": self.intra_tile_bytes_per_inference,
            "io_bytes_per_inference": sum(t.num_bytes for t in self.io_transfers),
        }

    def to_json_dict(self) -> dict:
        coords = list(self.tile_coords)
        return {
            "model": self.model,
            "chip": self.chip,
            "weight_encoding": self.weight_encoding,
            "replication_policy": self.replication_policy,
            "time_multiplexed": self.time_multiplexed,
            **self.totals_json_dict(),
            "layers": [layer.to_json_dict(coords) for layer in self.layers],
            "digital": [node.to_json_dict(coords) for node in self.digital],
            "embeddings": [table.to_json_dict() for table in self.embeddings],
            "free_nodes": list(self.free_nodes),
            "transfers": [t.to_json_dict() for t in self.transfers],
            "io_transfers": [t.to_json_dict() for t in self.io_transfers],
            "tiles": [tile.to_json_dict() for tile in self.tiles],
            "reprogramming": self.reprogramming.to_json_dict(),
            "notes": list(self.notes),
        }

"""MappingResult: what the mapping decided, with every count the cost engines need per node.

All counts are per inference (one sample). Crossbar activity (conversions, drives, reads,
shift-adds) is the total over a layer's copies: replication splits a layer's vectors over its
copies and does not add work. Serialises to JSON with stable snake_case keys (to_json_dict).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from typing import NamedTuple

from recpim.arch.graph.workload import OpKind
from recpim.crossbar_numbers import Encoding
from recpim.pim.config import ReplicationPolicy
from recpim.pim.workload import Transfer
from recpim.units import ceil_div

from .crossbar import CrossbarMapping
from .embedding import OFF_CHIP, ON_CHIP, EmbeddingLocation, EmbeddingPlacement
from .placement import Segment
from .transfer_table import TransferTable


@dataclass(frozen=True, slots=True)
class LayerPlacement:
    """Where the copies of one MVM layer sit: its PEs, tiles and segments, the tiles gathering its
    outputs, the ADC load of its PEs, and the input rows each tile holding its crossbars reads."""

    replication: int            # copies of the layer's crossbars
    pes: int
    tiles: tuple[int, ...]
    home_tile: int              # where its outputs are gathered (the tile holding most of its crossbars)
    home_round: int             # the round of that tile (0 unless time-multiplexed)
    copy_home_tiles: tuple[int, ...]  # per copy: the tile gathering that copy's outputs
    segments: tuple[Segment, ...]
    adcs: int                                 # ADCs serving its crossbars
    conversions_per_adc_per_read: int         # columns the busiest ADC converts after each read
    # Per tile holding its crossbars: the input rows it reads, over all copies (the rows of its
    # distinct (copy, row tile) pairs); see MvmLayerMapping.input_share_by_tile.
    input_rows_by_tile: tuple[tuple[int, int], ...] = ()
    # Per tile: additions per inference of the tile's adders merging what its PEs computed of the same
    # outputs (a copy's column group read by crossbars of several PEs of the tile: p PEs, p - 1 adds
    # per output element), before the sum leaves the tile.
    tile_adds_by_tile: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class MvmLayerMapping:
    """One MVM layer on crossbars: the crossbar arithmetic of one copy (`crossbar`) and where its
    copies sit (`placement`); what depends on both is derived here. `crossbar` sizes and activity
    are for one copy; activity counts equal the total over copies (copies split the vectors)."""

    name: str
    source: str
    macs: int
    input_elements: int         # what the vectors are cut from: a conv's feature map, else vectors x K
    crossbar: CrossbarMapping
    placement: LayerPlacement

    @property
    def replication(self) -> int:
        return self.placement.replication

    @property
    def crossbars(self) -> int:
        """Crossbars of all copies."""
        return self.crossbar.crossbars * self.placement.replication

    @property
    def read_steps_per_inference_replicated(self) -> int:
        """Copies split the vectors: ceil(vectors / R) x input cycles x row groups."""
        x = self.crossbar
        return ceil_div(x.vectors, self.placement.replication) * x.input_cycles * x.row_groups

    @property
    def pipeline_read_steps(self) -> int:
        """Steady-state interval of the layer in crossbar read steps."""
        return self.read_steps_per_inference_replicated

    @property
    def input_share_by_tile(self) -> tuple[tuple[int, Fraction], ...]:
        """Per tile holding its crossbars: the share of the layer's input rows it reads, over all
        copies (rows of its (copy, row tile) pairs / (K x copies)); column tiles on different tiles
        need the same rows, so the shares may add up to more than 1."""
        rows = self.crossbar.k_rows * self.placement.replication
        return tuple((tile, Fraction(count, rows)) for tile, count in self.placement.input_rows_by_tile)

    def to_json_dict(self, coords: list[tuple[int, int]]) -> dict:
        x, p = self.crossbar, self.placement
        return {
            "name": self.name, "source": self.source, "weight_shape": [x.k_rows, x.n_cols],
            "weight_bits": x.weight_bits, "activation_bits": x.activation_bits, "vectors": x.vectors,
            "macs": self.macs, "encoding": x.encoding, "bit_slices": x.bit_slices, "row_tiles": x.row_tiles,
            "col_tiles": x.col_tiles, "crossbars_per_copy": x.crossbars, "replication": p.replication,
            "crossbars": self.crossbars, "pes": p.pes, "tiles": list(p.tiles), "home_tile": p.home_tile,
            "home_round": p.home_round, "copy_home_tiles": list(p.copy_home_tiles),
            "columns_used_per_copy": x.columns_used, "cells_used_per_copy": x.cells_used,
            "cell_utilization": x.cell_utilization, "input_cycles": x.input_cycles, "row_groups": x.row_groups,
            "dac_steps_per_read": x.dac_steps_per_read, "dac_steps_per_inference": x.dac_steps,
            "rows_summed": x.rows_summed, "adc_conversions": x.adc_conversions, "dac_drives": x.dac_drives,
            "cell_reads": x.cell_reads, "shift_add_ops": x.shift_add_ops,
            "read_steps_per_inference": x.read_steps,
            "read_steps_per_inference_replicated": self.read_steps_per_inference_replicated,
            "pipeline_read_steps": self.pipeline_read_steps, "adcs": p.adcs,
            "conversions_per_adc_per_read": p.conversions_per_adc_per_read,
            "input_bits_per_vector": x.input_bits_per_vector, "output_bits_per_vector": x.output_bits_per_vector,
            "input_elements": self.input_elements, "partial_sum_bits": x.partial_sum_bits,
            "lossless_adc_bits": x.lossless_adc_bits, "chip_adc_bits": x.chip_adc_bits, "adc_lossy": x.adc_lossy,
            "input_share_by_tile": {str(tile): float(share) for tile, share in self.input_share_by_tile},
            "tile_adds_by_tile": {str(tile): adds for tile, adds in p.tile_adds_by_tile},
            "kind": "mvm", "home_mesh_coord": list(coords[p.home_tile]),
            "segments": [segment.to_json_dict(coords[segment.tile]) for segment in p.segments],
        }


class DigitalMapping(NamedTuple):
    """A digital op on the vector units of one tile (a named tuple, like the other per-node records)."""

    name: str
    kind: OpKind
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


def transfer_json(transfer: Transfer, coords: list[tuple[int, int]]) -> dict:
    """A mesh transfer of the mapping as JSON (its mesh ends; XY routing derives the path)."""
    return {"producer": transfer.producer, "consumer": transfer.consumer, "kind": transfer.kind,
            "via": list(transfer.via), "bytes_per_inference": transfer.num_bytes, "src_tile": transfer.src_tile,
            "dst_tile": transfer.dst_tile, "src_mesh_coord": list(coords[transfer.src_tile]),
            "dst_mesh_coord": list(coords[transfer.dst_tile]), "hops": transfer.hops,
            "byte_hops": transfer.byte_hops}


class IoSource(StrEnum):
    """Where an io transfer's bytes come from or go to."""

    INPUT = "input"                  # a model input, from off the mesh
    ONCHIP_RERAM = EmbeddingLocation.ONCHIP_RERAM.value   # embedding rows from the on-chip ReRAM
    DRAM = EmbeddingLocation.DRAM.value                   # embedding rows from off-chip DRAM
    OUTPUT = "output"                # the model's outputs, leaving the mesh


class IoTransfer(NamedTuple):
    """Bytes per inference entering a tile from off the mesh (model inputs, embedding rows) or leaving
    it (the model's outputs). A named tuple: a recommender has one per (table, consumer tile)."""

    node: str
    consumer: str
    tile: int
    source: IoSource
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


class TileUsage(NamedTuple):
    """What one tile holds (a named tuple: a large mesh has thousands, built with every mapping)."""

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
    weight_encoding: Encoding
    replication_policy: ReplicationPolicy
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
    transfers: TransferTable | tuple[Transfer, ...]   # a TransferTable from map_model: a sequence of Transfers
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
        cells = sum(layer.crossbar.cells_used * layer.replication for layer in self.layers)
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
        if isinstance(self.transfers, TransferTable):
            return self.transfers.total_bytes
        return sum(t.num_bytes for t in self.transfers)

    @property
    def noc_byte_hops_per_inference(self) -> int:
        if isinstance(self.transfers, TransferTable):
            return self.transfers.total_byte_hops
        return sum(t.byte_hops for t in self.transfers)

    @property
    def adc_lossy_layers(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.layers if layer.crossbar.adc_lossy)

    def _per_round(self, what: str) -> list[int]:
        totals: dict[int, int] = {}
        for layer in self.layers:
            for segment in layer.placement.segments:
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
            "adc_conversions_per_inference": sum(layer.crossbar.adc_conversions for layer in self.layers),
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
            "transfers": [transfer_json(t, coords) for t in self.transfers],
            "io_transfers": [t.to_json_dict() for t in self.io_transfers],
            "tiles": [tile.to_json_dict() for tile in self.tiles],
            "reprogramming": self.reprogramming.to_json_dict(),
            "notes": list(self.notes),
        }

"""Embedding tables -> on-chip ReRAM used as memory, or off-chip DRAM.

The chip reserves chip.embedding_reram_mb megabytes (MB = 2**20 bytes) of ReRAM as plain memory,
separate from the compute crossbars. Tables are considered in order of lookup density (bits read
per inference per byte stored, largest first: the table that saves the most DRAM traffic per byte
of reserve), ties by size (smaller first) then name; each goes on chip if it still fits in what is
left of the reserve, otherwise to DRAM (first fit: a smaller, later table may still fit).
A table's bits are the node's weight_bits, or its activation_bits when weight_bits is unset.
A lookup reads one whole row: lookups x dim x bits per inference. How the lookups are served
(hot-row cache, pooling on chip, near memory or in the crossbars) is embedding_lookup.py's.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from recpim.arch.graph.workload import OpKind, WorkloadNode
from recpim.errors import ConfigError
from recpim.pim.config import ChipConfig
from recpim.units import ceil_div

from .embedding_lookup import TableLookup, lookup_costs

BYTES_PER_MB = 1 << 20


class EmbeddingLocation(StrEnum):
    ONCHIP_RERAM = "onchip_reram"   # the chip's ReRAM reserve, read as memory
    DRAM = "dram"                   # off-chip DRAM


ON_CHIP, OFF_CHIP = EmbeddingLocation.ONCHIP_RERAM, EmbeddingLocation.DRAM


@dataclass(frozen=True)
class EmbeddingPlacement:
    name: str
    location: EmbeddingLocation
    rows: int
    dim: int
    bits: int
    lookups: int              # rows read per inference
    table_bytes: int
    bits_read_per_inference: int
    lookup: TableLookup | None = None   # how its lookups are served (embedding_lookup.py)

    @property
    def on_chip(self) -> bool:
        return self.location == ON_CHIP

    @property
    def bytes_read_per_inference(self) -> int:
        return ceil_div(self.bits_read_per_inference, 8)

    def to_json_dict(self) -> dict:
        return {"name": self.name, "kind": "embedding", "location": self.location, "rows": self.rows,
                "dim": self.dim, "bits": self.bits, "lookups": self.lookups, "table_bytes": self.table_bytes,
                "bits_read_per_inference": self.bits_read_per_inference,
                "bytes_read_per_inference": self.bytes_read_per_inference,
                # (tables costed as before issue 25 serialise as before)
                **({"lookup": self.lookup.to_json_dict()} if self.lookup is not None and not self.lookup.plain
                   else {})}


class _Placed(NamedTuple):
    """A table placed, its lookups not costed yet: what lookup_costs reads of an EmbeddingPlacement
    (a named tuple: built for every table at every mapping, where a frozen dataclass costs 3x)."""

    name: str
    location: EmbeddingLocation
    rows: int
    dim: int
    bits: int
    lookups: int
    table_bytes: int
    bits_read_per_inference: int

    @property
    def on_chip(self) -> bool:
        return self.location == ON_CHIP


def place_embeddings(nodes: list[WorkloadNode], chip: ChipConfig) -> dict[str, EmbeddingPlacement]:
    """Place every embedding node; returns them keyed by name in the order given."""
    embedding = OpKind.EMBEDDING   # (read once, not per node)
    table_nodes = [node for node in nodes if node.kind == embedding]
    sizes = [_table_size(node) for node in table_nodes]
    left = int(chip.chip.embedding_reram_mb * BYTES_PER_MB)
    on_chip = set()
    # (name, rows, dim, bits, lookups, table bytes, bits read); the EmbeddingPlacements are built once
    # their location is known (a recommender has dozens of tables, mapped at every sweep point)
    by_density = sorted(sizes, key=lambda t: (-t[6] / t[5], t[5], t[0]))
    for name, *_, table_bytes, _ in by_density:
        if table_bytes <= left:
            on_chip.add(name)
            left -= table_bytes
    placed = [_Placed(name, ON_CHIP if name in on_chip else OFF_CHIP, rows, dim, bits, lookups, table_bytes, bits_read)
              for name, rows, dim, bits, lookups, table_bytes, bits_read in sizes]
    costs = lookup_costs(placed, {node.name: node for node in table_nodes}, chip)
    return {t.name: EmbeddingPlacement(t.name, t.location, t.rows, t.dim, t.bits, t.lookups, t.table_bytes,
                                       t.bits_read_per_inference, costs[t.name]) for t in placed}


def _table_size(node: WorkloadNode) -> tuple[str, int, int, int, int, int, int]:
    """(name, rows, dim, bits, lookups, table bytes, bits read per inference) of an embedding node."""
    if node.weight_shape is None or len(node.weight_shape) != 2 or min(node.weight_shape) < 1:
        raise ConfigError(f"embedding node {node.name!r}",
                          [(f"{node.name}.weight_shape", f"got {node.weight_shape}; allowed: (rows, dim) >= 1")])
    rows, dim = node.weight_shape
    bits = node.weight_bits or node.activation_bits
    return (node.name, rows, dim, bits, node.lookups, ceil_div(rows * dim * bits, 8), node.lookups * dim * bits)

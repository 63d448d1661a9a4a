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

from dataclasses import dataclass, replace
from enum import StrEnum

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
        return self.location == EmbeddingLocation.ONCHIP_RERAM

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


def place_embeddings(nodes: list[WorkloadNode], chip: ChipConfig) -> dict[str, EmbeddingPlacement]:
    """Place every embedding node; returns them keyed by name in the order given."""
    tables = [_table(node) for node in nodes if node.kind == OpKind.EMBEDDING]
    left = int(chip.chip.embedding_reram_mb * BYTES_PER_MB)
    on_chip = set()
    by_density = sorted(tables, key=lambda t: (-t.bits_read_per_inference / t.table_bytes, t.table_bytes, t.name))
    for table in by_density:
        if table.table_bytes <= left:
            on_chip.add(table.name)
            left -= table.table_bytes
    placed = [replace(t, location=ON_CHIP if t.name in on_chip else OFF_CHIP) for t in tables]
    costs = lookup_costs(placed, {node.name: node for node in nodes}, chip)
    return {t.name: replace(t, lookup=costs[t.name]) for t in placed}


def _table(node: WorkloadNode) -> EmbeddingPlacement:
    if node.weight_shape is None or len(node.weight_shape) != 2 or min(node.weight_shape) < 1:
        raise ConfigError(f"embedding node {node.name!r}",
                          [(f"{node.name}.weight_shape", f"got {node.weight_shape}; allowed: (rows, dim) >= 1")])
    rows, dim = node.weight_shape
    bits = node.weight_bits or node.activation_bits
    return EmbeddingPlacement(name=node.name, location=OFF_CHIP, rows=rows, dim=dim, bits=bits, lookups=node.lookups,
                              table_bytes=ceil_div(rows * dim * bits, 8),
                              bits_read_per_inference=node.lookups * dim * bits)

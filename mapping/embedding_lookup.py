"""How each embedding table's lookups are served, and what one inference costs there.

Per table (rows R, dim D, b bits, `bags` bags of `pooling` rows per sample, L = bags x pooling
lookups), with the chip's chip.embedding options:

- Hot-row cache (cache_kb > 0): the hottest rows, pinned from the access distribution (a profile, a
  Zipf exponent, or uniform), are read from an SRAM/eDRAM cache instead of the table's memory. The
  cache's rows are shared out greedily in 64 equal slices, each to the table whose lookup bits it
  saves most (hit curves are concave, so greedy is optimal over the slices; equal gains go to the
  table holding fewer rows, so uniform tables share the cache evenly). Hit rate h = the share
  of lookups to a table's cached rows; memory bits = ceil(L x D x b x (1 - h)), cache bits the rest
  (bits in expectation per inference: a one-hot field's single lookup hits a fraction of the time).
  Rows are pinned, never filled on a miss. In-crossbar tables take no cache (analog pooling reads
  the arrays).
- gather (mode "gather", and DRAM tables in "in_crossbar", on-chip tables in "near_memory"): rows
  come whole from DRAM (over the channel) or from the ReRAM reserve (one read per row), and bags
  are pooled on the consumer's vector units: (L - bags) x D additions when the node reduces.
- near_memory (DRAM tables): RecNMP-style. The ranks read the missed rows at once, each at the
  channel's bandwidth, and a reduction unit per rank pools them; one pooled vector of D x b bits
  per bag crosses the channel (a bag whose rows the cache holds still sends its partial vector).
  Rank reads cost the DRAM's energy per bit less its channel I/O share, channel bits that share.
  A node that does not reduce (one-hot, or max pooling) sends its rows as they are.
- in_crossbar (tables in the ReRAM reserve that sum or average): ReCross-style. The table is
  programmed into crossbars and a bag's rows are driven together as a 0/1 input (1 bit, one input
  cycle), so the column currents add them: the crossbar arithmetic of a ceil(pooling) x D matrix
  at b bits applied once per bag prices it (conversions, drives, cell reads, shift-adds, lossless
  ADC width). Assumes a bag's rows share a crossbar's row block (ReCross places co-accessed rows
  together); the reserve's arrays are assumed to carry the chip's ADCs, whose area is not added.

Pooling factor 1 with uniform access and no cache costs exactly what recpim charged before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from recpim.arch.graph.embedding import EmbeddingAccess
from recpim.arch.graph.workload import OpKind, WorkloadGraph, WorkloadNode
from recpim.pim.config import ChipConfig
from recpim.pim.workload import Activity, Stage, StageKind
from recpim.units import ceil_div

from .crossbar import CrossbarMapping, map_mvm

if TYPE_CHECKING:
    from .embedding import EmbeddingPlacement
    from .result import MappingResult

CACHE_SLICES = 64   # the hot-row cache is shared out among tables in this many equal slices


@dataclass(frozen=True)
class TableLookup:
    """What one table's lookups cost per inference, where they run (counts per inference)."""

    mode: str                       # gather | near_memory | in_crossbar (what this table gets)
    bags: int
    pooling: float
    reduction: str
    access: str                     # where the access distribution came from
    cache_rows: int = 0
    hit_rate: float = 0.0
    cache_bits: int = 0             # bits read from the hot-row cache
    memory_bits: int = 0            # bits read from the table's memory (DRAM rows or the reserve)
    channel_bits: int = 0           # bits over the DRAM channel
    pool_ops: int = 0               # additions pooling the bags (on chip, or in the ranks near memory)
    reram_reads: int = 0            # reserve reads timed (rows, or in-crossbar reads)
    crossbar: CrossbarMapping | None = None   # in-crossbar: the arithmetic of one bag's read
    plain: bool = True              # costed exactly as before issue 25

    def to_json_dict(self) -> dict:
        data = {"mode": self.mode, "bags": self.bags, "pooling": self.pooling, "reduction": self.reduction,
                "access": self.access, "cache_rows": self.cache_rows, "hit_rate": self.hit_rate,
                "cache_bits": self.cache_bits, "memory_bits": self.memory_bits, "channel_bits": self.channel_bits,
                "pool_ops": self.pool_ops, "reram_reads": self.reram_reads}
        if self.crossbar is not None:
            data["crossbar"] = {"adc_conversions": self.crossbar.adc_conversions,
                                "rows_summed": self.crossbar.rows_summed,
                                "lossless_adc_bits": self.crossbar.lossless_adc_bits,
                                "chip_adc_bits": self.crossbar.chip_adc_bits}
        return data


def _row_bits(table: EmbeddingPlacement) -> int:
    return table.dim * table.bits


def share_cache(tables: list[tuple[EmbeddingPlacement, EmbeddingAccess]], cache_bits: int) -> dict[str, int]:
    """Rows of the hot-row cache per table: CACHE_SLICES equal slices, each to the table whose
    expected lookup bits it saves most (ties: the table holding fewer cache rows, then the earlier)."""
    rows = {table.name: 0 for table, _ in tables}
    if cache_bits <= 0 or not tables:
        return rows
    slice_bits = cache_bits / CACHE_SLICES
    for _ in range(CACHE_SLICES):
        best, best_gain = None, 0.0
        for table, access in tables:
            kept = rows[table.name]
            if kept >= table.rows:
                continue
            more = min(table.rows, kept + int(slice_bits // _row_bits(table)))
            if more == kept:
                continue
            weight = table.lookups * _row_bits(table)
            gain = weight * (access.access.hot_share(more, table.rows) - access.access.hot_share(kept, table.rows))
            # a clearly larger gain wins; equal gains (within float noise) go to the table holding fewer rows
            if gain > best_gain * (1 + 1e-9) or (best is not None and gain >= best_gain * (1 - 1e-9)
                                                  and kept < rows[best[0]]):
                best, best_gain = (table.name, more), gain
        if best is None:
            break
        rows[best[0]] = best[1]
    return rows


def lookup_costs(tables: list[EmbeddingPlacement], nodes: dict[str, WorkloadNode],
                 chip: ChipConfig) -> dict[str, TableLookup]:
    """Each placed table's TableLookup under the chip's chip.embedding options."""
    options = chip.chip.embedding
    accesses = _accesses(tables, nodes)
    in_crossbar = {t.name for t in tables if options.mode == "in_crossbar" and t.on_chip
                   and reads_in_crossbar(accesses[t.name])}
    cached = [(t, accesses[t.name]) for t in tables if t.name not in in_crossbar]
    cache_rows = share_cache(cached, int(options.cache_kb * 8 * 1024))
    near_memory = options.mode == "near_memory"
    out = {}
    # tables alike in what their costs read share one (immutable) TableLookup: a recommender's one-hot
    # fields are dozens of tables of one row width
    alike: dict[tuple, TableLookup] = {}
    for table in tables:
        access = accesses[table.name]
        if table.name in in_crossbar:
            xmap = _bag_crossbar(table, access, chip)
            out[table.name] = TableLookup(mode="in_crossbar", crossbar=xmap, reram_reads=xmap.read_steps,
                                          plain=False, bags=access.bags, pooling=access.pooling,
                                          reduction=access.reduction, access=access.access.source)
            continue
        kept = cache_rows.get(table.name, 0)
        # (the access by identity: a one-hot access is one object per lookup count, and hashing a frozen
        # dataclass costs a microsecond)
        key = None if kept else (id(access), table.lookups, table.dim, table.bits, table.on_chip)
        lookup = alike.get(key) if key is not None else None
        if lookup is None:
            lookup = _table_lookup(table, access, kept, near_memory)
            if key is not None:
                alike[key] = lookup
        out[table.name] = lookup
    return out


def _accesses(tables: list[EmbeddingPlacement], nodes: dict[str, WorkloadNode]) -> dict[str, EmbeddingAccess]:
    """Each table's EmbeddingAccess (WorkloadNode.embedding_access); the one-hot default built once per
    lookup count."""
    one_hots: dict[int, EmbeddingAccess] = {}
    accesses = {}
    for table in tables:
        node = nodes[table.name]
        access = node.embedding
        if access is None:
            access = one_hots.get(node.lookups)
            if access is None:
                access = one_hots[node.lookups] = node.embedding_access
        accesses[table.name] = access
    return accesses


def _table_lookup(table: EmbeddingPlacement, access: EmbeddingAccess, kept: int, near_memory: bool) -> TableLookup:
    """A gathered or near-memory table's TableLookup with `kept` rows in the hot-row cache."""
    reduces = access.reduction != "none"
    total_bits = table.lookups * _row_bits(table)
    common = dict(bags=access.bags, pooling=access.pooling, reduction=access.reduction, access=access.access.source)
    plain_access = access.pooling == 1 and access.access.uniform and not reduces
    hit = access.access.hot_share(kept, table.rows) if kept else 0.0
    memory_bits = math.ceil(total_bits * (1 - hit) - 1e-9) if kept else total_bits
    cache_bits = total_bits - memory_bits
    pool_ops = (table.lookups - access.bags) * table.dim if reduces else 0
    missed_rows = ceil_div(memory_bits, _row_bits(table))
    if table.on_chip:
        return TableLookup(mode="gather", cache_rows=kept, hit_rate=hit, cache_bits=cache_bits,
                           memory_bits=memory_bits, pool_ops=pool_ops, reram_reads=missed_rows,
                           plain=plain_access and not kept, **common)
    if near_memory and reduces:
        pooled_bits = access.bags * table.dim * table.bits if memory_bits else 0
        return TableLookup(mode="near_memory", cache_rows=kept, hit_rate=hit, cache_bits=cache_bits,
                           memory_bits=memory_bits, channel_bits=pooled_bits, pool_ops=pool_ops, plain=False, **common)
    return TableLookup(mode="gather", cache_rows=kept, hit_rate=hit, cache_bits=cache_bits,
                       memory_bits=memory_bits, channel_bits=memory_bits, pool_ops=pool_ops,
                       plain=plain_access and not kept, **common)


def reads_in_crossbar(access: EmbeddingAccess) -> bool:
    """Whether an on-chip table with this access is read in crossbars under mode in_crossbar: bags
    that sum or average, and one-hot lookups (a bag of one row, driven alone and read through the
    ADC: a table programmed into crossbars has no other read path). Max pooling and several rows
    kept apart are gathered."""
    return access.reduction in ("sum", "mean") or (access.reduction == "none" and access.pooling == 1)


def in_crossbar_fields(mapping: MappingResult, graph: WorkloadGraph) -> tuple[int, ...]:
    """The sparse fields (the `field` its lowering recorded on each embedding node) whose tables
    `mapping` reads in crossbars: what crossbar scoring passes through the ADC
    (CrossbarArithmetic.embedding_fields)."""
    fields = []
    for table in mapping.embeddings:
        if table.lookup is not None and table.lookup.mode == "in_crossbar":
            field = graph.node(table.name).extra.get("field")
            if field is not None:
                fields.append(int(field))
    return tuple(sorted(fields))


def _bag_crossbar(table: EmbeddingPlacement, access: EmbeddingAccess, chip: ChipConfig) -> CrossbarMapping:
    """The crossbar arithmetic of one bag: its ceil(pooling) rows of the table driven together
    (1-bit inputs), read out on the table's D columns at b bits, once per bag."""
    node = WorkloadNode(name=f"{table.name} (bags)", kind=OpKind.MVM, input_shapes=(), output_shape=(table.dim,),
                        activation_bits=1, weight_shape=(math.ceil(access.pooling - 1e-9), table.dim),
                        weight_bits=table.bits, vectors=access.bags)
    return map_mvm(node, chip)


def embedding_stage(table: EmbeddingPlacement, chip: ChipConfig, tile: int, predecessors: tuple[str, ...],
                    hops: int) -> Stage:
    """The pipeline stage of one table's lookups (its rows or pooled vectors delivered to `tile`)."""
    lookup = table.lookup
    name = table.name
    if lookup is None or lookup.plain:   # as before issue 25: whole rows, from the reserve or DRAM
        if table.on_chip:
            cells = table.lookups * table.dim * ceil_div(table.bits, chip.crossbar.bits_per_cell)
            return Stage(name=name, kind=StageKind.EMBEDDING, tile=tile, predecessors=predecessors,
                         reram_lookup_rows=table.lookups, activity=Activity(cell_read=cells, router_flit_hop=hops))
        bits = table.bits_read_per_inference
        return Stage(name=name, kind=StageKind.EMBEDDING, tile=tile, predecessors=predecessors, dram_bits=bits,
                     activity=Activity(dram_bit=bits, router_flit_hop=hops))
    if lookup.mode == "in_crossbar":
        x = lookup.crossbar
        return Stage(name=name, kind=StageKind.EMBEDDING, tile=tile, predecessors=predecessors,
                     reram_lookup_rows=lookup.reram_reads,
                     activity=Activity(adc_conversion=x.adc_conversions, sample_hold=x.adc_conversions,
                                       dac_drive=x.dac_drives, row_periphery=x.dac_drives,
                                       column_periphery=x.adc_conversions, cell_read=x.cell_reads,
                                       shift_add=x.shift_add_ops, router_flit_hop=hops))
    cache = dict(embedding_cache_bit=lookup.cache_bits)
    if lookup.mode == "near_memory":
        # the cached rows are pooled on chip, the rest in the ranks
        on_chip_ops = ceil_div(lookup.pool_ops * lookup.cache_bits, lookup.cache_bits + lookup.memory_bits)
        return Stage(name=name, kind=StageKind.EMBEDDING, tile=tile, predecessors=predecessors,
                     dram_bits=lookup.channel_bits, dram_rank_bits=lookup.memory_bits, digital_ops=on_chip_ops,
                     activity=Activity(dram_rank_bit=lookup.memory_bits, dram_channel_bit=lookup.channel_bits,
                                       near_memory_op=lookup.pool_ops - on_chip_ops, vector_op=on_chip_ops,
                                       router_flit_hop=hops, **cache))
    if table.on_chip:
        cells = ceil_div(lookup.memory_bits, table.bits) * ceil_div(table.bits, chip.crossbar.bits_per_cell)
        return Stage(name=name, kind=StageKind.EMBEDDING, tile=tile, predecessors=predecessors,
                     reram_lookup_rows=lookup.reram_reads, digital_ops=lookup.pool_ops,
                     activity=Activity(cell_read=cells, vector_op=lookup.pool_ops, router_flit_hop=hops, **cache))
    return Stage(name=name, kind=StageKind.EMBEDDING, tile=tile, predecessors=predecessors,
                 dram_bits=lookup.channel_bits, digital_ops=lookup.pool_ops,
                 activity=Activity(dram_bit=lookup.channel_bits, vector_op=lookup.pool_ops, router_flit_hop=hops,
                                   **cache))

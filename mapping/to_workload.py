"""MappingResult + WorkloadGraph -> PipelineWorkload, the cost engines' input.

Each node with work becomes a pipeline stage on its tile: MVM layers on their crossbars, digital
ops on their tile's vector units, embedding tables on DRAM or on-chip ReRAM (delivered to the tile
of their first consumer). Free nodes (input, concat, reshape, output) and ReLUs/pools fused into a
layer's output path vanish: a stage's predecessors are its nearest ancestors with work. Activity
counts per inference come from the mapping; the engines only price them and time them.

Buffers (one per tile): a stage writes the inputs it receives on each tile into that tile's buffer
and reads back what it computes on; producers send outputs from their output registers, never
through their own buffer. An MVM layer spread over tiles does this on every tile holding its
crossbars, for the share of its input rows those crossbars hold (mapping.input_share_by_tile).
With line buffers (tile.buffer.input_reuse) a convolution reads each input element once instead
of its whole k x k window for every output position. Partial sums from other tiles are written to
the home tile's buffer and read back by its adders.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from math import ceil, isqrt

from recpim.arch.graph.workload import FREE_KINDS, WorkloadGraph, WorkloadNode
from recpim.pim.config import ChipConfig
from recpim.pim.workload import Activity, PipelineWorkload, Stage, StageKind, TileBuffer, Transfer, TransferKind
from recpim.units import ceil_div

from .crossbar import wasted_conversions_note
from .embedding_lookup import embedding_stage
from .memo import graph_edges
from .result import MappingResult, MvmLayerMapping
from .transfer_table import TransferTable


def _work_predecessors(graph: WorkloadGraph, nodes: list[WorkloadNode], has_work: set[str]) -> dict[str, set[str]]:
    """Per node: its nearest ancestors with work, looking through nodes without (`nodes` in
    topological order, so each node's predecessors are resolved before it)."""
    nearest: dict[str, set[str]] = {}
    inputs = graph_edges(graph).inputs
    for node in nodes:
        found: set[str] = set()
        for producer, _ in inputs[node.name]:
            if producer in has_work:
                found.add(producer)
            else:
                found |= nearest[producer]
        nearest[node.name] = found
    return nearest


def _mvm_buffers(layer: MvmLayerMapping, line_buffers: bool) -> tuple[TileBuffer, ...]:
    """Each tile writes its share of the input tensor once and reads its share of what the
    crossbars take: the whole window of every vector, or each element once with line buffers."""
    window_elements = layer.crossbar.vectors * layer.crossbar.k_rows
    received = min(window_elements, layer.input_elements)
    read = received if line_buffers else window_elements
    bits = layer.crossbar.activation_bits
    all_rows = layer.crossbar.k_rows * layer.placement.replication   # a tile's share: its rows / all_rows
    return tuple(TileBuffer(tile, write_bits=-(-rows * received * bits // all_rows),
                            read_bits=-(-rows * read * bits // all_rows))
                 for tile, rows in layer.placement.input_rows_by_tile)


def _resident_bits(node: WorkloadNode, layer: MvmLayerMapping | None, buffer: TileBuffer, line_buffers: bool,
                   received_bits: int) -> int:
    """What a stage must hold in a tile's buffer at once (its share there of `received_bits`): for a
    convolution read through line buffers, the kh input rows its windows span plus the window being
    built; for a dense layer (or a convolution without line buffers), all it receives there, its
    input vector."""
    if layer is None or not line_buffers or layer.input_elements == layer.crossbar.vectors * layer.crossbar.k_rows:
        return buffer.write_bits
    channels, height = node.input_shapes[0][-3], node.input_shapes[0][-2]
    kernel_rows = max(1, isqrt(layer.crossbar.k_rows // channels))
    window_bits = layer.crossbar.k_rows * layer.crossbar.activation_bits
    share = buffer.write_bits / received_bits if received_bits else 1.0
    return min(buffer.write_bits, ceil(buffer.write_bits * kernel_rows / height) + ceil(window_bits * share))


def spill_to_dram(nodes: dict[str, WorkloadNode], stages: list[Stage], layers: dict[str, MvmLayerMapping],
                  chip: ChipConfig, line_buffers: bool) -> tuple[list[Stage], list[str]]:
    """Check every tile's buffer against what its stages must hold at once (the window a layer works
    on: _resident_bits). Where it does not fit, the overflowing share of each stage's inputs on that
    tile is written to DRAM and read back (2 x its bits, timed on the DRAM channel): a buffer too
    small costs what it would, it is never silently large enough. The notes name each spilling layer
    and its bytes."""
    capacity_bits = int(chip.tile.buffer.size_kb * 8 * 1024)
    resident: dict[int, int] = defaultdict(int)
    for stage in stages:
        received = sum(b.write_bits for b in stage.buffers)
        for buffer in stage.buffers:
            resident[buffer.tile] += _resident_bits(nodes[stage.name], layers.get(stage.name), buffer,
                                                    line_buffers, received)
    over = {tile: bits for tile, bits in resident.items() if bits > capacity_bits}
    if not over:
        return stages, []
    spilled = []
    spilled_bytes: dict[str, int] = {}
    for stage in stages:
        bits = sum(ceil(b.write_bits * (over[b.tile] - capacity_bits) / over[b.tile]) for b in stage.buffers
                   if b.tile in over)
        if bits:
            stage = replace(stage, dram_bits=stage.dram_bits + 2 * bits,
                            activity=stage.activity.with_added(dram_bit=2 * bits))
            spilled_bytes[stage.name] = ceil_div(bits, 8)
        spilled.append(stage)
    notes = [f"tile {tile}'s buffer ({chip.tile.buffer.size_kb:g} KB) is {bits / 8192:.1f} KB short of what its "
             "stages must hold at once: the overflow goes to DRAM and back (raise tile.buffer.size_kb to "
             "avoid it)" for tile, bits in sorted(over.items()) for bits in [bits - capacity_bits]]
    notes += [f"layer {name} spills {num_bytes:,} bytes of its inputs per inference to DRAM (and reads them back)"
              for name, num_bytes in spilled_bytes.items()]
    return spilled, notes


def workload_from_mapping(graph: WorkloadGraph, mapping: MappingResult, chip: ChipConfig) -> PipelineWorkload:
    width = chip.tile.buffer.width_bits
    flit_bits = chip.chip.noc.flit_bits
    line_buffers = chip.tile.buffer.input_reuse == "line_buffer"
    fused = {d.name: d.fused_into for d in mapping.digital if d.fused_into}
    nodes = graph.nodes()
    has_work = {n.name for n in nodes if n.kind not in FREE_KINDS and n.name not in fused}
    work_predecessors = _work_predecessors(graph, nodes, has_work)
    mvm = {layer.name: layer for layer in mapping.layers}
    digital = {d.name: d for d in mapping.digital}
    tables = {t.name: t for t in mapping.embeddings}
    consumer_tile = {}
    for io in mapping.io_transfers:
        consumer_tile.setdefault(io.node, io.tile)
    fused_ops: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for name, layer_name in fused.items():
        fused_ops[layer_name]["maxpool_op" if digital[name].kind == "pool" else "vector_op"] += digital[name].ops

    # Inter-tile transfers: one per (producer stage, consumer stage) pair; shares of a consumer split
    # over several tiles are merged (their bytes add; the longest route sets the path). A layer's
    # partial sums (a reduction chain towards its home), and outputs its copies send to a fused op on
    # its home tile, stay inside its stage: they are timed there, each piece on its own path; the
    # chain's tiles add at once, so the busiest one's additions are timed.
    merged: dict[tuple[str, str], tuple[int, int]] = {}   # -> (bytes, hops of the longest route)
    inside: dict[str, list[Transfer]] = defaultdict(list)
    adds_on_tile: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    psum_bits: dict[str, int] = defaultdict(int)
    psum_bits_on_tile: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    flit_hops: dict[str, int] = defaultdict(int)
    # (read row by row: routes are built only for the transfers a stage keeps)
    mesh = TransferTable.of(mapping.transfers)
    longest: dict[tuple[str, str], int] = {}      # (producer, consumer) -> the row of its longest route
    for index, ((producer, consumer, num_bytes, kind, _, _, dst_tile), hops) in enumerate(zip(mesh.rows, mesh.hops,
                                                                                              strict=True)):
        if fused:
            producer, consumer = fused.get(producer, producer), fused.get(consumer, consumer)
        flit_hops[producer] += -(-num_bytes * 8 // flit_bits) * hops
        if consumer == producer:
            inside[producer].append(Transfer(producer, producer, num_bytes, mesh.route(index),
                                             TransferKind.PARTIAL_SUM))
            if kind == TransferKind.PARTIAL_SUM:   # each arriving partial sum is added to the tile's own
                adds_on_tile[producer][dst_tile] += ceil_div(num_bytes * 8, mvm[producer].crossbar.partial_sum_bits)
                psum_bits[producer] += num_bytes * 8
                psum_bits_on_tile[producer][dst_tile] += num_bytes * 8
            # (outputs of copies streaming to a fused op pass its unit on the way, not the buffer)
            continue
        key = (producer, consumer)
        old = merged.get(key)
        if old is None:
            merged[key] = (num_bytes, hops)
            if hops:
                longest[key] = index
        else:
            merged[key] = (old[0] + num_bytes, max(hops, old[1]))
            if hops > old[1]:
                longest[key] = index

    stages = []
    for node in nodes:
        if node.name not in has_work:
            continue
        predecessors = tuple(sorted(work_predecessors[node.name]))
        hops = flit_hops.get(node.name, 0)
        if node.name in mvm:
            layer = mvm[node.name]
            xmap, placement = layer.crossbar, layer.placement
            in_bits, out_bits = xmap.input_bits_per_vector, xmap.output_bits_per_vector
            buffers = _mvm_buffers(layer, line_buffers)
            adds = adds_on_tile[node.name]
            tile_adds = max(placement.tile_adds_by_tile, key=lambda item: item[1], default=(placement.home_tile, 0))
            conversions = xmap.adc_conversions
            stages.append(Stage(
                name=node.name, kind=StageKind.MVM, tile=placement.home_tile, predecessors=predecessors,
                replicas=placement.replication, vectors=xmap.vectors, steps_per_vector=xmap.input_cycles,
                row_groups=xmap.row_groups, dac_steps_per_read=xmap.dac_steps_per_read,
                conversions_per_adc_per_read=placement.conversions_per_adc_per_read, buffers=buffers,
                partial_sums=tuple(inside[node.name]), psum_adds=max(adds.values(), default=0),
                # the chain's tiles buffer what reaches them at once: the busiest one is timed
                psum_buffer_bits=max(psum_bits_on_tile[node.name].values(), default=0),
                psum_buffer_tile=max(psum_bits_on_tile[node.name].items(), key=lambda item: item[1],
                                     default=(placement.home_tile, 0))[0], macs=layer.macs,
                tile_adds=tile_adds[1], tile_adds_tile=tile_adds[0],
                activity=Activity(
                    adc_conversion=conversions,
                    sample_hold=conversions,             # every conversion samples one held column
                    dac_drive=xmap.dac_drives,
                    row_periphery=xmap.dac_drives,       # each driven row passes its switch matrix
                    column_periphery=conversions,        # each conversion reads a column through its mux
                    cell_read=xmap.cell_reads,
                    shift_add=xmap.shift_add_ops,
                    register_byte=xmap.vectors * ceil_div(in_bits + out_bits, 8),
                    # inputs written and read on every tile, partial sums written and read at home
                    buffer_access=sum(ceil_div(b.write_bits, width) + ceil_div(b.read_bits, width)
                                      for b in buffers) + 2 * ceil_div(psum_bits[node.name], width),
                    bus_bit=sum(b.read_bits for b in buffers) + xmap.vectors * out_bits,
                    psum_add=sum(adds.values()),
                    **fused_ops[node.name],
                    router_flit_hop=hops,
                    tile_add=sum(n for _, n in placement.tile_adds_by_tile),
                ),
            ))
        elif node.name in digital:
            op = digital[node.name]
            in_bits = sum(_bits(shape, node.activation_bits) for shape in node.input_shapes)
            out_bits = _bits(node.output_shape, node.activation_bits)
            work = op.ops + op.macs   # one MAC per lane and cycle, like one elementwise op
            stages.append(Stage(
                name=node.name, kind=StageKind.DIGITAL, tile=op.tile, predecessors=predecessors,
                digital_ops=work, buffers=(TileBuffer(op.tile, write_bits=in_bits, read_bits=in_bits),), macs=op.macs,
                activity=Activity(vector_op=work, buffer_access=2 * ceil_div(in_bits, width),
                                  bus_bit=in_bits + out_bits, router_flit_hop=hops),
            ))
        elif node.name in tables:
            # Rows (or pooled vectors) go from DRAM or the embedding arrays to the consumers' tiles,
            # which buffer them; embedding_lookup.py prices the lookups.
            stages.append(embedding_stage(tables[node.name], chip, consumer_tile.get(node.name, 0), predecessors,
                                          hops))
    stages, notes = spill_to_dram({node.name: node for node in nodes}, stages, mvm, chip, line_buffers)
    wasted = wasted_conversions_note(chip) if mvm else None
    if wasted:
        notes = [wasted, *notes]
    transfers = tuple(Transfer(p, c, num_bytes, mesh.route(longest[(p, c)]) if (p, c) in longest else ())
                      for (p, c), (num_bytes, _) in merged.items())
    reprogramming = mapping.reprogramming
    return PipelineWorkload(
        name=graph.name, stages=tuple(stages), transfers=transfers, tiles_used=max(1, mapping.tiles_used),
        notes=tuple(notes),
        macs_per_inference=graph.total_macs,
        reprogram_pj_per_batch=reprogramming.write_energy_pj_per_batch if reprogramming.rounds > 1 else 0.0,
        reprogram_ns_per_batch=reprogramming.write_latency_ns_per_batch if reprogramming.rounds > 1 else 0.0,
    )


def _bits(shape: tuple[int, ...], bits: int) -> int:
    count = 1
    for dim in shape:
        count *= dim
    return count * bits

"""MappingResult + WorkloadGraph -> PipelineWorkload, the cost engines' input.

Each node with work becomes a pipeline stage on its tile: MVM layers on their crossbars, digital
ops on their tile's vector units, embedding tables on DRAM or on-chip ReRAM (delivered to the tile
of their first consumer). Free nodes (input, concat, reshape, output) vanish: a stage's
predecessors are its nearest ancestors with work. Activity counts per inference come from the
mapping; the engines only price them and time them.
"""

from __future__ import annotations

from recpim.arch.graph import FREE_KINDS, WorkloadGraph
from recpim.pim.config import ChipConfig
from recpim.pim.workload import PipelineWorkload, Stage, StageKind, Transfer

from .crossbar import ceil_div
from .embedding import ON_CHIP
from .result import MappingResult


def _work_predecessors(graph: WorkloadGraph, name: str, has_work: set[str]) -> tuple[str, ...]:
    found: list[str] = []
    stack = list(graph.predecessors(name))
    seen: set[str] = set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if node in has_work:
            found.append(node)
        else:
            stack.extend(graph.predecessors(node))
    return tuple(sorted(found))


def _router_id(coord: tuple[int, int], mesh_cols: int) -> int:
    return coord[0] * mesh_cols + coord[1]


def workload_from_mapping(graph: WorkloadGraph, mapping: MappingResult, chip: ChipConfig) -> PipelineWorkload:
    width = chip.tile.buffer.width_bits
    flit_bits = chip.chip.noc.flit_bits
    has_work = {n.name for n in graph.nodes() if n.kind not in FREE_KINDS}
    mvm = {layer.name: layer for layer in mapping.layers}
    digital = {d.name: d for d in mapping.digital}
    tables = {t.name: t for t in mapping.embeddings}
    consumer_tile = {}
    for io in mapping.io_transfers:
        consumer_tile.setdefault(io.node, io.tile)

    # Inter-tile transfers: one per (producer, consumer) pair; shares of a consumer split over several
    # tiles are merged (their bytes add; the longest route sets the path). Partial sums of a layer
    # spread over tiles are charged as NoC energy of that layer.
    merged: dict[tuple[str, str], tuple[int, tuple]] = {}
    flit_hops: dict[str, int] = {}
    for transfer in mapping.transfers:
        flit_hops[transfer.producer] = flit_hops.get(transfer.producer, 0) + \
            ceil_div(transfer.num_bytes * 8, flit_bits) * transfer.hops
        if transfer.kind != "activation":
            continue
        key = (transfer.producer, transfer.consumer)
        links = tuple((_router_id(a, chip.chip.mesh_cols), _router_id(b, chip.chip.mesh_cols))
                      for a, b in zip(transfer.route, transfer.route[1:], strict=False))
        old_bytes, old_links = merged.get(key, (0, ()))
        merged[key] = (old_bytes + transfer.num_bytes, links if len(links) > len(old_links) else old_links)

    stages = []
    for node in graph.nodes():
        if node.name not in has_work:
            continue
        predecessors = _work_predecessors(graph, node.name, has_work)
        noc = {"router_flit_hop": flit_hops.get(node.name, 0)}
        if node.name in mvm:
            layer = mvm[node.name]
            in_bits, out_bits = layer.input_bits_per_vector, layer.output_bits_per_vector
            stages.append(Stage(
                name=node.name, kind=StageKind.MVM, tile=layer.home_tile, predecessors=predecessors,
                replicas=layer.replication, vectors=layer.vectors, steps_per_vector=layer.input_cycles,
                row_groups=layer.row_groups, conversions_per_adc_per_read=layer.conversions_per_adc_per_read,
                input_bits_per_vector=in_bits, output_bits_per_vector=out_bits, macs=layer.macs,
                activity={
                    "adc_conversion": layer.adc_conversions,
                    "sample_hold": layer.adc_conversions,   # every conversion samples one held column
                    "dac_drive": layer.dac_drives,
                    "cell_read": layer.cell_reads,
                    "shift_add": layer.shift_add_ops,
                    "register_byte": layer.vectors * ceil_div(in_bits + out_bits, 8),
                    "buffer_access": (ceil_div(layer.vectors * in_bits, width)
                                      + ceil_div(layer.vectors * out_bits, width)),
                    "bus_bit": layer.vectors * (in_bits + out_bits),
                    **noc,
                },
            ))
        elif node.name in digital:
            op = digital[node.name]
            in_bits = sum(_bits(shape, node.activation_bits) for shape in node.input_shapes)
            out_bits = _bits(node.output_shape, node.activation_bits)
            work = op.ops + op.macs   # one MAC per lane and cycle, like one elementwise op
            stages.append(Stage(
                name=node.name, kind=StageKind.DIGITAL, tile=op.tile, predecessors=predecessors,
                digital_ops=work, input_bits_per_vector=in_bits, output_bits_per_vector=out_bits, macs=op.macs,
                activity={"vector_op": work, "buffer_access": ceil_div(in_bits, width) + ceil_div(out_bits, width),
                          "bus_bit": in_bits + out_bits, **noc},
            ))
        elif node.name in tables:
            table = tables[node.name]
            out_bits = table.bits_read_per_inference
            on_chip = table.location == ON_CHIP
            activity = {"buffer_access": ceil_div(out_bits, width), **noc}
            if on_chip:
                activity["cell_read"] = table.lookups * table.dim * ceil_div(table.bits, chip.crossbar.bits_per_cell)
            else:
                activity["dram_bit"] = out_bits
            stages.append(Stage(
                name=node.name, kind=StageKind.EMBEDDING, tile=consumer_tile.get(node.name, 0),
                predecessors=predecessors, output_bits_per_vector=out_bits,
                dram_bits=0 if on_chip else out_bits, reram_lookup_rows=table.lookups if on_chip else 0,
                activity=activity,
            ))
    transfers = tuple(Transfer(p, c, num_bytes, links) for (p, c), (num_bytes, links) in merged.items())
    reprogramming = mapping.reprogramming
    return PipelineWorkload(
        name=graph.name, stages=tuple(stages), transfers=transfers, tiles_used=max(1, mapping.tiles_used),
        macs_per_inference=graph.total_macs,
        reprogram_pj_per_batch=reprogramming.write_energy_pj_per_batch if reprogramming.rounds > 1 else 0.0,
        reprogram_ns_per_batch=reprogramming.write_latency_ns_per_batch if reprogramming.rounds > 1 else 0.0,
    )


def _bits(shape: tuple[int, ...], bits: int) -> int:
    count = 1
    for dim in shape:
        count *= dim
    return count * bits

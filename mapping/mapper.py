"""map_model: a WorkloadGraph on a ChipConfig -> MappingResult.

Stages, in order: crossbar arithmetic of every MVM (crossbar.py) -> capacity check -> replication
(replication.py) -> PEs and tiles along the snake walk (placement.py) -> digital ops to tiles
(digital.py) -> embedding tables to on-chip ReRAM or DRAM (embedding.py) -> mesh traffic
(traffic.py) -> per-tile usage and reprogramming cost (occupancy.py).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import replace
from math import ceil, log2

from recpim.arch.graph import OpKind, WorkloadGraph, WorkloadNode
from recpim.errors import CapacityError
from recpim.pim.config import ChipConfig

from .crossbar import CrossbarMapping, ceil_div, map_mvm
from .digital import assign_digital, is_free
from .embedding import place_embeddings
from .occupancy import adc_load, write_cost
from .placement import Segment, allocate, chip_pes, pes_needed, snake_coords
from .replication import balance_replicas
from .result import DigitalMapping, MappingResult, MvmLayerMapping, Reprogramming, TileUsage
from .traffic import compute_traffic, layer_shares


def map_model(graph: WorkloadGraph, chip: ChipConfig) -> MappingResult:
    """Map every node of `graph` onto `chip` (see the module docs of recpim.mapping for the rules).

    Raises CapacityError when the MVM layers need more PEs than the chip has and
    chip.mapping.time_multiplexed is off; ConfigError for a malformed MVM or embedding node.
    """
    nodes = graph.nodes()
    mvm_nodes = [node for node in nodes if node.kind == OpKind.MVM]
    xmaps = {node.name: map_mvm(node, chip) for node in mvm_nodes}
    pes_one_copy = sum(pes_needed(xmap.crossbars, chip) for xmap in xmaps.values())
    fits = pes_one_copy <= chip_pes(chip)
    if not fits and not chip.mapping.time_multiplexed:
        raise capacity_error(graph.name, xmaps, chip)

    policy = chip.mapping.replication if fits else "none"
    replicas = balance_replicas(
        [(name, x.crossbars, x.read_steps // x.vectors, x.vectors) for name, x in xmaps.items()], chip, policy)
    segments, rounds = allocate([(name, x.crossbars * replicas[name]) for name, x in xmaps.items()], chip,
                                time_multiplexed=not fits)
    layers = {node.name: _layer(node, xmaps[node.name], replicas[node.name], tuple(segments[node.name]), chip)
              for node in mvm_nodes}
    layers = {name: replace(layer, input_share_by_tile=tuple(sorted(layer_shares(xmaps[name], layer)[0].items())))
              for name, layer in layers.items()}

    coords = snake_coords(chip.chip.tiles, chip.chip.mesh_cols)
    home = {name: (layer.home_round, layer.home_tile) for name, layer in layers.items()}
    digital = assign_digital(graph, nodes, home, fuse_activations=chip.mapping.fuse_activations)
    embeddings = place_embeddings(nodes, chip)
    transfers, io_transfers, intra = compute_traffic(graph, layers, xmaps, digital, embeddings, coords)

    notes = []
    if not fits:
        notes.append(f"time-multiplexed: {pes_one_copy} PEs needed, {chip_pes(chip)} on chip; "
                     f"{rounds} rounds, no replication")
    return MappingResult(
        model=graph.name,
        chip=chip.name,
        weight_encoding=chip.weight_encoding,
        replication_policy=policy,
        time_multiplexed=not fits,
        crossbar_rows=chip.crossbar.rows,
        crossbar_cols=chip.crossbar.cols,
        crossbars_available=chip.crossbars_total,
        pes_available=chip_pes(chip),
        tiles_available=chip.chip.tiles,
        tile_coords=tuple(coords),
        layers=tuple(layers.values()),
        digital=tuple(digital),
        embeddings=tuple(embeddings.values()),
        free_nodes=tuple(node.name for node in nodes if is_free(node)),
        transfers=tuple(transfers),
        io_transfers=tuple(io_transfers),
        intra_tile_bytes_per_inference=intra,
        tiles=_tile_usage(layers, digital, coords),
        reprogramming=_reprogramming(layers, xmaps, rounds, chip),
        notes=tuple(notes),
    )


def _layer(node: WorkloadNode, xmap: CrossbarMapping, copies: int, segments: tuple[Segment, ...],
           chip: ChipConfig) -> MvmLayerMapping:
    on_tile: Counter = Counter()                   # (round, tile) -> crossbars
    copy_on_tile: dict[int, Counter] = defaultdict(Counter)
    for segment in segments:
        on_tile[(segment.round, segment.tile)] += segment.crossbars
        first, end = segment.crossbar_first, segment.crossbar_first + segment.crossbars
        for copy in range(first // xmap.crossbars, (end - 1) // xmap.crossbars + 1):
            overlap = min(end, (copy + 1) * xmap.crossbars) - max(first, copy * xmap.crossbars)
            copy_on_tile[copy][(segment.round, segment.tile)] += overlap
    # Home: the (round, tile) with most crossbars; ties go to the later one (nearer its consumers).
    home_round, home_tile = _busiest(on_tile)
    copy_homes = tuple(_busiest(copy_on_tile[copy])[1] for copy in range(copies))
    adcs, conversions_per_read = adc_load(xmap, segments, chip)
    return MvmLayerMapping(
        name=node.name,
        source=node.source,
        weight_shape=(xmap.k_rows, xmap.n_cols),
        weight_bits=xmap.weight_bits,
        activation_bits=xmap.activation_bits,
        vectors=xmap.vectors,
        macs=node.macs or xmap.k_rows * xmap.n_cols * xmap.vectors,
        encoding=xmap.encoding,
        bit_slices=xmap.bit_slices,
        row_tiles=xmap.row_tiles,
        col_tiles=xmap.col_tiles,
        crossbars_per_copy=xmap.crossbars,
        replication=copies,
        crossbars=xmap.crossbars * copies,
        pes=sum(segment.pes for segment in segments),
        tiles=tuple(sorted({segment.tile for segment in segments})),
        home_tile=home_tile,
        home_round=home_round,
        copy_home_tiles=copy_homes,
        segments=segments,
        columns_used_per_copy=xmap.columns_used,
        cells_used_per_copy=xmap.cells_used,
        cell_utilization=xmap.cell_utilization,
        input_cycles=xmap.input_cycles,
        row_groups=xmap.row_groups,
        dac_steps_per_read=xmap.dac_steps_per_read,
        dac_steps_per_inference=xmap.dac_steps,
        rows_summed=xmap.rows_summed,
        adc_conversions=xmap.adc_conversions,
        dac_drives=xmap.dac_drives,
        cell_reads=xmap.cell_reads,
        shift_add_ops=xmap.shift_add_ops,
        read_steps_per_inference=xmap.read_steps,
        read_steps_per_inference_replicated=ceil_div(xmap.vectors, copies) * xmap.input_cycles * xmap.row_groups,
        pipeline_read_steps=ceil_div(xmap.vectors, copies) * xmap.input_cycles * xmap.row_groups,
        adcs=adcs,
        conversions_per_adc_per_read=conversions_per_read,
        input_bits_per_vector=xmap.k_rows * xmap.activation_bits,
        output_bits_per_vector=xmap.n_cols * xmap.activation_bits,
        input_elements=_window_source_elements(node, xmap),
        partial_sum_bits=xmap.activation_bits + xmap.weight_bits + ceil(log2(xmap.k_rows)),
        lossless_adc_bits=xmap.lossless_adc_bits,
        chip_adc_bits=xmap.chip_adc_bits,
        adc_lossy=xmap.adc_lossy,
    )


def _window_source_elements(node: WorkloadNode, xmap: CrossbarMapping) -> int:
    """Elements a layer's input vectors are cut from: a convolution's feature map (C, H, W), whose
    overlapping windows line buffers reuse; vectors x K for every other layer (no overlap)."""
    windows = xmap.k_rows * xmap.vectors
    if not node.input_shapes or len(node.input_shapes[0]) < 3:
        return windows
    count = 1
    for dim in node.input_shapes[0]:
        count *= dim
    return min(count, windows)


def _busiest(counts: Counter) -> tuple[int, int]:
    return max(counts, key=lambda key: (counts[key], key))


def capacity_error(model: str, xmaps: dict[str, CrossbarMapping], chip: ChipConfig) -> CapacityError:
    """A CapacityError listing what every layer needs and what the chip has (also as attributes)."""
    per_layer = [(name, x.crossbars, pes_needed(x.crossbars, chip)) for name, x in xmaps.items()]
    crossbars = sum(c for _, c, _ in per_layer)
    pes = sum(p for _, _, p in per_layer)
    tiles = ceil_div(pes, chip.tile.pes)
    lines = [
        f"model {model!r} does not fit chip {chip.name!r}: needs {crossbars} crossbars in {pes} PEs "
        f"({tiles} tiles); the chip has {chip.crossbars_total} crossbars in {chip_pes(chip)} PEs "
        f"({chip.chip.tiles} tiles of {chip.tile.pes} PEs x {chip.pe.crossbars} crossbars; a PE holds one layer).",
        "per layer (crossbars of one copy at its bits, PEs):",
        *[f"  {name}: {c} crossbars, {p} PEs" for name, c, p in per_layer],
        "allowed: set mapping.time_multiplexed: true, lower the bits, or use a larger chip.",
    ]
    error = CapacityError("\n".join(lines))
    error.per_layer = per_layer
    error.crossbars_needed, error.crossbars_available = crossbars, chip.crossbars_total
    error.pes_needed, error.pes_available = pes, chip_pes(chip)
    error.tiles_needed, error.tiles_available = tiles, chip.chip.tiles
    return error


def _tile_usage(layers: dict[str, MvmLayerMapping], digital: list[DigitalMapping],
                coords: list[tuple[int, int]]) -> tuple[TileUsage, ...]:
    pes: dict[tuple[int, int], int] = defaultdict(int)       # (tile, round) -> PEs
    crossbars: dict[tuple[int, int], int] = defaultdict(int)
    names: dict[int, list[str]] = defaultdict(list)
    for layer in layers.values():
        for segment in layer.segments:
            pes[(segment.tile, segment.round)] += segment.pes
            crossbars[(segment.tile, segment.round)] += segment.crossbars
            if layer.name not in names[segment.tile]:
                names[segment.tile].append(layer.name)
    ops: dict[int, list[DigitalMapping]] = defaultdict(list)
    for node in digital:
        ops[node.tile].append(node)
    usage = []
    for tile in sorted(set(names) | set(ops)):
        usage.append(TileUsage(
            tile=tile,
            mesh_coord=coords[tile],
            pes_used=max((v for (t, _), v in pes.items() if t == tile), default=0),
            crossbars_used=max((v for (t, _), v in crossbars.items() if t == tile), default=0),
            layers=tuple(names[tile]),
            digital_nodes=tuple(node.name for node in ops[tile]),
            digital_ops=sum(node.ops for node in ops[tile]),
            digital_macs=sum(node.macs for node in ops[tile]),
        ))
    return tuple(usage)


def _reprogramming(layers: dict[str, MvmLayerMapping], xmaps: dict[str, CrossbarMapping], rounds: int,
                   chip: ChipConfig) -> Reprogramming:
    cells: dict[int, int] = defaultdict(int)
    rows_per_pe: dict[tuple[int, int, int], int] = defaultdict(int)
    for name, layer in layers.items():
        layer_cells, layer_rows = write_cost(xmaps[name], layer.segments, chip)
        for round_index, count in layer_cells.items():
            cells[round_index] += count
        for key, count in layer_rows.items():
            rows_per_pe[key] += count
    cells_per_round = tuple(cells.get(r, 0) for r in range(rounds))
    rows_per_round = tuple(max((v for k, v in rows_per_pe.items() if k[0] == r), default=0) for r in range(rounds))
    rewritten = rounds > 1
    return Reprogramming(
        rounds=rounds,
        cells_written_per_round=cells_per_round,
        rows_written_per_round=rows_per_round,
        write_energy_pj_per_batch=sum(cells_per_round) * chip.crossbar.write_energy_pj_per_cell if rewritten else 0.0,
        write_latency_ns_per_batch=sum(rows_per_round) * chip.crossbar.write_latency_ns_per_row if rewritten else 0.0,
    )

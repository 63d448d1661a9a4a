"""map_model: a WorkloadGraph on a ChipConfig -> MappingResult.

Stages, in order: crossbar arithmetic of every MVM (crossbar.py) -> capacity check -> replication
(replication.py) -> PEs and tiles along the snake walk (placement.py) -> digital ops to tiles
(digital.py) -> embedding tables to on-chip ReRAM or DRAM (embedding.py) -> mesh traffic
(traffic.py) -> per-tile usage and reprogramming cost (occupancy.py).
"""

from __future__ import annotations

from collections import defaultdict

from recpim.arch.graph.workload import FREE_KINDS, OpKind, WorkloadGraph, WorkloadNode
from recpim.errors import CapacityError
from recpim.pim.config import ChipConfig
from recpim.units import ceil_div

from .crossbar import CrossbarMapping, map_mvm, wasted_conversions_note
from .digital import assign_digital, upstream_flows
from .embedding import place_embeddings
from .layer_placement import place_layer
from .memo import cached_mapping, chip_key, per_chip
from .occupancy import PeProfile
from .placement import allocate, chip_pes, pes_needed, snake_coords_tuple
from .replication import balance_replicas
from .result import DigitalMapping, MappingResult, MvmLayerMapping, Reprogramming, TileUsage
from .traffic import compute_traffic


def map_model(graph: WorkloadGraph, chip: ChipConfig) -> MappingResult:
    """Map every node of `graph` onto `chip` (see the module docs of recpim.mapping for the rules).

    Raises CapacityError when the MVM layers need more PEs than the chip has and
    chip.mapping.time_multiplexed is off; ConfigError for a malformed MVM or embedding node.
    Results are memoised per graph version and chip (memo.py): mapping a graph again is free.
    """
    key = chip_key(chip)
    return cached_mapping(graph, key, lambda: _map_model(graph, chip, key))


def _map_model(graph: WorkloadGraph, chip: ChipConfig, key: str) -> MappingResult:
    nodes = graph.nodes()
    mvm = OpKind.MVM   # (an enum member read once: OpKind.MVM costs an attribute lookup per node)
    mvm_nodes = [node for node in nodes if node.kind == mvm]
    xmaps, shapes = _crossbar_mappings(mvm_nodes, chip, key)
    per_pe = chip.pe.crossbars
    pes_one_copy = sum([-(-xmap.crossbars // per_pe) for xmap in xmaps.values()])   # (pes_needed, written out)
    fits = pes_one_copy <= chip_pes(chip)
    if not fits and not chip.mapping.time_multiplexed:
        raise capacity_error(graph.name, xmaps, chip)

    policy = chip.mapping.replication if fits else "none"
    replicas = balance_replicas(
        [(name, x.crossbars, x.read_steps // x.vectors, x.vectors) for name, x in xmaps.items()], chip, policy)
    segments, rounds = allocate([(name, x.crossbars * replicas[name]) for name, x in xmaps.items()], chip,
                                time_multiplexed=not fits)
    shared: dict[tuple, PeProfile] = {}   # layers of one shape (one CrossbarMapping) and copies share one
    profiles = {}
    for name, x in xmaps.items():
        profile_key = ("pe_profile", shapes[name], replicas[name])
        profile = shared.get(profile_key)
        if profile is None:
            profile = shared[profile_key] = per_chip(key, profile_key,
                                                     lambda x=x, copies=replicas[name]: PeProfile(x, copies, chip))
        profiles[name] = profile
    placed = {node.name: place_layer(node, xmaps[node.name], replicas[node.name], tuple(segments[node.name]),
                                     profiles[node.name]) for node in mvm_nodes}
    layers = {name: layer for name, (layer, _) in placed.items()}
    split_copies = {name: split for name, (_, split) in placed.items()}

    coords = snake_coords_tuple(chip.chip.tiles, chip.chip.mesh_cols)
    home = {name: (layer.placement.home_round, layer.placement.home_tile) for name, layer in layers.items()}
    flows_into = upstream_flows(graph, nodes)
    digital = assign_digital(graph, nodes, home, flows_into, fuse_activations=chip.mapping.fuse_activations)
    embeddings = place_embeddings(nodes, chip)
    transfers, io_transfers, intra = compute_traffic(graph, layers, split_copies, digital, embeddings, coords,
                                                     chip.chip.mesh_cols, flows_into)

    notes = []
    if not fits:
        notes.append(f"time-multiplexed: {pes_one_copy} PEs needed, {chip_pes(chip)} on chip; "
                     f"{rounds} rounds, no replication")
    wasted = wasted_conversions_note(chip) if layers else None
    if wasted:
        notes.append(wasted)
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
        tile_coords=coords,
        layers=tuple(layers.values()),
        digital=tuple(digital),
        embeddings=tuple(embeddings.values()),
        free_nodes=tuple([node.name for node in nodes if node.kind in FREE_KINDS]),   # (is_free, inlined)
        transfers=transfers,
        io_transfers=tuple(io_transfers),
        intra_tile_bytes_per_inference=intra,
        tiles=_tile_usage(layers, digital, coords, rounds),
        reprogramming=_reprogramming(layers, profiles, rounds, chip),
        notes=tuple(notes),
    )


def _crossbar_mappings(mvm_nodes: list[WorkloadNode], chip: ChipConfig,
                       chip_json: str) -> tuple[dict[str, CrossbarMapping], dict[str, tuple]]:
    """map_mvm of every MVM node, and each node's shape key (weight shape, bits, vectors: the only node
    fields map_mvm reads); nodes of one shape share one result, across calls on the same chip too."""
    xmaps, shapes, seen = {}, {}, {}
    for node in mvm_nodes:
        shape = ("crossbar", node.weight_shape, node.weight_bits, node.activation_bits, node.vectors)
        xmap = seen.get(shape)
        if xmap is None:
            xmap = seen[shape] = per_chip(chip_json, shape, lambda node=node: map_mvm(node, chip))
        xmaps[node.name] = xmap
        shapes[node.name] = shape
    return xmaps, shapes


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
                coords: list[tuple[int, int]], rounds: int) -> tuple[TileUsage, ...]:
    if rounds == 1:   # (one round: a tile's busiest round is its only one)
        busiest_pes, busiest_crossbars, names = _tile_sums(layers)
    else:
        pes: dict[tuple[int, int], int] = {}       # (tile, round) -> PEs
        crossbars: dict[tuple[int, int], int] = {}
        names = {}
        for layer in layers.values():
            name = layer.name
            for segment in layer.placement.segments:
                tile = segment.tile
                key = (tile, segment.round)
                pes[key] = pes.get(key, 0) + segment.pes
                crossbars[key] = crossbars.get(key, 0) + segment.crossbars
                on_tile = names.get(tile)
                if on_tile is None:
                    names[tile] = [name]
                elif on_tile[-1] != name:   # a layer's segments are consecutive
                    on_tile.append(name)
        busiest_pes, busiest_crossbars = {}, {}   # tile -> PEs (crossbars) in its busiest round
        for (tile, _), count in pes.items():
            busiest_pes[tile] = max(busiest_pes.get(tile, 0), count)
        for (tile, _), count in crossbars.items():
            busiest_crossbars[tile] = max(busiest_crossbars.get(tile, 0), count)
    ops: dict[int, list[DigitalMapping]] = defaultdict(list)
    for node in digital:
        ops[node.tile].append(node)
    digital_sums = {tile: (tuple(node.name for node in on_tile), sum(node.ops for node in on_tile),
                           sum(node.macs for node in on_tile)) for tile, on_tile in ops.items()}
    no_digital = ((), 0, 0)
    new = tuple.__new__   # (a TileUsage built as the tuple it is: a large mesh has thousands)
    return tuple([new(TileUsage, (tile, coords[tile], busiest_pes.get(tile, 0), busiest_crossbars.get(tile, 0),
                                  tuple(names.get(tile, ())), *digital_sums.get(tile, no_digital)))
                  for tile in sorted(names.keys() | ops.keys())])


def _tile_sums(layers: dict[str, MvmLayerMapping]) -> tuple[dict[int, int], dict[int, int], dict[int, list[str]]]:
    """PEs, crossbars and layer names (in order) on each tile of a one-round mapping."""
    pes: dict[int, int] = {}
    crossbars: dict[int, int] = {}
    names: dict[int, list[str]] = {}
    for layer in layers.values():
        name = layer.name
        for _, tile, _, segment_pes, _, segment_crossbars in layer.placement.segments:
            if tile in pes:
                pes[tile] += segment_pes
                crossbars[tile] += segment_crossbars
                if names[tile][-1] != name:   # a layer's segments are consecutive
                    names[tile].append(name)
            else:
                pes[tile], crossbars[tile], names[tile] = segment_pes, segment_crossbars, [name]
    return pes, crossbars, names


def _reprogramming(layers: dict[str, MvmLayerMapping], profiles: dict[str, PeProfile], rounds: int,
                   chip: ChipConfig) -> Reprogramming:
    cells: dict[int, int] = defaultdict(int)
    rows: dict[int, int] = defaultdict(int)     # round -> rows written in its busiest PE (a PE holds one layer)
    for name, layer in layers.items():
        segments = layer.placement.segments
        if segments and segments[0].round == segments[-1].round:
            # All in one round (rounds are consecutive): its segments cover all its PEs, in order,
            # so their summed cells and busiest PE are those of the whole layer.
            segment_round = segments[0].round
            segment_cells, segment_rows = profiles[name].layer_write_cost()
            cells[segment_round] += segment_cells
            rows[segment_round] = max(rows[segment_round], segment_rows)
            continue
        for segment in segments:
            segment_cells, segment_rows = profiles[name].write_cost(segment)
            cells[segment.round] += segment_cells
            rows[segment.round] = max(rows[segment.round], segment_rows)
    cells_per_round = tuple(cells.get(r, 0) for r in range(rounds))
    rows_per_round = tuple(rows.get(r, 0) for r in range(rounds))
    rewritten = rounds > 1
    return Reprogramming(
        rounds=rounds,
        cells_written_per_round=cells_per_round,
        rows_written_per_round=rows_per_round,
        write_energy_pj_per_batch=sum(cells_per_round) * chip.crossbar.write_energy_pj_per_cell if rewritten else 0.0,
        write_latency_ns_per_batch=sum(rows_per_round) * chip.crossbar.write_latency_ns_per_row if rewritten else 0.0,
    )

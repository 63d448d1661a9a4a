"""Tile-to-tile traffic per inference that the mesh must carry.

Model (all bytes per inference):
- Data flows from a real producer (an MVM layer or a digital op; concat/reshape are looked
  through) to a real consumer; `bytes` = the producer's output tensor at its activation bits.
- Each copy of an MVM producer gathers its own outputs at its copy home tile (the tile holding most
  of that copy's crossbars) and sends 1/copies of the bytes from there (copies split the vectors
  or the samples). A digital producer sends everything from its tile.
- A digital consumer receives it all on its tile. An MVM consumer receives on each of its tiles
  the share of its input rows that tile's crossbars hold: the rows of the distinct (copy, row
  tile) pairs on the tile / (K x copies). Column tiles of one row tile on different tiles each
  need those rows, so the shares can add up to more than one (the broadcast is charged); the
  producer's elements are assumed spread evenly over the consumer's rows.
- A copy spread over several tiles reduces its partial sums column group by column group (a column
  tile's outputs): a group's partial sums live only on the tiles holding its row tiles, so they
  travel only among those, along a chain to the copy home. Each such tile adds the group's partial
  sums arriving from its far side to its own and passes the sum on to the next tile of the group
  towards the home (every link carries one stream per group instead of all streams converging on
  the home's links). A hop carries the group's share of the copy's output elements (its weight
  columns / all weight columns of a row tile) at the layer's partial-sum width a + w + ceil(log2 K);
  a group held whole on the home moves nothing. (The chain once carried everything its side had
  contributed, whatever the group: a whole output vector through every tile of a wide layer.)
- Pieces with the same (producer, consumer, kind, source tile, destination tile) are merged and
  rounded up to whole bytes once. Hops are Manhattan distances on the tile mesh under XY routing;
  a flow that stays on one tile is counted as intra-tile bytes, not as a transfer. Model inputs and
  embedding rows arrive from off the mesh at the consumer's tiles and outputs leave from the
  producer's tiles: these are io transfers, not mesh traffic.
"""

from __future__ import annotations

from collections import Counter

from recpim.arch.graph.workload import OpKind, WorkloadGraph
from recpim.pim.workload import TransferKind

from .digital import Flow
from .embedding import EmbeddingPlacement
from .layer_placement import SplitCopies
from .result import DigitalMapping, IoSource, IoTransfer, MvmLayerMapping
from .transfer_table import TransferTable


def reduction_chain(groups: dict[int, int], home: int, cols_per_group: tuple[int, ...]) -> list[tuple[int, int, int]]:
    """(from tile, to tile, weight columns' worth of the copy's output elements carried) for each hop
    of a copy's partial-sum reduction, from the far ends towards the home. `groups`: the column groups
    of the copy held on each tile (bit c for group c). Column group by column group, the tiles holding
    it below the home pass its sums upwards, those above it downwards, each to the next tile holding
    that group, each hop carrying that group's weight columns. The groups going to the same next tile
    travel as one hop; a tile holding every group is every group's next holder."""
    every = (1 << len(cols_per_group)) - 1
    total = sum(cols_per_group)
    if len(groups) == 2 and home in groups:
        # most split copies: cut once by a segment boundary, the home and one other tile, one hop
        # (the walk below gives the same)
        other = next(tile for tile in groups if tile != home)
        held = groups[other]
        return [(other, home, total if held == every else _group_cols(held, cols_per_group))]
    hops = []
    for side in (sorted(t for t in groups if t < home), sorted((t for t in groups if t > home), reverse=True)):
        # walk from the home outwards: `uniform` is every group's next holder while the last tile
        # walked held them all; otherwise `target` holds each group's
        walked: list[tuple[int, int, int]] = []
        uniform, target = home, []
        for tile in reversed(side):
            held = groups[tile]
            if uniform is not None:
                walked.append((tile, uniform, total if held == every else _group_cols(held, cols_per_group)))
            else:
                carried: dict[int, int] = {}
                for group, cols in enumerate(cols_per_group):
                    if held >> group & 1:
                        carried[target[group]] = carried.get(target[group], 0) + cols
                walked += [(tile, next_tile, cols) for next_tile, cols in carried.items()]
            if held == every:
                uniform = tile
            else:
                if uniform is not None:
                    target, uniform = [uniform] * len(cols_per_group), None
                for group in range(len(cols_per_group)):
                    if held >> group & 1:
                        target[group] = tile
        hops += reversed(walked)
    return hops


def _group_cols(held: int, cols_per_group: tuple[int, ...]) -> int:
    return sum(cols for group, cols in enumerate(cols_per_group) if held >> group & 1)


def compute_traffic(
    graph: WorkloadGraph,
    layers: dict[str, MvmLayerMapping],
    split_copies: dict[str, SplitCopies],
    digital: list[DigitalMapping],
    embeddings: dict[str, EmbeddingPlacement],
    coords: list[tuple[int, int]],
    mesh_cols: int,
    flows_into: dict[str, list[Flow]],
) -> tuple[TransferTable, list[IoTransfer], int]:
    """Transfers over the mesh, io transfers, and intra-tile bytes, all per inference (`flows_into`:
    upstream_flows of the graph).

    Every share is a ratio of integers with a denominator fixed per (producer, consumer) pair
    (copies x K x copies for activations, 8 x copies x weight columns of a row tile for partial sums), so pieces
    are summed as exact integer numerators and rounded up once: the same bytes exact fractions give."""
    sources: dict[str, dict[int, int]] = {}   # producer -> {tile: copies sending from there}
    copies_of: dict[str, int] = {}
    for name, layer in layers.items():
        homes = layer.placement.copy_home_tiles
        # (tiles in order of first appearance)
        sources[name] = {homes[0]: 1} if len(homes) == 1 else Counter(homes)
        copies_of[name] = layer.placement.replication
    for node in digital:
        sources[node.name] = {node.tile: 1}
        copies_of[node.name] = 1

    # (producer, consumer, kind, via) -> [denominator, {(src tile, dst tile): numerator}] (the denominator is
    # fixed per producer, consumer and kind)
    pieces: dict[tuple, list] = {}
    io: dict[tuple, int] = {}                     # (node, consumer, tile, source) -> numerator
    denominator: dict[tuple, int] = {}            # (node, consumer) -> denominator of its io pieces
    sending = {name: tuple(tiles.items()) for name, tiles in sources.items()}   # (read once per flow)
    nodes = graph.nodes()
    # producers whose data arrives from off the mesh: model inputs and embedding tables
    off_mesh = {name: IoSource(table.location) for name, table in embeddings.items()}
    # (enum members read once, not per node)
    activation, mvm, output, model_input = TransferKind.ACTIVATION, OpKind.MVM, OpKind.OUTPUT, OpKind.INPUT
    partial_sum, leaving = TransferKind.PARTIAL_SUM, IoSource.OUTPUT
    for node in nodes:
        name, kind = node.name, node.kind
        if kind == model_input:
            off_mesh[name] = IoSource.INPUT
        rows_per_input = 1
        if kind == mvm:
            layer = layers[name]
            destinations = layer.placement.input_rows_by_tile   # ((tile, rows), ...), tiles distinct
            rows_per_input = layer.crossbar.k_rows * layer.placement.replication
        elif kind == output:
            destinations = ()
        elif name in sources:
            destinations = ((next(iter(sources[name])), 1),)
        else:
            continue  # inputs, free moves and embedding lookups receive nothing over the mesh
        for producer, via, num_bytes in flows_into[name]:
            if producer in sources:
                copies = copies_of[producer]
                if kind == output:
                    denominator[(producer, name)] = copies
                    for src, count in sending[producer]:
                        key = (producer, name, src, leaving)
                        io[key] = io.get(key, 0) + num_bytes * count
                    continue
                flow_key = (producer, name, activation, via)
                entry = pieces.get(flow_key)
                if entry is None:
                    entry = pieces[flow_key] = [copies * rows_per_input, {}]
                flow = entry[1]
                for src, count in sending[producer]:
                    per_row = num_bytes * count
                    for dst, rows in destinations:
                        flow[(src, dst)] = flow.get((src, dst), 0) + per_row * rows
            elif kind != output:
                source = off_mesh.get(producer)
                if source is not None:
                    denominator[(producer, name)] = rows_per_input
                    for dst, rows in destinations:
                        key = (producer, name, dst, source)
                        io[key] = io.get(key, 0) + num_bytes * rows
        if kind == mvm and split_copies[name]:
            elements = 1
            for dim in node.output_shape:
                elements *= dim
            per_row_tile = layer.crossbar.weight_cols_per_row_tile
            copy_bits = elements * layer.crossbar.partial_sum_bits
            homes = layer.placement.copy_home_tiles
            flow_key = (name, name, partial_sum, ())
            entry = pieces.get(flow_key)
            if entry is None:
                entry = pieces[flow_key] = [8 * layer.placement.replication * per_row_tile, {}]
            chain = entry[1]
            cols_per_group = layer.crossbar.weight_cols_per_col_tile
            for copy, groups in split_copies[name].items():
                for src, dst, carried in reduction_chain(groups, homes[copy], cols_per_group):
                    chain[(src, dst)] = chain.get((src, dst), 0) + copy_bits * carried

    # A flow's pieces are all added while its consumer is visited, so flow by flow, piece by piece is
    # the order in which the pieces first appear.
    rows, hops, intra = [], [], 0
    for (producer, consumer, kind, via), (whole, flow) in pieces.items():
        for (src, dst), amount in flow.items():
            if amount <= 0:
                continue
            num_bytes = -(-amount // whole)
            if src == dst:
                intra += num_bytes
            else:
                rows.append((producer, consumer, num_bytes, kind, via, src, dst))
                (src_row, src_col), (dst_row, dst_col) = coords[src], coords[dst]
                hops.append(abs(dst_row - src_row) + abs(dst_col - src_col))
    new = tuple.__new__   # (an IoTransfer built as the tuple it is: a recommender has hundreds)
    io_transfers = [new(IoTransfer, (name, consumer, tile, source, -(-amount // denominator[(name, consumer)])))
                    for (name, consumer, tile, source), amount in io.items() if amount > 0]
    return TransferTable(rows, coords, mesh_cols, hops), io_transfers, intra

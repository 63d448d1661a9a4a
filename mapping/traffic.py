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
- A copy spread over several tiles reduces its partial sums along a chain to its copy home: its
  tiles are contiguous on the snake walk, so each tile adds the partial sums arriving from its
  far side to its own and passes the sum one hop on towards the home (a reduction chain: every
  link carries one stream instead of all streams converging on the home's links). The stream
  leaving a tile covers the output elements its side has contributed so far: min(1, the summed
  shares of the tiles behind it) of the copy's output elements, a tile's share being its
  crossbars' weight columns / all weight columns of a copy (once per contributing row tile), at
  the layer's partial-sum width a + w + ceil(log2 K).
- Pieces with the same (producer, consumer, kind, source tile, destination tile) are merged and
  rounded up to whole bytes once. Hops are Manhattan distances on the tile mesh under XY routing;
  a flow that stays on one tile is counted as intra-tile bytes, not as a transfer. Model inputs and
  embedding rows arrive from off the mesh at the consumer's tiles and outputs leave from the
  producer's tiles: these are io transfers, not mesh traffic.
"""

from __future__ import annotations

from collections import defaultdict
from fractions import Fraction
from math import ceil

from recpim.arch.graph import OpKind, WorkloadGraph

from .crossbar import CrossbarMapping
from .digital import upstream_flows
from .embedding import EmbeddingPlacement
from .placement import xy_route
from .result import DigitalMapping, IoTransfer, MvmLayerMapping, Transfer


def layer_shares(xmap: CrossbarMapping, layer: MvmLayerMapping) -> tuple[dict[int, Fraction], dict]:
    """(input-row share per tile, {copy: {tile: share of the copy's output partial sums}})."""
    rows_on: dict[int, set] = defaultdict(set)
    out_cols: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for segment in layer.segments:
        for j in range(segment.crossbar_first, segment.crossbar_first + segment.crossbars):
            copy, local = divmod(j, xmap.crossbars)
            row_tile, col_tile = divmod(local, xmap.col_tiles)
            rows_on[segment.tile].add((copy, row_tile))
            out_cols[copy][segment.tile] += xmap.weight_cols_per_col_tile[col_tile]
    input_rows = xmap.k_rows * layer.replication
    input_share = {tile: Fraction(sum(xmap.rows_per_row_tile[rt] for _, rt in pairs), input_rows)
                   for tile, pairs in rows_on.items()}
    psum_share = {copy: {tile: Fraction(cols, xmap.weight_cols_per_row_tile) for tile, cols in tiles.items()}
                  for copy, tiles in out_cols.items()}
    return input_share, psum_share


def reduction_chain(shares: dict[int, Fraction], home: int) -> list[tuple[int, int, Fraction]]:
    """(from tile, to tile, share of the copy's output elements carried) for each hop of a copy's
    partial-sum reduction: tiles below the home pass towards it upwards, tiles above it downwards."""
    hops = []
    for side in (sorted(t for t in shares if t < home), sorted((t for t in shares if t > home), reverse=True)):
        carried = Fraction(0)
        for index, tile in enumerate(side):
            carried += shares[tile]
            next_tile = side[index + 1] if index + 1 < len(side) else home
            hops.append((tile, next_tile, min(Fraction(1), carried)))
    return hops


def compute_traffic(
    graph: WorkloadGraph,
    layers: dict[str, MvmLayerMapping],
    xmaps: dict[str, CrossbarMapping],
    digital: list[DigitalMapping],
    embeddings: dict[str, EmbeddingPlacement],
    coords: list[tuple[int, int]],
) -> tuple[list[Transfer], list[IoTransfer], int]:
    """Transfers over the mesh, io transfers, and intra-tile bytes, all per inference."""
    sources: dict[str, dict[int, Fraction]] = {}   # producer -> {tile: fraction of its output sent from there}
    for name, layer in layers.items():
        per_copy = Fraction(1, layer.replication)
        sources[name] = defaultdict(Fraction)
        for tile in layer.copy_home_tiles:
            sources[name][tile] += per_copy
    for node in digital:
        sources[node.name] = {node.tile: Fraction(1)}
    shares = {name: layer_shares(xmaps[name], layer) for name, layer in layers.items()}

    pieces: dict[tuple, Fraction] = defaultdict(Fraction)   # (producer, consumer, kind, via, src, dst)
    io: dict[tuple, Fraction] = defaultdict(Fraction)       # (node, consumer, tile, source)
    for node in graph.nodes():
        if node.kind == OpKind.MVM:
            destinations = shares[node.name][0]
        elif node.kind == OpKind.OUTPUT:
            destinations = {}
        elif node.name in sources:
            destinations = {next(iter(sources[node.name])): Fraction(1)}
        else:
            continue  # inputs, free moves and embedding lookups receive nothing over the mesh
        for producer, via, num_bytes in upstream_flows(graph, node.name):
            producer_kind = graph.node(producer).kind
            if producer in sources:
                for src, fraction in sources[producer].items():
                    if node.kind == OpKind.OUTPUT:
                        io[(producer, node.name, src, "output")] += num_bytes * fraction
                    for dst, share in destinations.items():
                        pieces[(producer, node.name, "activation", via, src, dst)] += num_bytes * fraction * share
            elif producer_kind in (OpKind.INPUT, OpKind.EMBEDDING) and node.kind != OpKind.OUTPUT:
                source = "input" if producer_kind == OpKind.INPUT else embeddings[producer].location
                for dst, share in destinations.items():
                    io[(producer, node.name, dst, source)] += num_bytes * share
        if node.kind == OpKind.MVM:
            layer = layers[node.name]
            elements = 1
            for dim in node.output_shape:
                elements *= dim
            copy_bytes = Fraction(elements * layer.partial_sum_bits, 8 * layer.replication)
            for copy, tiles in shares[node.name][1].items():
                for src, dst, share in reduction_chain(tiles, layer.copy_home_tiles[copy]):
                    pieces[(node.name, node.name, "partial_sum", (), src, dst)] += copy_bytes * share

    transfers, intra = [], 0
    for (producer, consumer, kind, via, src, dst), amount in pieces.items():
        if src == dst:
            intra += ceil(amount)
        elif amount > 0:
            transfers.append(Transfer(producer, consumer, kind, via, ceil(amount), src, dst,
                                      tuple(xy_route(coords[src], coords[dst]))))
    io_transfers = [IoTransfer(name, consumer, tile, source, ceil(amount))
                    for (name, consumer, tile, source), amount in io.items() if amount > 0]
    return transfers, io_transfers, intra

"""Digital ops (products of activations, elementwise ops, softmax, layer norm, sigmoid, reduce,
pool) -> the vector units of one tile.

Rule: a digital op runs on the tile that produces its first input, so that input never crosses
the mesh. Free moves (concat/reshape) are looked through: the producer is the first real node
behind them. When no input comes from a tile (all from model inputs or embedding tables), the op
runs on the home tile of the next MVM layer in topological order (where its consumers are being
placed), else of the last MVM layer, else on tile 0.
"""

from __future__ import annotations

from recpim.arch.graph.workload import DIGITAL_KINDS, FREE_KINDS, OpKind, WorkloadGraph, WorkloadNode

from .memo import graph_edges
from .result import DigitalMapping

# Free moves that pass data through; input/output are sources/sinks, not pass-throughs.
PASS_THROUGH_KINDS = frozenset({OpKind.CONCAT, OpKind.RESHAPE})
FUSABLE_KINDS = frozenset({OpKind.RELU, OpKind.POOL})


Flow = tuple[str, tuple[str, ...], int]   # (real producer, free moves passed through, bytes of its output)


def upstream_flows(graph: WorkloadGraph, nodes: list[WorkloadNode]) -> dict[str, list[Flow]]:
    """Every data path into each node, in predecessor order, looking through concat/reshape nodes
    (`nodes` in topological order, so a free move's own flows are known before its consumers')."""
    kinds = {node.name: node.kind for node in nodes}
    inputs = graph_edges(graph).inputs
    flows: dict[str, list[Flow]] = {}
    for node in nodes:
        into = []
        for producer, tensor_bytes in inputs[node.name]:
            if kinds[producer] in PASS_THROUGH_KINDS:
                into += [(real, (*via, producer), num_bytes) for real, via, num_bytes in flows[producer]]
            else:
                into.append((producer, (), tensor_bytes))
        flows[node.name] = into
    return flows


def assign_digital(
    graph: WorkloadGraph,
    nodes: list[WorkloadNode],
    home: dict[str, tuple[int, int]],
    flows_into: dict[str, list[Flow]],
    fuse_activations: bool = False,
) -> list[DigitalMapping]:
    """Give each digital node a (round, tile); `home` holds (round, home tile) of every MVM layer and
    is extended in place with the digital nodes' own placement (later ops may follow them).
    `flows_into`: upstream_flows of the graph."""
    mvm = OpKind.MVM   # (read once, not per node)
    mvm_order = [node.name for node in nodes if node.kind == mvm]
    position: dict[str, int] | None = None   # (built for the first op placed by _fallback)
    root: dict[str, str] = {name: name for name in mvm_order}   # fused op or layer -> its layer
    consumers = graph_edges(graph).successors
    placed = []
    for node in nodes:
        if node.kind not in DIGITAL_KINDS:
            continue
        flows = flows_into[node.name]
        where = None
        for real, _, _ in flows:
            if real in home:
                where = home[real]
                break
        if where is None:
            if position is None:
                position = {node.name: index for index, node in enumerate(nodes)}
            where = _fallback(node.name, mvm_order, position, home)
        home[node.name] = where
        fused_into = ""
        if fuse_activations and node.kind in FUSABLE_KINDS and len(flows) == 1:
            producer, via, _ = flows[0]
            if not via and producer in root and consumers[producer] == 1:
                fused_into = root[producer]
                root[node.name] = fused_into
        placed.append(DigitalMapping(node.name, node.kind, node.source, where[1], where[0], node.ops, node.macs,
                                     fused_into))
    return placed


def _fallback(name: str, mvm_order: list[str], position: dict[str, int], home: dict) -> tuple[int, int]:
    later = [layer for layer in mvm_order if position[layer] > position[name]]
    if later:
        return home[later[0]]
    if mvm_order:
        return home[mvm_order[-1]]
    return (0, 0)


def is_free(node: WorkloadNode) -> bool:
    return node.kind in FREE_KINDS

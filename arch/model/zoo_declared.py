"""The zoo's workload graphs, declared: what torch.fx imports from arch/model/zoo.py at the default
8-bit weights and activations, stored as JSON beside this module (zoo_graphs/NAME.json), so that
`recpim map|simulate|sweep vgg8` lower a zoo model without importing torch (about 2 s of start-up).

A stored graph is exactly the imported one: nodes in insertion order, each node's predecessors and
successors in the same order, the same node fields and metadata. tests/test_zoo_declared.py imports
every zoo model with torch.fx and fails when a stored graph differs (after an edit of zoo.py or of
the importer): regenerate them with `python -m recpim.arch.model.zoo_declared`.

Only the default bits are stored; other bits (`--weight-bits 4`) import the model with torch.fx.
Each node's `extra.source_line` names a line of zoo.py as the importer shows it (relative to the
working folder when below it, else absolute), so it is stored with the path as a placeholder and
filled in when loaded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from recpim.arch.graph.workload import WorkloadGraph, WorkloadNode

GRAPH_DIR = Path(__file__).resolve().parent / "zoo_graphs"
ZOO_FILE = Path(__file__).resolve().parent / "zoo.py"   # the file torch.fx's stack traces name
DECLARED_BITS = (8, 8)       # (weight bits, activation bits) of the stored graphs
RECORD_VERSION = 1
_PLACEHOLDER = "{zoo.py}"
UNKNOWN_LINE = "<unknown source line>"   # a node made inside torch's own modules (nn.Sequential's forward)


def shown_path(path: str) -> str:
    """A file path as recpim.arch.graph.fx_import.source_line shows it (its rule, kept in step by the test)."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def graph_record(graph: WorkloadGraph) -> dict[str, Any]:
    """An order-exact JSON record of a zoo graph (insertion order of nodes, predecessor order of edges)."""
    nx_graph = graph.graph
    zoo_shown = shown_path(str(ZOO_FILE))
    nodes = []
    for name in nx_graph.nodes:
        data = graph.node(name).to_dict()
        line = data["extra"].get("source_line")
        if line is not None and line != UNKNOWN_LINE:
            if not line.startswith(zoo_shown + ":"):
                raise ValueError(f"node {name!r} of {graph.name!r} comes from {line!r}, not from {zoo_shown}")
            data["extra"] = {**data["extra"], "source_line": _PLACEHOLDER + line[len(zoo_shown):]}
        nodes.append(data)
    return {"kind": "recpim-zoo-graph", "version": RECORD_VERSION, "name": graph.name, "metadata": graph.metadata,
            "nodes": nodes, "inputs": {name: list(nx_graph.pred[name]) for name in nx_graph.nodes}}


def graph_from_record(record: dict[str, Any]) -> WorkloadGraph:
    """The WorkloadGraph a graph_record describes (edges added per consumer, in predecessor order, as the
    importer adds them)."""
    zoo_shown = shown_path(str(ZOO_FILE))
    graph = WorkloadGraph(record["name"], record["metadata"])
    for data in record["nodes"]:
        extra = data["extra"]
        line = extra.get("source_line")
        if line is not None and line.startswith(_PLACEHOLDER):
            data = {**data, "extra": {**extra, "source_line": zoo_shown + line[len(_PLACEHOLDER):]}}
        graph.add_node(WorkloadNode.from_dict(data))
    for consumer, producers in record["inputs"].items():
        for producer in producers:
            graph.add_edge(producer, consumer)
    return graph


def declared_zoo_graph(name: str, weight_bits: int = 8, activation_bits: int = 8) -> WorkloadGraph | None:
    """The stored graph of zoo model `name` at these bits, or None when none is stored (other bits)."""
    if (weight_bits, activation_bits) != DECLARED_BITS:
        return None
    path = GRAPH_DIR / f"{name}.json"
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    if record.get("kind") != "recpim-zoo-graph" or record.get("version") != RECORD_VERSION:
        return None
    return graph_from_record(record)


def write_declared_graphs(names: tuple[str, ...] | None = None) -> list[Path]:
    """Import every zoo model with torch.fx and store its graph (run after editing zoo.py or the importer)."""
    from recpim.arch.model.zoo import zoo_graph, zoo_names  # (here: it imports torch, which only this needs)

    GRAPH_DIR.mkdir(exist_ok=True)
    written = []
    for name in names or tuple(zoo_names()):
        path = GRAPH_DIR / f"{name}.json"
        record = graph_record(zoo_graph(name, *DECLARED_BITS))
        path.write_text(json.dumps(record, indent=1) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_declared_graphs():
        print(written_path)

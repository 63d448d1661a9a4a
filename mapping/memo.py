"""Memoisation across map_model calls: a sweep or a search maps many graphs on one chip and the
same graph on many chips, and a report maps one graph on one chip several times.

Two caches, both exact (they hand back what the computation would return, which is immutable):
- per chip: the crossbar arithmetic of a layer shape and the PE profile of (shape, copies), which
  depend only on those node fields and the chip;
- per graph: whole MappingResults, keyed by the chip's canonical JSON and the graph's name, and
  dropped when the graph changes (add_node/add_edge bump `WorkloadGraph.version`) or is
  garbage-collected.

A chip is identified by its canonical JSON (ChipConfig is frozen: equal JSON, equal mapping),
computed once per chip object. clear() empties everything the mapping keeps between calls: both
caches, the chips' canonical JSON, the graphs' edge tables and the snake-walk coordinates
(placement.snake_coords_tuple), so a benchmark can time a truly cold call.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

from recpim.arch.graph.workload import WorkloadGraph
from recpim.pim.config import ChipConfig

from .placement import snake_coords_tuple

T = TypeVar("T")
_MISSING = object()

CHIPS_KEPT = 16             # chips whose per-shape results are kept (least recently used dropped)
ENTRIES_PER_CHIP = 4096     # layer shapes and profiles kept per chip (a long search starts afresh past it)
RESULTS_PER_GRAPH = 8       # MappingResults kept per graph (one per chip)

_chip_keys: dict[int, tuple[weakref.ref, str]] = {}          # id(chip) -> (chip, canonical JSON)
_per_chip: OrderedDict[str, dict[tuple, object]] = OrderedDict()
_per_graph: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # graph -> (version, {key: result})
_edges: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()        # graph -> (version, GraphEdges)


@dataclass(frozen=True)
class GraphEdges:
    """A graph's edges as plain dicts (networkx's views cost microseconds per step in hot loops)."""

    inputs: dict[str, tuple[tuple[str, int], ...]]   # node -> (producer, tensor bytes), predecessor order
    adjacency: dict[str, dict]                        # node -> {consumer: edge data} (networkx's own)

    @cached_property
    def successors(self) -> dict[str, int]:
        """node -> number of consumers (counted when first read: only activation fusion reads them)."""
        return {name: len(out) for name, out in self.adjacency.items()}


def chip_key(chip: ChipConfig) -> str:
    """The chip's canonical JSON, computed once per chip object."""
    entry = _chip_keys.get(id(chip))
    if entry is not None and entry[0]() is chip:
        return entry[1]
    key = chip.model_dump_json()
    chip_id = id(chip)

    def forget(ref: weakref.ref) -> None:
        if _chip_keys.get(chip_id, (None,))[0] is ref:
            del _chip_keys[chip_id]

    _chip_keys[chip_id] = (weakref.ref(chip, forget), key)
    return key


def per_chip(chip: str, key: tuple, compute: Callable[[], T]) -> T:
    """compute(), memoised under (chip's canonical JSON, key)."""
    table = _per_chip.get(chip)
    if table is None:
        table = _per_chip[chip] = {}
        if len(_per_chip) > CHIPS_KEPT:
            _per_chip.popitem(last=False)
    else:
        _per_chip.move_to_end(chip)
    value = table.get(key, _MISSING)
    if value is _MISSING:
        if len(table) >= ENTRIES_PER_CHIP:
            table.clear()
        value = table[key] = compute()
    return value


def cached_mapping(graph: WorkloadGraph, chip: str, compute: Callable[[], T]) -> T:
    """compute() (a MappingResult of `graph` on the chip), memoised per graph version."""
    version = graph.version
    entry = _per_graph.get(graph)
    if entry is None or entry[0] != version:
        entry = (version, OrderedDict())
        _per_graph[graph] = entry
    results = entry[1]
    key = (chip, graph.name)
    if key in results:
        results.move_to_end(key)
        return results[key]
    result = compute()
    results[key] = result
    if len(results) > RESULTS_PER_GRAPH:
        results.popitem(last=False)
    return result


def graph_edges(graph: WorkloadGraph) -> GraphEdges:
    """The graph's GraphEdges, memoised per graph version. Read-only for callers."""
    version = graph.version
    entry = _edges.get(graph)
    if entry is None or entry[0] != version:
        # networkx's adjacency dicts themselves (DiGraph._pred/_succ: node -> {neighbour: edge data}, both
        # in node insertion order): its read-only views cost a wrapper object per node.
        pred, succ = graph.graph._pred, graph.graph._succ
        edges = GraphEdges(
            inputs={name: tuple([(producer, edge["tensor_bytes"]) for producer, edge in into.items()])
                    for name, into in pred.items()},
            adjacency=succ)
        entry = (version, edges)
        _edges[graph] = entry
    return entry[1]


def clear() -> None:
    _chip_keys.clear()
    _per_chip.clear()
    _per_graph.clear()
    _edges.clear()
    snake_coords_tuple.cache_clear()


def sizes() -> dict[str, int]:
    """How many entries each table holds (all 0 after clear())."""
    return {"chip_keys": len(_chip_keys), "per_chip": sum(len(t) for t in _per_chip.values()),
            "per_graph": sum(len(entry[1]) for entry in _per_graph.values()), "edges": len(_edges),
            "snake_coords": snake_coords_tuple.cache_info().currsize}

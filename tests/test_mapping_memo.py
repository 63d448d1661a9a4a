"""The mapping memo (recpim.mapping.memo) hands back exactly what a fresh mapping gives, and forgets a
graph's results when the graph changes."""

from __future__ import annotations

import pickle

from recpim.api import load_chip, resolve_model_spec
from recpim.arch.graph.workload import OpKind, WorkloadGraph, WorkloadNode
from recpim.mapping import map_model, memo
from recpim.mapping.to_workload import workload_from_mapping
from recpim.mapping.transfer_table import TransferTable


def test_memoised_mapping_equals_a_fresh_one_and_is_reused():
    chip, graph = load_chip("isaac"), resolve_model_spec("vgg8")
    first = map_model(graph, chip)
    assert map_model(graph, chip) is first
    assert map_model(graph, chip.with_overrides({})) is first          # an equal chip object
    memo.clear()
    fresh = map_model(graph, chip)
    assert fresh is not first and fresh == first
    assert fresh.to_json_dict() == first.to_json_dict()
    other = map_model(graph, chip.with_overrides({"crossbar.rows": 256}))
    assert other.to_json_dict() != first.to_json_dict()


def test_clear_empties_every_table_the_mapping_keeps():
    chip, graph = load_chip("isaac"), resolve_model_spec("dlrm")
    map_model(graph, chip)
    filled = memo.sizes()
    assert all(filled.values()), filled
    memo.clear()
    assert set(memo.sizes().values()) == {0}, memo.sizes()


def test_a_changed_graph_is_mapped_again():
    chip = load_chip("isaac")
    graph = WorkloadGraph("tiny")
    graph.add_node(WorkloadNode("x", OpKind.INPUT, (), (64,)))
    graph.add_node(WorkloadNode("fc", OpKind.MVM, ((64,),), (32,), weight_shape=(64, 32), weight_bits=8, macs=2048))
    graph.add_edge("x", "fc")
    before = map_model(graph, chip)
    graph.add_node(WorkloadNode("fc2", OpKind.MVM, ((32,),), (16,), weight_shape=(32, 16), weight_bits=8, macs=512))
    graph.add_edge("fc", "fc2")
    after = map_model(graph, chip)
    assert [layer.name for layer in before.layers] == ["fc"]
    assert [layer.name for layer in after.layers] == ["fc", "fc2"]
    assert after.to_json_dict() == (memo.clear() or map_model(graph, chip)).to_json_dict()


def test_transfer_table_reads_as_its_records_and_pickles():
    chip = load_chip("isaac").with_overrides({"chip.tiles": 256, "chip.mesh_rows": 16, "chip.mesh_cols": 16})
    graph = resolve_model_spec("vgg8")
    mapping = map_model(graph, chip)
    table = mapping.transfers
    assert isinstance(table, TransferTable) and len(table) > 0
    records = tuple(table)
    assert table == records and table[0] == records[0] and table[-2:] == records[-2:]
    assert mapping.noc_bytes_per_inference == sum(t.num_bytes for t in records)
    assert mapping.noc_byte_hops_per_inference == sum(t.byte_hops for t in records)
    copy = pickle.loads(pickle.dumps(mapping))
    assert copy == mapping and tuple(copy.transfers) == records
    workload = workload_from_mapping(graph, mapping, chip)
    memo.clear()
    assert workload_from_mapping(graph, map_model(graph, chip), chip) == workload

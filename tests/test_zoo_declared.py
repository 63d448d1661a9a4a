"""The zoo's stored graphs (arch/model/zoo_declared.py) are exactly what torch.fx imports from zoo.py:
same nodes in the same insertion order, same predecessor and successor order, same fields and metadata.
When this fails after an edit of zoo.py or of the importer, run `python -m recpim.arch.model.zoo_declared`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from recpim.arch.model.spec import ZOO_NAMES, resolve_model_spec
from recpim.arch.model.zoo import zoo_graph, zoo_names
from recpim.arch.model.zoo_declared import (
    DECLARED_BITS,
    GRAPH_DIR,
    ZOO_FILE,
    declared_zoo_graph,
    graph_from_record,
    graph_record,
    shown_path,
)


def assert_same_graph(declared, imported) -> None:
    assert declared.name == imported.name
    assert declared.metadata == imported.metadata
    assert list(declared.graph.nodes) == list(imported.graph.nodes)            # insertion order
    for name in imported.graph.nodes:
        assert declared.node(name) == imported.node(name), name
        assert type(declared.node(name).kind) is type(imported.node(name).kind)
        assert list(declared.graph.pred[name]) == list(imported.graph.pred[name]), name
        assert list(declared.graph.succ[name]) == list(imported.graph.succ[name]), name
    assert list(declared.graph.edges(data=True)) == list(imported.graph.edges(data=True))
    assert [n.name for n in declared.nodes()] == [n.name for n in imported.nodes()]   # topological order
    assert declared.to_json() == imported.to_json()


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_stored_graph_is_the_torch_fx_import(name):
    declared = declared_zoo_graph(name, *DECLARED_BITS)
    assert declared is not None, f"no stored graph for {name}: run python -m recpim.arch.model.zoo_declared"
    assert_same_graph(declared, zoo_graph(name, *DECLARED_BITS))


def test_every_zoo_model_is_stored_and_the_spec_resolver_reads_it():
    assert sorted(ZOO_NAMES) == sorted(zoo_names())
    assert sorted(p.stem for p in GRAPH_DIR.glob("*.json")) == sorted(ZOO_NAMES)
    assert resolve_model_spec("vgg8").to_json() == zoo_graph("vgg8").to_json()


def test_other_bits_are_imported_not_read():
    assert declared_zoo_graph("mlp3", 4, 8) is None
    graph = resolve_model_spec("mlp3", weight_bits=4)
    assert graph.metadata["weight_bits"] == 4
    assert all(node.weight_bits == 4 for node in graph.nodes() if node.kind == "mvm")


def test_record_round_trips_and_source_lines_follow_the_working_folder(tmp_path):
    imported = zoo_graph("dlrm")
    assert_same_graph(graph_from_record(json.loads(json.dumps(graph_record(imported)))), imported)
    # The importer's rule for the path it shows, from another working folder (absolute there).
    here = os.getcwd()
    try:
        os.chdir(tmp_path)
        assert shown_path(str(ZOO_FILE)) == str(ZOO_FILE)
        assert_same_graph(declared_zoo_graph("dlrm"), zoo_graph("dlrm"))
    finally:
        os.chdir(here)


def test_a_zoo_simulation_imports_no_torch():
    code = ("import sys; from recpim.mapping.cost import simulate_model; simulate_model('vgg8', 'isaac'); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"

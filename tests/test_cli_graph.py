"""`recpim graph` through the real CLI app."""

from __future__ import annotations

import json

import networkx as nx
from typer.testing import CliRunner

from recpim.arch.graph.workload import WorkloadGraph
from recpim.cli import app
from recpim.errors import RecpimError

runner = CliRunner()
VGG8_MACS = 615_917_568  # hand-computed in tests/test_zoo.py from NeuroSim's layer list


def invoke_json(*args: str) -> dict:
    result = runner.invoke(app, ["graph", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_graph_vgg8_json_reports_total_macs():
    data = invoke_json("vgg8")
    assert data["total_macs"] == VGG8_MACS
    assert sum(node["macs"] for node in data["nodes"]) == VGG8_MACS
    assert [node["kind"] for node in data["nodes"]].count("mvm") == 8


def test_graph_dlrm_json_has_embedding_nodes():
    data = invoke_json("dlrm")
    embeddings = [node for node in data["nodes"] if node["kind"] == "embedding"]
    assert len(embeddings) == 26 and all(node["lookups"] == 1 for node in embeddings)
    assert WorkloadGraph.from_json_dict(data).check().total_macs == data["total_macs"]


def test_graph_table_has_every_node_and_totals():
    result = runner.invoke(app, ["graph", "mlp3"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "TOTAL" in result.stdout and "668672" in result.stdout  # 784*512 + 512*512 + 512*10
    assert "668,672 MACs" in result.stdout


def test_graph_out_writes_node_link_json_and_graphml(tmp_path):
    out = tmp_path / "nested" / "mlp3.json"
    result = runner.invoke(app, ["graph", "mlp3", "--weight-bits", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = WorkloadGraph.from_json_dict(json.loads(out.read_text()))
    assert written.total_macs == 668_672 and written.weight_bits_total == 4 * 668_672
    graphml = nx.read_graphml(out.with_suffix(".graphml"))
    assert set(graphml.nodes) == {node.name for node in written.nodes()}
    assert graphml.number_of_edges() == written.graph.number_of_edges()


def test_graph_accepts_module_callable():
    data = invoke_json("recpim.arch.model.zoo:build_mlp3")
    assert data["total_macs"] == 668_672


def test_unknown_model_is_a_recpim_error_naming_the_choices():
    result = runner.invoke(app, ["graph", "resnet50"])
    assert isinstance(result.exception, RecpimError)
    assert "vgg8" in str(result.exception) and "module:callable" in str(result.exception)


def test_graph_subnet_json(tmp_path):
    from recpim.arch.data.schema import avazu_schema
    from recpim.arch.model import lowering
    from recpim.arch.model.space import nasrec_small
    from recpim.arch.model.subnet import sample_subnet

    subnet = sample_subnet(nasrec_small(), 1)
    path = tmp_path / "subnet.json"
    path.write_text(subnet.to_json())
    data = invoke_json(str(path), "--schema", "avazu")
    expected = lowering.lower_subnet(subnet, avazu_schema())
    assert data["total_macs"] == expected.total_macs > 0
    assert sum(node["kind"] == "embedding" for node in data["nodes"]) == sum(
        node.kind == "embedding" for node in expected.nodes())

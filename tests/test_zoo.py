"""Model zoo: every model's MACs equal torch's FLOP counter; VGG-8 and DLRM match hand-computed figures."""

from __future__ import annotations

import pathlib

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from recpim.arch.data.schema import criteo_schema
from recpim.arch.graph.workload import OpKind, WorkloadGraph
from recpim.arch.model.spec import resolve_model_spec
from recpim.arch.model.zoo import build_zoo_model, zoo_graph, zoo_names
from recpim.errors import RecpimError

# NeuroSim's VGG-8 (reference/neurosim.md): (C_in, C_out, feature map side) of each 3x3 same-padded conv.
VGG8_CONVS = [(3, 128, 32), (128, 128, 32), (128, 256, 16), (256, 256, 16), (256, 512, 8), (512, 512, 8)]
VGG8_FCS = [(8192, 1024), (1024, 10)]
VGG8_MACS = sum(c_in * 9 * c_out * side * side for c_in, c_out, side in VGG8_CONVS) + sum(a * b for a, b in VGG8_FCS)


@pytest.fixture(scope="module")
def graphs() -> dict[str, WorkloadGraph]:
    return {name: zoo_graph(name) for name in zoo_names()}


def test_zoo_has_the_promised_models():
    assert set(zoo_names()) == {"dlrm", "deepfm", "autoint", "mlp3", "vgg8"}


@pytest.mark.parametrize("name", ["dlrm", "deepfm", "autoint", "mlp3", "vgg8"])
def test_macs_equal_torch_flop_counter(name, graphs):
    module, inputs = build_zoo_model(name)
    module.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(*inputs)
    assert graphs[name].total_macs == counter.get_total_flops() // 2 // inputs[0].shape[0]
    round_trip = WorkloadGraph.from_json_dict(graphs[name].to_json_dict()).check()
    assert round_trip.to_json_dict() == graphs[name].to_json_dict()


def test_vgg8_matches_neurosim_layer_list(graphs):
    assert VGG8_MACS == 615_917_568
    vgg = graphs["vgg8"]
    assert vgg.total_macs == VGG8_MACS
    mvms = [n for n in vgg.nodes() if n.kind == OpKind.MVM]
    assert [n.weight_shape for n in mvms] == [(c_in * 9, c_out) for c_in, c_out, _ in VGG8_CONVS] + VGG8_FCS
    assert [n.vectors for n in mvms] == [side * side for *_, side in VGG8_CONVS] + [1, 1]
    assert sum(n.kind == OpKind.POOL for n in vgg.nodes()) == 3
    assert vgg.weight_bits_total == 8 * sum(k * n for k, n in (m.weight_shape for m in mvms))


def test_dlrm_is_criteo_shaped(graphs):
    dlrm, schema = graphs["dlrm"], criteo_schema()
    embeddings = [n for n in dlrm.nodes() if n.kind == OpKind.EMBEDDING]
    assert len(embeddings) == 26
    assert [n.weight_shape for n in embeddings] == [(size, 16) for size in schema.vocab_sizes]
    assert all(n.lookups == 1 and n.output_shape == (16,) for n in embeddings)
    mvms = [n.weight_shape for n in dlrm.nodes() if n.kind == OpKind.MVM]
    pairs = 27 * 26 // 2
    assert mvms == [(13, 512), (512, 256), (256, 64), (64, 16), (16 + pairs, 512), (512, 256), (256, 1)]
    (interaction,) = [n for n in dlrm.nodes() if n.kind == OpKind.ACT_MATMUL]
    assert interaction.macs == 27 * 27 * 16 and interaction.output_shape == (27, 27)
    assert dlrm.total_macs == sum(k * n for k, n in mvms) + 27 * 27 * 16


def test_deepfm_and_autoint_structure(graphs):
    deepfm = graphs["deepfm"]
    dims = sorted(n.weight_shape[1] for n in deepfm.nodes() if n.kind == OpKind.EMBEDDING)
    assert dims == [1] * 26 + [16] * 26  # first-order weights and FM/DNN vectors per field
    assert [n.weight_shape for n in deepfm.nodes() if n.kind == OpKind.MVM] == [
        (13, 1), (26 * 16 + 13, 400), (400, 400), (400, 400), (400, 1)]
    autoint = graphs["autoint"]
    assert sum(n.kind == OpKind.ACT_MATMUL for n in autoint.nodes()) == 6  # scores and values, 3 layers
    assert sum(n.kind == OpKind.SOFTMAX for n in autoint.nodes()) == 3
    scores = next(n for n in autoint.nodes() if n.kind == OpKind.ACT_MATMUL)
    assert scores.output_shape == (2, 39, 39) and scores.macs == 2 * 39 * 39 * 32


def test_mlp3_widths(graphs):
    assert [n.weight_shape for n in graphs["mlp3"].nodes() if n.kind == OpKind.MVM] == [(784, 512), (512, 512),
                                                                                           (512, 10)]


def test_seed_fixes_weights_and_inputs():
    (first, x1), (again, x2), (other, _) = (build_zoo_model("mlp3", seed) for seed in (3, 3, 4))
    assert torch.equal(first[0].weight, again[0].weight) and torch.equal(x1[0], x2[0])
    assert not torch.equal(first[0].weight, other[0].weight)


def test_unknown_names_list_what_is_allowed():
    with pytest.raises(RecpimError, match="dlrm, deepfm, autoint, mlp3, vgg8"):
        build_zoo_model("resnet50")
    with pytest.raises(RecpimError, match="module:callable"):
        resolve_model_spec("resnet50")
    with pytest.raises(RecpimError, match="does not exist"):
        resolve_model_spec("missing.json")
    with pytest.raises(RecpimError, match="no callable"):
        resolve_model_spec("math:nothing_here")


def test_resolve_model_bits_and_callables(tmp_path):
    graph = resolve_model_spec("mlp3", weight_bits=4, activation_bits=6)
    assert {n.weight_bits for n in graph.nodes() if n.kind == OpKind.MVM} == {4}
    assert graph.weight_bits_total == 4 * (784 * 512 + 512 * 512 + 512 * 10)
    (tmp_path / "user_model.py").write_text(
        "import torch\nfrom torch import nn\n\n"
        "def make():\n    return nn.Sequential(nn.Linear(6, 5), nn.Tanh()), (torch.randn(2, 6),)\n\n"
        "class WithInputs(nn.Linear):\n    def sample_inputs(self):\n        return (torch.randn(3, 4),)\n\n"
        "def bare():\n    return WithInputs(4, 2)\n\n"
        "def wrong():\n    return 42\n"
    )
    assert resolve_model_spec(f"{tmp_path / 'user_model.py'}:make").total_macs == 30
    assert resolve_model_spec(f"{tmp_path / 'user_model.py'}:bare").total_macs == 8
    with pytest.raises(RecpimError, match="must return"):
        resolve_model_spec(f"{tmp_path / 'user_model.py'}:wrong")
    assert resolve_model_spec("recpim.arch.model.zoo:build_mlp3").total_macs == graph.total_macs


def test_subnet_json_is_lowered_with_the_schema(tmp_path):
    from recpim.arch.model import lowering
    from recpim.arch.model.space import nasrec_small
    from recpim.arch.model.subnet import load_subnet, sample_subnet

    path = tmp_path / "subnet.json"
    path.write_text(sample_subnet(nasrec_small(), 0).to_json())
    expected = lowering.lower_subnet(load_subnet(path), criteo_schema())
    graph = resolve_model_spec(str(path), schema_name="criteo")
    assert graph.total_macs == expected.total_macs > 0
    with pytest.raises(RecpimError, match="criteo, avazu"):
        resolve_model_spec(str(path), schema_name="movielens")


def test_the_model_resolver_knows_the_zoo_without_torch():
    import subprocess
    import sys

    from recpim.arch.model.spec import ZOO_NAMES
    from recpim.arch.model.zoo import ZOO

    assert tuple(ZOO) == ZOO_NAMES
    # importing the CLI (what `recpim chip` pays before it runs) does not load torch, nor does mapping a
    # subnet JSON (lowering is torch-free); tests/test_lowering_paths.py checks simulate and sweep
    code = "import sys; import recpim.cli; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() \
        == "False"
    subnet = pathlib.Path(__file__).resolve().parents[1] / "examples" / "subnet_full_seed0.json"
    code = ("import sys; from typer.testing import CliRunner; from recpim.cli import app; "
            f"result = CliRunner().invoke(app, ['map', {str(subnet)!r}, '--chip', 'isaac', '--json']); "
            "print(result.exit_code, 'torch' in sys.modules)")
    mapped = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert mapped.stdout.split()[-2:] == ["0", "False"]


def test_zoo_baselines_are_typed_records_costed_on_the_chip():
    from recpim.arch.data.datasets import open_dataset
    from recpim.pim.presets import load_chip
    from recpim.reports.search_outputs import zoo_marks
    from recpim.search.zoo_baselines import ZooBaseline, zoo_points

    points = zoo_points(load_chip("isaac"), open_dataset("synthetic:2000", seed=0), steps=0, score_rows=256)
    assert [p.name for p in points] == ["dlrm", "deepfm"] and all(isinstance(p, ZooBaseline) for p in points)
    for point in points:
        assert point.energy_pj_per_inference > 0 and point.des_energy_pj_per_inference > 0
        assert point.latency_ns_per_inference > 0 and point.throughput_inf_per_s > 0
        assert point.logloss is None and point.logloss_float is None   # not trained: no accuracy claimed
    assert zoo_marks(points) == []                                       # only models with a log loss are marked


def test_searched_models_retrained_alone_are_marked_with_their_own_cost():
    """The demo's fair comparison: a searched candidate trained alone the zoo's way keeps the
    search's cost figures, gets a finite log loss from standalone training, and is plotted."""
    from types import SimpleNamespace

    from recpim.arch.data.datasets import open_dataset
    from recpim.arch.model.space import nasrec_small
    from recpim.arch.model.subnet import sample_subnet
    from recpim.pim.presets import load_chip
    from recpim.reports.search_outputs import zoo_marks
    from recpim.search.zoo_baselines import retrained_points

    subnet = sample_subnet(nasrec_small(), 3)
    metrics = SimpleNamespace(energy_pj_per_inference=1.5e5, latency_ns_per_inference=900.0,
                              throughput_inf_per_s=2e6)
    record = SimpleNamespace(index=7, candidate=SimpleNamespace(subnet=subnet), metrics=metrics)
    dataset = open_dataset("synthetic:2000", seed=0)
    [point] = retrained_points([record], load_chip("default"), dataset, steps=3, score_rows=128)
    assert point.name == "searched c7 (alone)" and point.energy_pj_per_inference == 1.5e5
    assert point.latency_ns_per_inference == 900.0 and 0.0 < point.logloss < 5.0
    assert [mark.name for mark in zoo_marks([point])] == ["searched c7 (alone)"]

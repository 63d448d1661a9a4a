"""One subnet, two ways into a WorkloadGraph: the direct lowering (arch/model/lowering.py) and the torch.fx
import of the standalone model built from the same config (arch/graph/fx_import.py). Both count with the
one operator registry (arch/model/operators.py) and the one digital-cost table (arch/graph/digital_cost.py),
so they must give the same MACs and the same digital ops. Lowering itself must not need torch."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from recpim.arch.data.schema import DatasetSchema
from recpim.arch.graph.fx_import import graph_from_module
from recpim.arch.graph.workload import DIGITAL_KINDS, OpKind, WorkloadGraph
from recpim.arch.model.lowering import lower_subnet
from recpim.arch.model.operators import DENSE_OPERATORS, SPARSE_OPERATORS
from recpim.arch.model.space import DenseOp, SparseOp, nasrec_full, nasrec_small
from recpim.arch.model.standalone import StandaloneModel
from recpim.arch.model.subnet import SubnetConfig, load_subnet, sample_subnet

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
# Counts do not depend on vocabulary sizes; small tables keep the torch models cheap to build.
CRITEO_LIKE = DatasetSchema(name="criteo_like", num_dense=13, vocab_sizes=(11,) * 26)

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest: small torch ops on one thread


def traced(subnet: SubnetConfig, schema: DatasetSchema) -> WorkloadGraph:
    """The torch.fx graph of the standalone model of `subnet` (a batch of 2 samples)."""
    model = StandaloneModel(subnet, schema)
    inputs = (torch.randn(2, schema.num_dense), torch.zeros(2, schema.num_sparse, dtype=torch.long))
    return graph_from_module(model, inputs, "standalone")


def digital_ops(graph: WorkloadGraph) -> int:
    """The ops the chip's digital units execute (what the mapping costs)."""
    return sum(node.ops for node in graph.nodes() if node.kind in DIGITAL_KINDS)


def crossbar_layers(graph: WorkloadGraph) -> Counter:
    return Counter((node.weight_shape, node.vectors, node.weight_bits is not None) for node in graph.nodes()
                   if node.kind == OpKind.MVM)


def assert_same_costs(subnet: SubnetConfig, schema: DatasetSchema) -> None:
    """Totals must agree; nodes may differ where torch computes the same work in other pieces:
    - attention: the direct lowering has scores / softmax / context nodes, torch.fx one fused
      scaled_dot_product_attention node (an act_matmul carrying the softmax's ops);
    - the FM merger: one reduce node (3RD + 3D ops) directly, separate sum / square / subtract /
      halve nodes (reduce, mul, add) through torch.fx;
    - the Dot-Product's pair selection and every concat, view and transpose are free either way.
    The crossbar layers (MVM weight shapes and how often each is applied) are the same set."""
    direct, fx = lower_subnet(subnet, schema), traced(subnet, schema)
    assert fx.total_macs == direct.total_macs > 0
    assert digital_ops(fx) == digital_ops(direct) > 0
    assert fx.total_ops == direct.total_ops              # the digital ops plus the MVMs' bias adds
    assert crossbar_layers(fx) == crossbar_layers(direct)


@pytest.mark.parametrize("name", ["subnet_full_seed0.json", "subnet_full_seed1.json", "subnet_small_seed0.json"])
def test_example_subnets_cost_the_same_directly_and_through_torch_fx(name):
    assert_same_costs(load_subnet(EXAMPLES / name), CRITEO_LIKE)


@settings(max_examples=5)
@given(full=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_sampled_subnets_cost_the_same_directly_and_through_torch_fx(full, seed):
    # (a schema with dense features: without them the standalone model's all-zero pseudo feature
    # is a constant to torch.fx, which then drops the layers that read only it)
    space = nasrec_full(num_blocks=3) if full else nasrec_small(num_blocks=3)
    space = space.model_copy(update={"name": f"{space.name}_3_blocks"})
    assert_same_costs(sample_subnet(space, seed), CRITEO_LIKE)


def test_every_operator_has_one_registry_entry_with_a_torch_module():
    assert set(DENSE_OPERATORS) == set(DenseOp) and set(SPARSE_OPERATORS) == set(SparseOp)
    for entry in [*DENSE_OPERATORS.values(), *SPARSE_OPERATORS.values()]:
        module = entry.module_class()
        assert issubclass(module, torch.nn.Module)
        assert all(callable(getattr(module, name, None)) for name in ("build", "run", "inherit"))
    assert {op for op, entry in DENSE_OPERATORS.items() if entry.reads_left_right} == {DenseOp.GATING, DenseOp.SUM}


def _without_torch(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)


def test_lowering_a_subnet_json_does_not_import_torch():
    code = ("import sys, json\n"
            "from recpim.arch.model.lowering import lower_subnet\n"
            "from recpim.arch.data.schema import criteo_schema\n"
            "from recpim.arch.model.subnet import load_subnet\n"
            "graph = lower_subnet(load_subnet('examples/subnet_full_seed0.json'), criteo_schema())\n"
            "print(json.dumps([graph.total_macs, 'torch' in sys.modules]))\n")
    result = _without_torch(code)
    assert result.returncode == 0, result.stderr
    macs, loaded = json.loads(result.stdout)
    assert macs == lower_subnet(load_subnet(EXAMPLES / "subnet_full_seed0.json"), CRITEO_LIKE).total_macs
    assert loaded is False


@pytest.mark.parametrize("command", [
    ["simulate", "examples/subnet_small_seed0.json", "--chip", "isaac", "--engine", "analytic"],
    ["sweep", "examples/subnet_small_seed0.json", "--chip", "isaac", "--set", "adc.bits=6,8"],
])
def test_cli_costs_a_subnet_json_without_torch(command, tmp_path):
    """(`recpim map` of a subnet JSON: tests/test_zoo.py, beside the CLI import check)"""
    code = ("import sys, json\n"
            "from typer.testing import CliRunner\n"
            "from recpim.cli import app\n"
            f"result = CliRunner().invoke(app, {command!r} + (['--out', {str(tmp_path / 'out')!r}] "
            f"if {command[0]!r} == 'sweep' else []))\n"
            "print(json.dumps([result.exit_code, 'torch' in sys.modules, result.output[-2000:]]))\n")
    result = _without_torch(code)
    assert result.returncode == 0, result.stderr
    exit_code, loaded, output = json.loads(result.stdout.strip().splitlines()[-1])
    assert exit_code == 0, output
    assert loaded is False

"""Lowering a subnet to a WorkloadGraph: MACs equal what torch executes for the standalone model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from recpim.arch.data.schema import DatasetSchema, avazu_schema, criteo_schema
from recpim.arch.graph.workload import OpKind, WorkloadGraph
from recpim.arch.model.embeddings import EmbeddingTables
from recpim.arch.model.lowering import lower_subnet
from recpim.arch.model.modules import SlicedLinear
from recpim.arch.model.space import nasrec_full, nasrec_small
from recpim.arch.model.standalone import StandaloneModel
from recpim.arch.model.subnet import SubnetConfig, sample_subnet
from recpim.errors import ConfigError

# MACs do not depend on vocabulary sizes; small tables keep the torch models cheap to build.
CRITEO_LIKE = DatasetSchema(name="criteo_like", num_dense=13, vocab_sizes=(11,) * 26)
AVAZU_LIKE = DatasetSchema(name="avazu_like", num_dense=0, vocab_sizes=(7,) * 23)
BATCH = 2


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest: small torch ops on one thread


def torch_macs(subnet: SubnetConfig, schema: DatasetSchema) -> int:
    """MACs per sample that torch executes for the standalone model (FLOPs / 2 of matmul-type ops)."""
    torch.manual_seed(0)
    model = StandaloneModel(subnet, schema)
    dense = torch.randn(BATCH, schema.num_dense)
    sparse = torch.randint(0, min(schema.vocab_sizes), (BATCH, schema.num_sparse))
    # The math backend runs attention as the two batched matmuls torch's FLOP counter sees (the
    # fused CPU kernel it picks otherwise is not counted); the products are the same.
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        logits = model(dense, sparse)
    assert logits.shape == (BATCH,)
    flops = counter.get_total_flops()
    assert flops % (2 * BATCH) == 0
    return flops // (2 * BATCH)


def graph_macs(graph: WorkloadGraph) -> int:
    return sum(n.macs for n in graph.nodes() if n.kind in (OpKind.MVM, OpKind.ACT_MATMUL))


@pytest.mark.parametrize("space", [nasrec_small(), nasrec_full()], ids=lambda s: s.name)
@pytest.mark.parametrize("schema", [CRITEO_LIKE, AVAZU_LIKE], ids=lambda s: s.name)
def test_macs_equal_torch_flop_counter_for_random_subnets(space, schema):
    rng = np.random.default_rng([len(space.dense_ops), schema.num_dense])
    for _ in range(12 if schema is CRITEO_LIKE else 4):
        subnet = sample_subnet(space, rng)
        graph = lower_subnet(subnet, schema)
        assert graph_macs(graph) == graph.total_macs == torch_macs(subnet, schema)


@pytest.mark.slow
@pytest.mark.parametrize("space", [nasrec_small(), nasrec_full()], ids=lambda s: s.name)
def test_macs_equal_torch_flop_counter_many_subnets(space):
    for seed in range(100):
        subnet = sample_subnet(space, 1000 + seed)
        assert lower_subnet(subnet, CRITEO_LIKE).total_macs == torch_macs(subnet, CRITEO_LIKE)


TWO_BLOCKS = nasrec_full(num_blocks=2, name="test_lowering_two_blocks")
HAND_SUBNET = SubnetConfig.from_dict({
    "space": TWO_BLOCKS.name,
    "embedding_bits": 6,
    "blocks": [
        {"dense_op": "fc", "dense_width": 16, "sparse_op": "efc", "sparse_width": 16, "dense_inputs": [0],
         "sparse_inputs": [0], "dense_to_sparse": True, "sparse_to_dense_fm": False, "weight_bits": 4,
         "activation_bits": 6},
        {"dense_op": "dot_product", "dense_width": 32, "sparse_op": "attention", "sparse_width": 16,
         "dense_inputs": [0, 1], "sparse_inputs": [0, 1], "dense_to_sparse": False, "sparse_to_dense_fm": True,
         "weight_bits": 8, "activation_bits": 8},
    ],
}, space=TWO_BLOCKS)


def test_hand_computed_two_block_subnet():
    graph = lower_subnet(HAND_SUBNET, criteo_schema())
    node = graph.node
    # block 1: FC 13->16; EFC 26 rows -> 16 rows per dim (16 dims); dense->sparse 16 -> 8 rows x 16
    assert node("block1.dense.fc").macs == 13 * 16
    assert node("block1.sparse.efc").weight_shape == (26, 16) and node("block1.sparse.efc").vectors == 16
    assert node("block1.merge.dense_to_sparse").macs == 16 * 128
    # block 2 reads 26 + (16 + 8) = 50 rows and 13 + 16 = 29 dense features.
    # Dot-Product: n = round(sqrt(64)) = 8 rows, 28 pairs; Gram 8x8x16; out 29 + 28 -> 32
    assert node("block2.dense.row_proj").weight_shape == (50, 8)
    assert node("block2.dense.pair_dots").macs == 8 * 8 * 16
    assert node("block2.dense.pair_dots").output_shape == (28,)
    assert node("block2.dense.out_proj").weight_shape == (57, 32)
    # Attention: rows 50 -> 16; Q, K, V, O 16x16 over 16 rows; scores and context 16*16*16 each
    assert node("block2.sparse.row_proj").macs == 50 * 16 * 16
    assert node("block2.sparse.q_proj").macs == 16 * 16 * 16
    assert node("block2.sparse.scores").output_shape == (8, 16, 16)
    assert node("block2.merge.fm_proj").weight_shape == (16, 32)
    # logit over 32 dense + 16 rows x 16
    assert node("logit").weight_shape == (32 + 256, 1)
    expected = (208 + 6656 + 2048) + (6400 + 1024 + 1824) + (12800 + 4 * 4096 + 4096 + 4096) + 512 + 288
    assert graph.total_macs == expected == 56336
    assert torch_macs(HAND_SUBNET, criteo_schema(vocab_cap=50)) == expected


def test_bits_and_bytes_follow_the_subnet():
    schema = criteo_schema()
    graph = lower_subnet(HAND_SUBNET, schema)
    embeddings = [n for n in graph.nodes() if n.kind == OpKind.EMBEDDING]
    assert len(embeddings) == 26
    for field, node in enumerate(embeddings):
        assert node.weight_shape == (schema.vocab_sizes[field], 16) and node.lookups == 1
        assert node.weight_bits == node.activation_bits == 6 and node.bytes_written == 16 * 6 // 8
    fc = graph.node("block1.dense.fc")
    assert (fc.weight_bits, fc.activation_bits) == (4, 6)
    # raw dense features enter at the highest activation bits of their readers (8, block 2)
    assert fc.bytes_read == 13 and fc.bytes_written == 16 * 6 // 8
    for node in graph.nodes():
        if node.name.startswith("block2."):
            assert node.activation_bits == 8 and node.weight_bits in (None, 8)
    assert graph.node("logit").weight_bits == 8
    for producer, consumer, data in graph.graph.edges(data=True):
        source = graph.node(producer)
        assert data["tensor_bytes"] == -(-np.prod(source.output_shape) * source.activation_bits // 8)
        assert source.output_shape in graph.node(consumer).input_shapes


@pytest.mark.parametrize("seed", range(4))
def test_graph_checks_and_round_trips(seed):
    subnet = sample_subnet(nasrec_full(), seed)
    graph = lower_subnet(subnet, avazu_schema()).check()
    again = WorkloadGraph.from_json_dict(json.loads(graph.to_json())).check()
    assert [n.to_dict() for n in again.nodes()] == [n.to_dict() for n in graph.nodes()]
    assert again.total_macs == graph.total_macs
    assert SubnetConfig.from_dict(graph.metadata["subnet"]) == subnet
    assert graph.node("dense_input").output_shape == (1,)     # Avazu: one all-zero pseudo feature
    kinds = {n.kind for n in graph.nodes()}
    assert {OpKind.INPUT, OpKind.EMBEDDING, OpKind.MVM, OpKind.OUTPUT} <= kinds


@pytest.mark.parametrize("seed", range(3))
def test_weights_in_the_graph_are_the_models_weights(seed):
    subnet = sample_subnet(nasrec_full(), 50 + seed)
    graph = lower_subnet(subnet, CRITEO_LIKE)
    model = StandaloneModel(subnet, CRITEO_LIKE)
    linear_weights = sum(m.weight.numel() for m in model.modules() if isinstance(m, SlicedLinear))
    mvm_weights = sum(n.weight_count for n in graph.nodes() if n.kind == OpKind.MVM)
    assert mvm_weights == linear_weights
    tables = sum(p.numel() for m in model.modules() if isinstance(m, EmbeddingTables) for p in m.parameters())
    assert sum(n.weight_count for n in graph.nodes() if n.kind == OpKind.EMBEDDING) == tables


def test_attention_heads_must_divide_the_embedding_dim():
    schema = DatasetSchema(name="odd_dim", num_dense=2, vocab_sizes=(5, 5), embedding_dim=12)
    subnets = (sample_subnet(nasrec_full(), seed) for seed in range(50))
    subnet = next(s for s in subnets if any(b.sparse_op == "attention" for b in s.blocks))
    with pytest.raises(ConfigError, match="not divisible"):
        lower_subnet(subnet, schema)
    with pytest.raises(ConfigError, match="not divisible"):
        StandaloneModel(subnet, schema)

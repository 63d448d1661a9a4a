"""The weight-sharing supernet: a subnet's forward equals its standalone model built from the
supernet's slices, only the subnet's weights are used, and every subnet of a space runs."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from recpim.arch.crossbar.matmul import CrossbarArithmetic
from recpim.arch.data.schema import DatasetSchema
from recpim.arch.data.synthetic import synthetic_schema
from recpim.arch.model.space import SearchSpace, get_space, nasrec_full, nasrec_small
from recpim.arch.model.subnet import SubnetConfig, sample_subnet
from recpim.arch.model.supernet import Supernet, extract_standalone
from recpim.errors import ConfigError

# A NASRec-Full-shaped space at test size: every operator and merger, narrow widths, 4 blocks.
TINY_FULL = nasrec_full(num_blocks=4, name="test_supernet_full", dense_widths=(8, 16, 24),
                        sparse_widths=(4, 8), merger_rows=3, attention_heads=2)
TINY_SMALL = nasrec_small(num_blocks=3, name="test_supernet_small", dense_widths=(8, 16),
                          sparse_widths=(4, 6), allow_dense_to_sparse=False)
SCHEMA = synthetic_schema(num_dense=5, num_sparse=6, vocab_size=40, embedding_dim=4)
AVAZU_LIKE = DatasetSchema(name="no_dense", num_dense=0, vocab_sizes=(30, 20, 10, 5), embedding_dim=4)


def _inputs(schema: DatasetSchema, rows: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    dense = torch.rand(rows, schema.num_dense, generator=g) * 3
    sparse = torch.stack([torch.randint(0, v, (rows,), generator=g) for v in schema.vocab_sizes], dim=1)
    return dense, sparse


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest: small torch ops on one thread


@pytest.fixture(scope="module")
def supernets() -> dict[str, Supernet]:
    torch.manual_seed(0)
    return {"full": Supernet(TINY_FULL, SCHEMA), "small": Supernet(TINY_SMALL, SCHEMA),
            "no_dense": Supernet(TINY_FULL, AVAZU_LIKE)}


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 100_000), which=st.sampled_from(["full", "small", "no_dense"]), quant=st.booleans())
def test_supernet_forward_equals_the_standalone_model_of_its_slices(supernets, seed, which, quant):
    """Inheritance and slicing are right: same function, exactly (up to float rounding)."""
    net = supernets[which]
    subnet = sample_subnet(net.space, seed)
    dense, sparse = _inputs(net.schema, seed=seed)
    with torch.no_grad():
        expected = extract_standalone(net, subnet, quantize=quant)(dense, sparse)
        got = net(dense, sparse, subnet, quant=quant)
    assert got.shape == (16,)
    assert torch.allclose(got, expected, atol=1e-5, rtol=1e-5)


def test_the_published_full_space_matches_too():
    torch.manual_seed(1)
    net = Supernet(get_space("full"), synthetic_schema())
    dense, sparse = _inputs(net.schema, rows=8)
    for seed in range(3):
        subnet = sample_subnet(net.space, seed)
        with torch.no_grad():
            assert torch.allclose(net(dense, sparse, subnet), extract_standalone(net, subnet)(dense, sparse),
                                  atol=1e-5, rtol=1e-5)


def test_a_step_touches_only_the_sampled_operators(supernets):
    """No masks over full-width compute: unsampled operators and mergers get no gradient at all;
    the last block's (whose outputs the logit always reads) do, inside their active slices only."""
    net = supernets["full"]
    for seed in range(4):
        subnet = sample_subnet(net.space, seed)
        net.zero_grad(set_to_none=True)
        net(*_inputs(SCHEMA), subnet).sum().backward()
        for block, config in zip(net.blocks, subnet.blocks, strict=True):
            for name, op in block.dense_ops.items():
                if name != config.dense_op.value:
                    assert all(p.grad is None for p in op.parameters()), name
            for name, op in block.sparse_ops.items():
                if name != config.sparse_op.value:
                    assert all(p.grad is None for p in op.parameters()), name
            if not config.sparse_to_dense_fm:
                assert all(p.grad is None for p in block.fm.parameters())
            if not config.dense_to_sparse:
                assert all(p.grad is None for p in block.dense_to_sparse.parameters())
        last, last_block = subnet.blocks[-1], net.blocks[-1]
        dense_op = last_block.dense_ops[last.dense_op.value]
        assert dense_op.norm.weight.grad is not None
        assert dense_op.norm.weight.grad[last.dense_width:].abs().sum() == 0  # beyond the active width
        assert last_block.sparse_ops[last.sparse_op.value].norm.weight.grad is not None
    net.zero_grad(set_to_none=True)


def test_a_source_always_meets_the_same_weights(supernets):
    """Changing the weights of a source's slot that the subnet does not read leaves its output
    unchanged; changing those of a slot it reads changes it."""
    net = supernets["small"]
    blocks = [dict(dense_op="fc", dense_width=8, sparse_op="efc", sparse_width=4, dense_inputs=[0],
                   sparse_inputs=[0], weight_bits=8, activation_bits=8),
              dict(dense_op="fc", dense_width=16, sparse_op="efc", sparse_width=6, dense_inputs=[1],
                   sparse_inputs=[0, 1], weight_bits=8, activation_bits=8),
              dict(dense_op="fc", dense_width=8, sparse_op="efc", sparse_width=4, dense_inputs=[0, 2],
                   sparse_inputs=[2], weight_bits=8, activation_bits=8)]
    subnet = SubnetConfig.from_dict(dict(space=TINY_SMALL.name, embedding_bits=8, blocks=blocks), space=TINY_SMALL)
    dense, sparse = _inputs(SCHEMA)
    weight = net.blocks[2].dense_ops["fc"].linear.weight
    offsets = net.layout.dense_offsets
    with torch.no_grad():
        before = net(dense, sparse, subnet)
        saved = weight.clone()
        # (random changes: a change shared by all outputs would vanish in the LayerNorm)
        weight[:, offsets[1]:offsets[2]] += torch.randn_like(weight[:, offsets[1]:offsets[2]])  # not read
        assert torch.equal(net(dense, sparse, subnet), before)
        weight[:, offsets[2]:offsets[2] + 16] += torch.randn_like(weight[:, offsets[2]:offsets[2] + 16])  # read
        assert not torch.allclose(net(dense, sparse, subnet), before)
        weight.copy_(saved)


def test_lossless_crossbars_reproduce_the_quantised_forward(supernets):
    net = supernets["full"]
    subnet = sample_subnet(net.space, 3)
    dense, sparse = _inputs(SCHEMA, rows=12)
    with torch.inference_mode():
        quantised = net(dense, sparse, subnet, quant=True)
        lossless = net(dense, sparse, subnet, crossbar=CrossbarArithmetic(rows=64, rows_read_at_once=32, adc_bits=16))
        lossy = net(dense, sparse, subnet, crossbar=CrossbarArithmetic(rows=64, rows_read_at_once=32, adc_bits=3))
    assert torch.allclose(lossless, quantised, atol=1e-4, rtol=1e-4)
    assert (lossy - quantised).abs().max() > 1e-3


def test_refuses_a_subnet_of_another_space_and_bad_inputs(supernets):
    net = supernets["small"]
    with pytest.raises(ConfigError, match="subnet.space"):
        net(*_inputs(SCHEMA), sample_subnet(TINY_FULL, 0))
    with pytest.raises(ConfigError, match="dense"):
        net(torch.zeros(4, 3), torch.zeros(4, 6, dtype=torch.long), sample_subnet(TINY_SMALL, 0))


def test_attention_needs_divisible_embedding_dim():
    space = SearchSpace(**{**TINY_FULL.model_dump(), "name": "test_supernet_heads3",
                           "attention_heads": 3})
    with pytest.raises(ConfigError, match="heads"):
        Supernet(space, SCHEMA)

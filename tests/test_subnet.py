"""SubnetConfig: validation, JSON round trip, seeded any-connection sampling and mutation."""

from __future__ import annotations

import json
import pickle
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recpim.arch.model.space import (
    BINARY_DENSE_OPS,
    DenseOp,
    SearchSpace,
    SparseOp,
    nasrec_full,
    nasrec_small,
)
from recpim.arch.model.subnet import BlockConfig, SubnetConfig, load_subnet, mutate, sample_subnet
from recpim.errors import ConfigError

SPACES = {"small": nasrec_small(), "full": nasrec_full()}
seeds = st.integers(min_value=0, max_value=2**32 - 1)
space_names = st.sampled_from(sorted(SPACES))


def assert_canonical_and_valid(subnet: SubnetConfig, space: SearchSpace) -> None:
    subnet.validate_in(space)
    assert subnet.space == space.name and len(subnet.blocks) == space.num_blocks
    for i, block in enumerate(subnet.blocks, start=1):
        for inputs in (block.sparse_inputs, block.dense_inputs):
            assert list(inputs) == sorted(set(inputs)) and all(0 <= j < i for j in inputs)
        assert 1 <= len(block.sparse_inputs) <= min(i, 4)
        if block.dense_op in BINARY_DENSE_OPS:
            assert block.dense_inputs == () and 0 <= block.dense_left < i and 0 <= block.dense_right < i
        else:
            assert 1 <= len(block.dense_inputs) <= min(i, 4) and block.dense_left is None is block.dense_right


@settings(max_examples=60, deadline=None)
@given(name=space_names, seed=seeds)
def test_sampling_gives_valid_configs_that_round_trip(name, seed):
    space = SPACES[name]
    subnet = sample_subnet(space, seed)
    assert_canonical_and_valid(subnet, space)
    assert SubnetConfig.from_json(subnet.to_json()) == subnet
    assert SubnetConfig.from_dict(json.loads(json.dumps(subnet.to_dict()))) == subnet
    assert sample_subnet(space, seed) == subnet                      # seeded
    assert sample_subnet(space, np.random.default_rng(seed)) == subnet


@settings(max_examples=60, deadline=None)
@given(name=space_names, seed=seeds, changes=st.one_of(st.none(), st.integers(1, 6)))
def test_mutation_always_gives_a_valid_different_child(name, seed, changes):
    space = SPACES[name]
    parent = sample_subnet(space, seed)
    child = mutate(parent, space, np.random.default_rng(seed + 1), num_changes=changes)
    assert_canonical_and_valid(child, space)
    assert child != parent
    assert SubnetConfig.from_json(child.to_json()) == child
    assert mutate(parent, space, seed + 1, num_changes=changes) == child  # seeded


@settings(max_examples=40, deadline=None)
@given(name=space_names, seed=seeds)
def test_single_mutation_changes_one_block_or_the_embedding_bits(name, seed):
    space = SPACES[name]
    parent = sample_subnet(space, seed)
    child = mutate(parent, space, seed, num_changes=1)
    changed = [i for i, (a, b) in enumerate(zip(parent.blocks, child.blocks, strict=True)) if a != b]
    assert len(changed) + (parent.embedding_bits != child.embedding_bits) == 1
    if changed:
        a, b = parent.blocks[changed[0]], child.blocks[changed[0]]
        differing = {k for k in BlockConfig.model_fields if getattr(a, k) != getattr(b, k)}
        # one aspect: an operator switch may bring its own connections along
        assert len(differing) == 1 or "dense_op" in differing


def test_mutations_cover_every_kind():
    space = nasrec_full()
    rng = np.random.default_rng(0)
    seen = Counter()
    for _ in range(300):
        parent = sample_subnet(space, rng)
        child = mutate(parent, space, rng, num_changes=1)
        if parent.embedding_bits != child.embedding_bits:
            seen["embedding_bits"] += 1
        for a, b in zip(parent.blocks, child.blocks, strict=True):
            seen.update(k for k in BlockConfig.model_fields if getattr(a, k) != getattr(b, k))
    for kind in ("dense_op", "dense_width", "sparse_op", "sparse_width", "dense_inputs", "sparse_inputs",
                 "dense_left", "dense_right", "dense_to_sparse", "sparse_to_dense_fm", "weight_bits",
                 "activation_bits", "embedding_bits"):
        assert seen[kind] > 0, kind


def test_input_set_sizes_follow_one_plus_binomial():
    """Block i's input set has 1 + Binomial(min(i-1, 3), 0.5) members drawn from sources 0..i-1."""
    rng = np.random.default_rng(1)
    subnets = [sample_subnet(nasrec_small(), rng) for _ in range(1000)]
    sizes = {i: Counter(len(s.blocks[i - 1].sparse_inputs) for s in subnets) for i in (1, 2, 7)}
    assert sizes[1] == {1: 1000}                                      # block 1 can only read block 0
    assert sizes[2][1] / 1000 == pytest.approx(0.5, abs=0.05)
    pmf = {1: 1 / 8, 2: 3 / 8, 3: 3 / 8, 4: 1 / 8}                   # 1 + Binomial(3, 0.5)
    for size, p in pmf.items():
        assert sizes[7][size] / 1000 == pytest.approx(p, abs=0.05)
    # any-connection: every earlier source is used, including the raw features
    sources = Counter(j for s in subnets for j in s.blocks[6].sparse_inputs)
    assert set(sources) == set(range(7))
    assert max(sources.values()) / min(sources.values()) < 1.3


def _block_dict(**overrides):
    block = dict(dense_op="fc", dense_width=64, sparse_op="efc", sparse_width=16, dense_inputs=[0],
                 sparse_inputs=[0], weight_bits=8, activation_bits=8)
    block.update(overrides)
    return block


def _subnet_dict(space="nasrec_full", blocks=None, **overrides):
    data = dict(space=space, embedding_bits=8,
                blocks=blocks if blocks is not None else [_block_dict(dense_inputs=[i], sparse_inputs=[i])
                                                          for i in range(7)])
    data.update(overrides)
    return data


def _problems(data) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        SubnetConfig.from_dict(data)
    return dict(caught.value.problems)


def test_a_hand_written_config_is_valid_and_inputs_are_sorted():
    data = _subnet_dict()
    data["blocks"][6] = _block_dict(dense_inputs=[5, 0, 3], sparse_inputs=[6, 1])
    subnet = SubnetConfig.from_dict(data)
    assert subnet.blocks[6].dense_inputs == (0, 3, 5) and subnet.blocks[6].sparse_inputs == (1, 6)


def test_invalid_configs_name_block_key_and_allowed_values():
    data = _subnet_dict()
    data["blocks"][2] = _block_dict(dense_width=100, dense_inputs=[3], sparse_inputs=[0, 1, 2, 2])
    data["blocks"][4] = _block_dict(dense_op="sum", dense_inputs=[1], dense_left=0)
    data["blocks"][5] = _block_dict(dense_inputs=[0, 1, 2, 3, 4], dense_left=2, weight_bits=3)
    problems = _problems(data)
    assert "allowed: 16, 32, 64, 128, 256, 512, 768, 1024" in problems["block3.dense_width"]
    assert "0..2" in problems["block3.dense_inputs"]           # block 3 reads sources 0..2 only
    assert "block3.sparse_inputs" in problems                  # duplicate source
    assert "must be empty" in problems["block5.dense_inputs"]
    assert "allowed: sources 0..4" in problems["block5.dense_right"]
    assert "1..4 distinct sources" in problems["block6.dense_inputs"]
    assert "only gating/sum" in problems["block6.dense_left"]
    assert "allowed: 4, 6, 8" in problems["block6.weight_bits"]


def test_space_level_problems():
    assert "has 6 blocks" in _problems(_subnet_dict(blocks=[_block_dict()] * 6))["blocks"]
    assert "allowed: 4, 6, 8" in _problems(_subnet_dict(embedding_bits=2))["embedding_bits"]
    assert "unknown space" in _problems(_subnet_dict(space="nasrec_huge"))["name"]
    small = _subnet_dict(space="nasrec_small")
    small["blocks"][1] = _block_dict(sparse_op="attention", dense_op="gating", dense_inputs=[], dense_left=0,
                                     dense_right=1)
    problems = _problems(small)
    assert "allowed: efc" in problems["block2.sparse_op"]
    assert "allowed: fc, dot_product" in problems["block2.dense_op"]


def test_type_errors_and_unknown_keys():
    data = _subnet_dict()
    data["blocks"][0]["dense_op"] = "conv"
    data["blocks"][1]["colour"] = "red"
    problems = _problems(data)
    assert "'fc', 'dot_product', 'gating' or 'sum'" in problems["block1.dense_op"]
    assert problems["block2.colour"].startswith("unknown key 'colour' allowed keys: activation_bits, dense_inputs")
    assert _problems(_subnet_dict(extra=1))["extra"].startswith("unknown key 'extra' allowed keys: blocks")
    with pytest.raises(ConfigError, match="expected a JSON object"):
        SubnetConfig.from_dict([1, 2])


def test_load_subnet_errors(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_subnet(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_subnet(bad)
    good = tmp_path / "good.json"
    subnet = sample_subnet(nasrec_full(), 11)
    good.write_text(subnet.to_json())
    assert load_subnet(good) == subnet


def test_mutate_refuses_foreign_spaces_and_single_point_spaces():
    with pytest.raises(ConfigError, match="not 'nasrec_small'"):
        mutate(sample_subnet(nasrec_full(), 0), nasrec_small(), 0)
    point = SearchSpace(name="test_point", num_blocks=1, dense_ops=(DenseOp.FC,), sparse_ops=(SparseOp.EFC,),
                        dense_widths=(16,), sparse_widths=(16,), weight_bits=(8,), activation_bits=(8,),
                        embedding_bits=(8,), allow_dense_to_sparse=False, allow_sparse_to_dense_fm=False)
    assert point.size() == 1
    with pytest.raises(ConfigError, match="single config"):
        mutate(sample_subnet(point, 0), point, 0)


def test_a_custom_space_travels_with_its_subnets():
    with pytest.raises(ConfigError, match="its own name"):
        sample_subnet(nasrec_full(num_blocks=3), 0)
    three = nasrec_full(num_blocks=3, name="test_full_three_blocks")
    subnet = sample_subnet(three, 0)   # no registry: the subnet carries the space it was checked in
    assert subnet.search_space == three and pickle.loads(pickle.dumps(subnet)).search_space == three
    assert len(subnet.blocks) == 3 and mutate(subnet, three, 1) != subnet
    with pytest.raises(ConfigError, match="unknown space 'test_full_three_blocks'"):
        SubnetConfig.from_json(subnet.to_json())          # read back, it needs its space explicitly
    assert SubnetConfig.from_json(subnet.to_json(), space=three) == subnet
    with pytest.raises(ConfigError, match="read in space 'nasrec_full'"):
        SubnetConfig.from_json(subnet.to_json(), space=nasrec_full())

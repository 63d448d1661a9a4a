"""Search spaces as tables: the published choices, the exact size, the registry and `recpim space`."""

from __future__ import annotations

import itertools
import json
from math import log10
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recpim.arch.model.space import (
    DenseOp,
    SearchSpace,
    SparseOp,
    get_space,
    nasrec_full,
    nasrec_small,
)
from recpim.arch.model.subnet import BlockConfig, SubnetConfig, load_subnet, sample_subnet
from recpim.cli import app
from recpim.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def tiny_space() -> SearchSpace:
    """Small enough to count by hand and by brute force: 3 blocks, at most 2 inputs."""
    return SearchSpace(
        name="test_tiny", num_blocks=3, dense_ops=(DenseOp.FC, DenseOp.SUM), sparse_ops=(SparseOp.EFC,),
        dense_widths=(16, 32), sparse_widths=(16,), max_inputs=2, weight_bits=(8,), activation_bits=(4, 8),
        embedding_bits=(8,),
    )


def test_published_nasrec_tables():
    full, small = nasrec_full(), nasrec_small()
    assert full.num_blocks == small.num_blocks == 7
    assert full.dense_ops == (DenseOp.FC, DenseOp.DOT_PRODUCT, DenseOp.GATING, DenseOp.SUM)
    assert full.sparse_ops == (SparseOp.EFC, SparseOp.ATTENTION)
    assert small.dense_ops == (DenseOp.FC, DenseOp.DOT_PRODUCT) and small.sparse_ops == (SparseOp.EFC,)
    assert full.dense_widths == (16, 32, 64, 128, 256, 512, 768, 1024)
    assert full.sparse_widths == (16, 32, 48, 64)
    assert full.max_inputs == 4 and full.merger_rows == 8
    assert full.weight_bits == full.activation_bits == full.embedding_bits == (4, 6, 8)
    # parameters, not constants
    assert nasrec_full(num_blocks=3, name="full3").num_blocks == 3
    assert nasrec_small(dense_widths=(16, 32), name="small_narrow").dense_widths == (16, 32)


def test_input_subsets_are_capped_by_max_inputs():
    full = nasrec_full()
    # block i picks 1..min(i, 4) of its i earlier sources 0..i-1
    assert [full.input_subsets(i) for i in range(1, 8)] == [1, 3, 7, 15, 30, 56, 98]
    assert SearchSpace(name="x", max_inputs=1).input_subsets(7) == 7


def test_tiny_space_size_by_hand():
    # S_1 = 1, S_2 = 3, S_3 = C(3,1) + C(3,2) = 6.
    # B_i = [2 widths x (S_i for FC + i*i for Sum)] x [1 op x 1 width x S_i] x 4 mergers x 1 x 2 bits
    # B_1 = 2*(1+1) * 1 * 8 = 32; B_2 = 2*(3+4) * 3 * 8 = 336; B_3 = 2*(6+9) * 6 * 8 = 1440
    assert [tiny_space().block_configs(i) for i in (1, 2, 3)] == [32, 336, 1440]
    assert tiny_space().size() == 32 * 336 * 1440 == 15_482_880


def _raw_block_candidates(block: int, space: SearchSpace):
    """Every combination of field values a block could be given, valid or not."""
    sources = range(block)
    subsets = [tuple(c) for k in range(0, block + 1) for c in itertools.combinations(sources, k)]
    sides = [None, *sources]
    for op, width, dense_inputs, left, right, sparse_inputs, d2s, fm, abits in itertools.product(
        space.dense_ops, space.dense_widths, subsets, sides, sides, subsets, (False, True), (False, True),
        space.activation_bits,
    ):
        yield BlockConfig(
            dense_op=op, dense_width=width, sparse_op=space.sparse_ops[0], sparse_width=space.sparse_widths[0],
            dense_inputs=dense_inputs, dense_left=left, dense_right=right, sparse_inputs=sparse_inputs,
            dense_to_sparse=d2s, sparse_to_dense_fm=fm, weight_bits=space.weight_bits[0], activation_bits=abits,
        )


def test_tiny_space_size_by_brute_force():
    """Count the block configurations the validator accepts; the product must equal size()."""
    space = tiny_space()
    total = len(space.embedding_bits)
    for block in range(1, space.num_blocks + 1):
        valid = sum(not candidate.problems(block, space) for candidate in _raw_block_candidates(block, space))
        assert valid == space.block_configs(block)
        total *= valid
    assert total == space.size()


def test_published_space_sizes():
    small, full = nasrec_small(), nasrec_full()
    # FC and Dot-Product both read an input set, so NASRec-Small's block i has
    # (2 ops x 8 widths x S_i) x (1 op x 4 widths x S_i) x 4 mergers x 9 bit pairs configurations.
    subsets = [1, 3, 7, 15, 30, 56, 98]
    expected_small = 3
    for s in subsets:
        expected_small *= (2 * 8 * s) * (4 * s) * 4 * 9
    assert small.size() == expected_small
    assert full.size() > small.size()
    assert full.log10_size() == pytest.approx(log10(full.size()))
    assert isinstance(full.size(), int)


def test_bad_space_tables_raise_config_error():
    with pytest.raises(ConfigError) as caught:
        SearchSpace(name="bad", dense_widths=(16, 16), weight_bits=(0, 4), sparse_ops=())
    keys = {key for key, _ in caught.value.problems}
    assert {"dense_widths", "weight_bits", "sparse_ops"} <= keys
    with pytest.raises(ConfigError, match="unknown key"):
        SearchSpace(name="bad", widths=(16,))
    with pytest.raises(ConfigError, match="dense_ops"):
        SearchSpace(name="bad", dense_ops=("fc", "conv"))


def test_built_in_spaces_by_name_and_custom_spaces_as_objects():
    assert get_space("small") == nasrec_small() and get_space("nasrec_full") == nasrec_full()
    with pytest.raises(ConfigError, match="built in: .*full.*small"):
        get_space("medium")
    with pytest.raises(ConfigError, match="unknown space"):   # no registry: a custom space is not found by name
        get_space(tiny_space().name)
    custom = tiny_space()
    subnet = sample_subnet(custom, 5)
    assert subnet.search_space == custom
    assert SubnetConfig.from_json(subnet.to_json(), space=custom) == subnet


runner = CliRunner()


def test_cli_space_info_json_and_table():
    result = runner.invoke(app, ["space", "info", "small", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["size"] == nasrec_small().size()
    assert info["size_log10"] == pytest.approx(log10(nasrec_small().size()), abs=1e-3)
    assert info["dense_ops"] == ["fc", "dot_product"] and info["sparse_widths"] == [16, 32, 48, 64]
    result = runner.invoke(app, ["space", "info", "full"])
    assert result.exit_code == 0, result.output
    assert str(nasrec_full().size()) in result.output and "attention" in result.output


def test_cli_space_sample_prints_a_seeded_subnet(tmp_path):
    out = tmp_path / "s.json"
    result = runner.invoke(app, ["space", "sample", "--space", "full", "--seed", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    printed = SubnetConfig.from_dict(json.loads(result.output))
    assert printed == sample_subnet(nasrec_full(), 3) == load_subnet(out)
    result = runner.invoke(app, ["space", "sample", "--space", "medium"])
    assert isinstance(result.exception, ConfigError)


@pytest.mark.parametrize("name", ["subnet_small_seed0.json", "subnet_full_seed0.json", "subnet_full_seed1.json"])
def test_examples_are_valid_subnets(name):
    subnet = load_subnet(EXAMPLES / name)
    assert subnet.space == ("nasrec_small" if "small" in name else "nasrec_full")
    subnet.validate_in(get_space(subnet.space))

"""A searched embedding dim (issue 25, item 5): SearchSpace.embedding_dims, SubnetConfig.embedding_dim.

A space without the choice must dump, sample, mutate and lower exactly as before; a space with it
lets a subnet read the leading d columns of the shared tables, and the lowered graph's tables (and
so the lookup bits and energy) have d columns."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from recpim.arch.data.schema import DatasetSchema
from recpim.arch.graph.workload import OpKind
from recpim.arch.model.lowering import lower_subnet
from recpim.arch.model.space import nasrec_small, with_embedding_dims
from recpim.arch.model.subnet import SubnetConfig, mutate, sample_subnet
from recpim.arch.model.supernet import Supernet, extract_standalone
from recpim.arch.train.sandwich import largest_variant, smallest_variant
from recpim.errors import ConfigError
from recpim.mapping.cost import evaluate_cost
from recpim.pim.presets import load_chip
from recpim.search.candidate import Candidate, mutate_candidate
from recpim.search.study import candidate_params

SCHEMA = DatasetSchema(name="dims_test", num_dense=3, vocab_sizes=(50, 60, 70), embedding_dim=16)
SPACE = nasrec_small(num_blocks=2, name="dims_test_space", embedding_dims=(4, 8, 16))


def test_a_space_without_dims_dumps_and_samples_as_before():
    space = nasrec_small()
    assert "embedding_dims" not in space.model_dump() and "embedding_dims" not in space.describe()
    subnet = sample_subnet(space, 3)
    assert subnet.embedding_dim is None and "embedding_dim" not in subnet.to_dict()
    assert subnet.dim(16) == 16
    # the dim choice multiplies the space's size by the number of dims, nothing else
    assert SPACE.size() == 3 * nasrec_small(num_blocks=2, name="x").size()


def test_with_embedding_dims_names_the_space_and_refuses_bad_text():
    space = with_embedding_dims(nasrec_small(), "16, 4,8")
    assert space.name == "nasrec_small_dims4-8-16" and space.embedding_dims == (4, 8, 16)
    assert space.model_dump()["embedding_dims"] == (4, 8, 16)
    with pytest.raises(ConfigError, match="comma-separated positive integers"):
        with_embedding_dims(nasrec_small(), "4,eight")


def test_a_subnet_of_a_dims_space_carries_a_dim_in_its_json():
    subnet = sample_subnet(SPACE, 0)
    assert subnet.embedding_dim in (4, 8, 16)
    again = SubnetConfig.from_dict(subnet.to_dict(), space=SPACE)
    assert again == subnet
    with pytest.raises(ConfigError, match="embedding_dim"):
        SubnetConfig.from_dict({**subnet.to_dict(), "embedding_dim": 12}, space=SPACE)
    with pytest.raises(ConfigError, match="missing"):
        SubnetConfig.from_dict({k: v for k, v in subnet.to_dict().items() if k != "embedding_dim"}, space=SPACE)
    with pytest.raises(ConfigError, match="exceeds the data schema"):
        subnet.model_copy(update={"embedding_dim": 16}).dim(8)


def test_mutation_and_the_study_reach_the_dim():
    subnet = sample_subnet(SPACE, 0)
    rng = np.random.default_rng(1)
    dims = {mutate(subnet, SPACE, rng, num_changes=1).embedding_dim for _ in range(200)}
    assert dims == {4, 8, 16}
    candidate = Candidate(subnet=subnet)
    children = {mutate_candidate(candidate, SPACE, {}, np.random.default_rng(k)).subnet.embedding_dim
                for k in range(100)}
    assert len(children) == 3
    params, distributions = candidate_params(candidate, SPACE, {})
    assert params["embedding_dim"] == subnet.embedding_dim
    assert distributions["embedding_dim"].choices == (4, 8, 16)
    assert "embedding_dim" not in candidate_params(Candidate(subnet=sample_subnet(nasrec_small(), 0)),
                                                   nasrec_small(), {})[0]
    assert smallest_variant(subnet).embedding_dim == 4 and largest_variant(subnet).embedding_dim == 16


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), dim=st.sampled_from((4, 8, 16)))
def test_a_subnet_reads_only_the_leading_columns_of_the_shared_tables(seed, dim):
    torch.manual_seed(0)
    supernet = Supernet(SPACE, SCHEMA).eval()
    subnet = sample_subnet(SPACE, seed).model_copy(update={"embedding_dim": dim})
    dense = torch.randn(6, 3)
    sparse = torch.stack([torch.randint(0, v, (6,)) for v in SCHEMA.vocab_sizes], dim=1)
    rows = supernet.embeddings(sparse, 8, dim)
    assert torch.count_nonzero(rows[:, :, dim:]) == 0
    with torch.no_grad():
        before = supernet(dense, sparse, subnet, quant=True)
        # the standalone model with the inherited weights computes the same logits
        assert torch.equal(extract_standalone(supernet, subnet, quantize=True)(dense, sparse), before)
        for table in supernet.embeddings.tables:   # columns past dim are never read
            table.weight[:, dim:] = 123.0
        after = supernet(dense, sparse, subnet, quant=True)
    assert torch.equal(before, after)


def test_the_lowered_tables_have_the_chosen_dim_and_lookup_energy_scales_with_it():
    chip = load_chip("isaac")
    subnet = sample_subnet(SPACE, 5)
    reports = {}
    for dim in (4, 8, 16):
        graph = lower_subnet(subnet.model_copy(update={"embedding_dim": dim}), SCHEMA)
        tables = [n for n in graph.nodes() if n.kind == OpKind.EMBEDDING]
        assert [n.weight_shape for n in tables] == [(v, dim) for v in SCHEMA.vocab_sizes]
        assert [n.name for n in graph.nodes() if n.name == "embeddings.pad"] == (["embeddings.pad"] if dim < 16
                                                                                 else [])
        reports[dim] = evaluate_cost(graph, chip, engine="analytic").report
    # gather from DRAM, uniform access: lookup bits (and energy) are rows x dim x bits
    full = reports[16].embedding_energy_pj_per_inference
    assert full > 0
    for dim in (4, 8):
        assert reports[dim].embedding_energy_pj_per_inference == pytest.approx(full * dim / 16, rel=1e-12)
        # the rest of the model (padded back to 16 columns) costs what it did
        assert (reports[dim].energy_pj_per_inference - reports[dim].embedding_energy_pj_per_inference
                == pytest.approx(reports[16].energy_pj_per_inference - full, rel=1e-12))


def test_dims_wider_than_the_data_are_refused_before_training():
    with pytest.raises(ConfigError, match="dims up to 16"):
        Supernet(nasrec_small(num_blocks=2, name="too_wide", embedding_dims=(8, 32)), SCHEMA)


def test_the_cli_refuses_bad_dims_before_reading_any_data(tmp_path):
    from typer.testing import CliRunner

    from recpim.cli import app

    result = CliRunner().invoke(app, ["supernet", "train", "--data", "synthetic:100", "--space", "small",
                                      "--embedding-dims", "4,x", "--steps", "1", "--out", str(tmp_path / "s.pt")])
    assert result.exit_code != 0 and "comma-separated positive integers" in str(result.exception)
    assert not (tmp_path / "s.pt").exists()

"""Embedding nodes as a workload: pooling (given or measured), access distributions, the zoo's
multi-hot DLRM and the lowering of nn.EmbeddingBag."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from recpim.arch.graph.embedding import AccessDistribution, EmbeddingAccess, harmonic, zipf_top_share
from recpim.arch.graph.fx_import import graph_from_module
from recpim.arch.graph.workload import OpKind, WorkloadGraph
from recpim.arch.model.zoo import DLRM_BENCHMARK, zoo_graph
from recpim.errors import ConfigError


def test_harmonic_numbers_match_the_sum():
    for n in (1, 7, 2000, 2001, 5000, 123_457):
        for s in (0.0, 0.5, 1.0, 1.3, 2.0):
            exact = math.fsum(i ** -s for i in range(1, n + 1))
            assert harmonic(n, s) == pytest.approx(exact, rel=1e-9)


def test_zipf_top_share_by_hand():
    # 4 rows, s = 1: weights 1, 1/2, 1/3, 1/4 (sum 25/12); the top 2 take (3/2) / (25/12) = 0.72
    assert zipf_top_share(2, 4, 1.0) == pytest.approx(0.72)
    assert zipf_top_share(2, 4, 0.0) == 0.5 and zipf_top_share(4, 4, 3.0) == 1.0


@given(st.integers(1, 10**6), st.floats(0.0, 3.0), st.floats(0.0, 3.0))
def test_hot_share_rises_with_skew(rows, s1, s2):
    low, high = sorted((s1, s2))
    kept = max(1, rows // 100)
    uniform = AccessDistribution().hot_share(kept, rows)
    assert uniform == pytest.approx(kept / rows)
    assert zipf_top_share(kept, rows, low) <= zipf_top_share(kept, rows, high) + 1e-12


def test_measured_curve_is_interpolated_and_capped_by_distinct_rows():
    access = AccessDistribution(hot_shares=((0.01, 0.5), (0.1, 0.8)), distinct_rows=1000, source="profile")
    assert access.hot_share(10, 10**6) == pytest.approx(0.5)     # 10 of the 1000 rows ever looked up
    assert access.hot_share(55, 10**6) == pytest.approx(0.65)
    assert access.hot_share(1000, 10**6) == 1.0
    assert access.hot_share(550, 10**6) == pytest.approx(0.8 + 0.2 * 0.5)
    with pytest.raises(ConfigError, match="fractions rising"):
        AccessDistribution(hot_shares=((0.1, 0.5), (0.01, 0.6)))


def test_bad_pooling_is_refused():
    with pytest.raises(ConfigError, match="pooling"):
        EmbeddingAccess(bags=1, pooling=0.5)


def test_multihot_dlrm_carries_the_benchmark_configuration():
    graph = zoo_graph("dlrm_multihot")
    tables = [n for n in graph.nodes() if n.kind == OpKind.EMBEDDING]
    assert len(tables) == DLRM_BENCHMARK["tables"] == 8
    for node in tables:
        assert node.weight_shape == (1_000_000, 64) and node.lookups == 100 and node.output_shape == (64,)
        assert node.embedding == EmbeddingAccess(bags=1, pooling=100.0, reduction="sum", pooling_source="given")
    assert [n.weight_shape for n in graph.nodes() if n.kind == OpKind.MVM] == [
        (512, 512), (512, 64), (64 + 36, 1024), (1024, 1024), (1024, 1024), (1024, 1)]
    round_trip = WorkloadGraph.from_json_dict(graph.to_json_dict()).check()
    assert round_trip.to_json_dict() == graph.to_json_dict()
    assert round_trip.node("embeddings_3").embedding == tables[3].embedding


def test_one_hot_graphs_serialise_as_before():
    node = next(n for n in zoo_graph("dlrm").nodes() if n.kind == OpKind.EMBEDDING)
    assert node.embedding is None and "embedding" not in node.to_dict()
    assert node.embedding_access == EmbeddingAccess(bags=1, pooling=1.0)


class _Bags(nn.Module):
    def __init__(self):
        super().__init__()
        self.bag = nn.EmbeddingBag(1000, 8, mode="mean")
        self.dense = nn.Linear(4, 8)

    def forward(self, dense, ids, offsets):   # the first input sets the sample batch
        return self.dense(dense) + self.bag(ids, offsets)


def test_embedding_bag_with_offsets_measures_its_pooling():
    ids = torch.randint(0, 1000, (10,))
    offsets = torch.tensor([0, 3])        # two samples: bags of 3 and 7 ids
    graph = graph_from_module(_Bags(), (torch.rand(2, 4), ids, offsets), "bags")
    node = next(n for n in graph.nodes() if n.kind == OpKind.EMBEDDING)
    assert node.embedding == EmbeddingAccess(bags=1, pooling=5.0, reduction="mean", pooling_source="measured")
    assert node.lookups == 5 and node.ops == 5 * 8

"""Where embedding lookups run and what they cost: hot-row caches, pooling on chip, near-memory
(RecNMP-style) and in-crossbar (ReCross-style) reduction, in both engines."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recpim.arch.graph.embedding import AccessDistribution, EmbeddingAccess
from recpim.arch.graph.workload import OpKind, WorkloadGraph
from recpim.arch.model.zoo import zoo_graph
from recpim.mapping import map_model
from recpim.mapping.cost import evaluate_cost
from recpim.pim.presets import load_chip


@pytest.fixture(scope="module")
def multihot() -> WorkloadGraph:
    return zoo_graph("dlrm_multihot")


@pytest.fixture(scope="module")
def dlrm() -> WorkloadGraph:
    return zoo_graph("dlrm")


def with_access(graph: WorkloadGraph, make) -> WorkloadGraph:
    """`graph` with every embedding node's EmbeddingAccess replaced by make(node)."""
    out = WorkloadGraph(graph.name, graph.metadata)
    for name in graph.graph.nodes:
        node = graph.node(name)
        if node.kind == OpKind.EMBEDDING:
            access = make(node)
            node = replace(node, embedding=access, lookups=access.lookups)
        out.add_node(node)
    for name in graph.graph.nodes:
        for producer in graph.graph.pred[name]:
            out.add_edge(producer, name)
    return out.check()


def zipf(graph, exponent, pooling=None):
    return with_access(graph, lambda n: replace(n.embedding_access, pooling=pooling or n.embedding_access.pooling,
                                                access=AccessDistribution(zipf_exponent=exponent, source="zipf")))


def isaac(**embedding):
    chip = load_chip("isaac")
    return chip.with_overrides({f"chip.embedding.{key}": value for key, value in embedding.items()}) if embedding \
        else chip


def embedding_dram_pj(report) -> float:
    return report.energy_pj_by_component["dram"]


def test_pooling_one_with_uniform_access_reproduces_the_figures_exactly(dlrm):
    explicit = with_access(dlrm, lambda n: EmbeddingAccess(bags=1, pooling=1.0, reduction="none"))
    for engine in ("analytic", "des"):
        before = evaluate_cost(dlrm, isaac(), engine=engine, batch=8)
        after = evaluate_cost(explicit, isaac(), engine=engine, batch=8)
        assert after.report.to_json_dict() == before.report.to_json_dict()
        assert after.mapping.to_json_dict()["embeddings"] == before.mapping.to_json_dict()["embeddings"]
    table = map_model(explicit, isaac()).embeddings[0]
    assert table.lookup.plain and "lookup" not in table.to_json_dict()


def test_cache_hit_rate_rises_with_skew_and_dram_energy_falls(multihot):
    chip = isaac(cache_kb=1024)
    hits, dram = [], []
    for exponent in (0.0, 0.6, 0.9, 1.2):
        evaluation = evaluate_cost(zipf(multihot, exponent), chip, engine="analytic", batch=4)
        hits.append(evaluation.mapping.embeddings[0].lookup.hit_rate)
        dram.append(embedding_dram_pj(evaluation.report))
    assert hits == sorted(hits) and len(set(hits)) == 4
    assert dram == sorted(dram, reverse=True) and len(set(dram)) == 4
    # uniform access: 1 MB holds 1/64 of one 64 MB table's... shared over 8 tables: 1/512 of the rows each
    assert hits[0] == pytest.approx(1024 * 1024 / (8 * 1_000_000 * 64), rel=1e-3)


@settings(max_examples=25, deadline=None)
@given(cache_kb=st.sampled_from([0, 1, 64, 4096, 65536]), exponent=st.floats(0.0, 2.0),
       pooling=st.integers(1, 150), mode=st.sampled_from(["gather", "near_memory"]))
def test_a_cache_never_costs_more_dram_bits_and_pooling_never_adds_traffic(multihot, cache_kb, exponent, pooling,
                                                                          mode):
    graph = zipf(multihot, exponent, pooling=float(pooling))
    bare = map_model(graph, isaac(mode="gather"))
    cached = map_model(graph, isaac(mode=mode, cache_kb=cache_kb))
    for without, table in zip(bare.embeddings, cached.embeddings, strict=True):
        assert table.lookup.memory_bits <= without.lookup.memory_bits == table.lookups * table.dim * table.bits
        assert table.lookup.channel_bits <= without.lookup.channel_bits
        assert table.lookup.cache_bits + table.lookup.memory_bits == without.lookup.memory_bits
    assert sum(t.lookup.cache_rows * t.dim * t.bits for t in cached.embeddings) <= cache_kb * 8 * 1024


def test_near_memory_moves_one_pooled_vector_per_bag(multihot):
    evaluation = evaluate_cost(multihot, isaac(mode="near_memory"), engine="analytic", batch=4)
    for table in evaluation.mapping.embeddings:
        lookup = table.lookup
        assert lookup.mode == "near_memory" and lookup.bags == 1
        assert lookup.channel_bits == lookup.bags * 64 * 8             # one pooled 64 x 8-bit vector
        assert lookup.memory_bits == 100 * 64 * 8                        # every row read inside the ranks
        assert lookup.pool_ops == 99 * 64
        stage = evaluation.workload.stage(table.name)
        assert stage.activity.dram_channel_bit == 512 and stage.activity.dram_rank_bit == 51_200
        assert stage.activity.dram_bit == 0 and stage.activity.near_memory_op == 99 * 64
    gather = evaluate_cost(multihot, isaac(), engine="analytic", batch=4)
    assert evaluation.report.embedding_energy_pj_per_inference < gather.report.embedding_energy_pj_per_inference


def test_near_memory_speedup_grows_with_pooling_and_ranks(multihot):
    def embedding_ns(pooling, ranks, mode):
        evaluation = evaluate_cost(zipf(multihot, 0.0, pooling=float(pooling)), isaac(mode=mode, dram_ranks=ranks),
                                   engine="analytic", batch=4)
        return evaluation.report.stage_ns_by_layer["embeddings_0"]

    speedups = {(p, r): embedding_ns(p, r, "gather") / embedding_ns(p, r, "near_memory")
                for p in (10, 40, 100) for r in (2, 4, 8)}
    for r in (2, 4, 8):
        assert speedups[(10, r)] < speedups[(40, r)] < speedups[(100, r)]
    for p in (10, 40, 100):
        assert speedups[(p, 2)] < speedups[(p, 4)] < speedups[(p, 8)]
    # latency + the pooled 64 x 8 bits over the channel + 100 rows read by 8 ranks at once, at 25.6 Gb/s each
    assert embedding_ns(100, 8, "near_memory") == pytest.approx(50 + 512 / 25.6 + 51_200 / (8 * 25.6))


def reserve_chip(**embedding):
    return isaac(**embedding).with_overrides({"chip.embedding_reram_mb": 1024})


def test_in_crossbar_converts_once_per_bag_and_column_and_its_adc_width_grows(multihot):
    chip = reserve_chip(mode="in_crossbar")
    widths = []
    for pooling in (1, 4, 16, 100):
        mapping = map_model(zipf(multihot, 0.0, pooling=float(pooling)), chip)
        table = mapping.embeddings[0]
        assert table.on_chip and table.lookup.mode == "in_crossbar"
        xmap = table.lookup.crossbar
        assert xmap.rows_summed == pooling and xmap.row_groups == 1 and xmap.input_cycles == 1
        assert xmap.adc_conversions == table.lookup.bags * xmap.converted_cols_per_row_tile
        widths.append(xmap.lossless_adc_bits)
    assert widths == sorted(widths) and widths[0] < widths[-1]
    # a row of 64 8-bit weights at 2 bits per cell, offset encoding: 4 slices, one reference column
    assert xmap.converted_cols_per_row_tile == 64 * 4 + math.ceil(64 * 4 / 127)
    assert widths[-1] == math.ceil(math.log2(100 * 3 + 1))


def test_in_crossbar_against_reading_rows_from_the_reserve(multihot):
    rows = evaluate_cost(multihot, reserve_chip(mode="gather"), engine="analytic", batch=4)
    analog = evaluate_cost(multihot, reserve_chip(mode="in_crossbar"), engine="analytic", batch=4)
    stage_rows, stage_analog = rows.workload.stage("embeddings_0"), analog.workload.stage("embeddings_0")
    assert stage_rows.reram_lookup_rows == 100 and stage_analog.reram_lookup_rows == 1
    assert stage_rows.activity.vector_op == 99 * 64 and stage_analog.activity.vector_op == 0
    assert analog.report.stage_ns_by_layer["embeddings_0"] < rows.report.stage_ns_by_layer["embeddings_0"]


@pytest.mark.parametrize("options", [dict(mode="gather", cache_kb=512), dict(mode="near_memory", cache_kb=512),
                                     dict(mode="in_crossbar")])
def test_breakdowns_sum_to_totals_and_engines_agree(multihot, options):
    chip = reserve_chip(**options) if options["mode"] == "in_crossbar" else isaac(**options)
    graph = zipf(multihot, 1.0)
    reports = [evaluate_cost(graph, chip, engine=engine, batch=4).report for engine in ("analytic", "des")]
    for report in reports:
        assert math.fsum(report.energy_pj_by_component.values()) == pytest.approx(report.energy_pj_per_inference,
                                                                                  rel=1e-12)
        assert math.fsum(report.energy_pj_by_layer.values()) == pytest.approx(report.energy_pj_per_inference,
                                                                              rel=1e-12)
    assert reports[0].dynamic_energy_pj_per_inference == pytest.approx(reports[1].dynamic_energy_pj_per_inference,
                                                                       rel=1e-12)
    if options.get("cache_kb"):
        assert reports[0].energy_pj_by_component["embedding_cache"] > 0
        assert reports[0].area_mm2_by_component.get("embedding_cache", 0) > 0 or reports[0].area_mm2 > 0
    if options["mode"] == "near_memory":
        assert reports[0].energy_pj_by_component["near_memory"] > 0

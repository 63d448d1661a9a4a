"""map_model: placement, replication, capacity, time multiplexing, digital ops, embeddings, traffic."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recpim.arch.graph.workload import OpKind, WorkloadGraph, WorkloadNode
from recpim.errors import CapacityError
from recpim.mapping import map_model, map_mvm
from recpim.pim.config import ChipConfig


def small_chip(tiles=4, mesh=(2, 2), pes=1, crossbars=1, replication="none", time_multiplexed=False,
               encoding="differential", embedding_mb=0.0, **crossbar) -> ChipConfig:
    return ChipConfig.model_validate({
        "name": "test-chip",
        "weight_encoding": encoding,
        "crossbar": {"rows": 128, "cols": 128, "bits_per_cell": 2, "rows_read_at_once": 128, **crossbar},
        "dac": {"bits": 1},
        "adc": {"bits": 8, "columns_per_adc": 4096},
        "pe": {"crossbars": crossbars, "adcs": 8},
        "tile": {"pes": pes},
        "chip": {"tiles": tiles, "mesh_rows": mesh[0], "mesh_cols": mesh[1], "embedding_reram_mb": embedding_mb},
        "mapping": {"replication": replication, "time_multiplexed": time_multiplexed},
    })


def chain(layers: list[tuple[int, int, int]], relu=True, name="chain") -> WorkloadGraph:
    """input -> (mvm -> relu)* -> output for (K, N, vectors) layers, 8-bit weights and activations."""
    graph = WorkloadGraph(name)
    graph.add_node(WorkloadNode("x", OpKind.INPUT, (), (layers[0][0],)))
    previous = "x"
    for index, (k, n, vectors) in enumerate(layers):
        graph.add_node(WorkloadNode(f"fc{index}", OpKind.MVM, ((k,),), (n,), weight_shape=(k, n), weight_bits=8,
                                    vectors=vectors, macs=k * n * vectors))
        graph.add_edge(previous, f"fc{index}")
        previous = f"fc{index}"
        if relu:
            graph.add_node(WorkloadNode(f"relu{index}", OpKind.RELU, ((n,),), (n,), ops=n))
            graph.add_edge(previous, f"relu{index}")
            previous = f"relu{index}"
    graph.add_node(WorkloadNode("out", OpKind.OUTPUT, ((layers[-1][1],),), (layers[-1][1],)))
    graph.add_edge(previous, "out")
    return graph


ISAAC_LIKE = ChipConfig(name="isaac-like")   # the defaults: ISAAC's 168 tiles x 12 PEs x 8 crossbars


# ---------------------------------------------------------------- capacity

def test_model_larger_than_chip_raises_capacity_error_with_per_layer_numbers():
    chip = small_chip(tiles=1, mesh=(1, 1), pes=2, crossbars=2)   # 4 crossbars
    graph = chain([(512, 256, 1), (256, 16, 1)])                  # 4 x 16 + 2 x 1 crossbars
    with pytest.raises(CapacityError) as caught:
        map_model(graph, chip)
    error = caught.value
    assert "fc0: 64 crossbars, 32 PEs" in str(error) and "fc1: 2 crossbars, 1 PEs" in str(error)
    assert "needs 66 crossbars in 33 PEs (17 tiles)" in str(error)
    assert "4 crossbars in 2 PEs (1 tiles" in str(error)
    assert error.per_layer == [("fc0", 64, 32), ("fc1", 2, 1)]
    assert (error.crossbars_needed, error.crossbars_available) == (66, 4)
    assert (error.tiles_needed, error.tiles_available) == (17, 1)


def test_time_multiplexed_maps_what_does_not_fit_and_charges_the_writes():
    chip = small_chip(tiles=1, mesh=(1, 1), pes=2, crossbars=2, time_multiplexed=True)
    result = map_model(chain([(512, 256, 1)]), chip)
    layer = result.layer("fc0")
    assert result.time_multiplexed and result.rounds == 16        # 32 PEs over a 2-PE chip
    assert layer.replication == 1 and layer.crossbars == 64
    assert {segment.round for segment in layer.placement.segments} == set(range(16))
    assert result.crossbars_used == 4 and result.crossbars_needed == 64 and result.utilization == 1.0
    writes = result.reprogramming
    assert writes.cells_written_per_round == (2 * 2 * 128 * 128,) * 16
    assert writes.write_energy_pj_per_batch == pytest.approx(512 * 2048 * 10.0)   # every cell, 10 pJ each
    assert writes.rows_written_per_round == (256,) * 16                          # 2 crossbars x 128 rows per PE
    assert writes.write_latency_ns_per_batch == pytest.approx(16 * 256 * 100.0)
    assert writes.write_energy_pj_per_batch > 0


def test_time_multiplexed_rounds_keep_layers_whole_when_they_fit_a_chip():
    chip = small_chip(tiles=1, mesh=(1, 1), pes=3, crossbars=1, time_multiplexed=True)
    # 128 x 32 differential: 32*4*2 = 256 columns -> 2 crossbars; 128 x 16 -> 1; a 3-PE chip
    result = map_model(chain([(128, 32, 1), (128, 32, 1), (128, 16, 1)]), chip)
    rounds = {layer.name: {s.round for s in layer.placement.segments} for layer in result.layers}
    assert rounds == {"fc0": {0}, "fc1": {1}, "fc2": {1}}
    assert result.rounds == 2


def test_time_multiplexed_on_a_model_that_fits_changes_nothing():
    chip = small_chip(tiles=4, pes=1, crossbars=1, time_multiplexed=True)
    result = map_model(chain([(64, 16, 1)]), chip)
    assert not result.time_multiplexed and result.rounds == 1
    assert result.reprogramming.write_energy_pj_per_batch == 0.0


# ---------------------------------------------------------------- replication

def test_balance_replicates_the_slowest_layer_into_spare_pes():
    # fc0: 16 vectors x 8 cycles = 128 read steps, fc1: 8; one crossbar each; 4 PEs of one crossbar
    chip = small_chip(tiles=4, pes=1, crossbars=1, replication="balance")
    result = map_model(chain([(64, 16, 16), (64, 16, 1)]), chip)
    fc0, fc1 = result.layer("fc0"), result.layer("fc1")
    assert (fc0.replication, fc1.replication) == (3, 1)
    assert fc0.crossbar.read_steps == 128
    assert fc0.read_steps_per_inference_replicated == 6 * 8   # ceil(16 / 3) vectors per copy
    assert fc0.pipeline_read_steps == 6 * 8                   # the interval is the busiest copy's share
    assert fc0.crossbar.adc_conversions == 16 * 8 * 128              # replication splits work, does not add it
    assert result.pes_used == 4 and result.crossbars_used == 4


def test_balance_never_makes_more_copies_than_vectors():
    # fc0 has 2 vectors per inference: a third copy would sit idle, however much room is spare.
    chip = small_chip(tiles=16, mesh=(4, 4), pes=1, crossbars=1, replication="balance")
    result = map_model(chain([(64, 16, 2), (64, 16, 1)]), chip)
    assert result.layer("fc0").replication == 2
    assert result.layer("fc1").replication == 1


def test_no_replication_policy_keeps_one_copy():
    result = map_model(chain([(64, 16, 16), (64, 16, 1)]), small_chip(replication="none"))
    assert [layer.replication for layer in result.layers] == [1, 1]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 600), st.integers(1, 300), st.integers(1, 64)), min_size=1, max_size=5),
    st.integers(0, 6), st.integers(1, 4), st.integers(1, 4),
)
def test_replication_stays_within_capacity_and_never_slows_a_layer(layers, spare_tiles, pes, crossbars):
    graph = chain(layers)
    one_tile = small_chip(tiles=1, mesh=(1, 1), pes=pes, crossbars=crossbars)
    pes_needed = sum(-(-map_mvm(node, one_tile).crossbars // crossbars) for node in graph.nodes()
                     if node.kind == OpKind.MVM)
    tiles = -(-pes_needed // pes) + spare_tiles          # enough for one copy, plus some spare tiles
    chip = small_chip(tiles=tiles, mesh=(tiles, 1), pes=pes, crossbars=crossbars, replication="balance")
    balanced = map_model(graph, chip)
    plain = map_model(graph, chip.with_overrides({"mapping.replication": "none"}))
    assert balanced.pes_used <= balanced.pes_available
    assert balanced.crossbars_used <= balanced.crossbars_available
    assert sum(layer.placement.pes for layer in balanced.layers) == balanced.pes_used
    assert all(tile.pes_used <= pes for tile in balanced.tiles)
    assert all(s.pe_first + s.pes <= pes and s.crossbars <= s.pes * crossbars
               for layer in balanced.layers for s in layer.placement.segments)
    for layer, base in zip(balanced.layers, plain.layers, strict=True):
        assert layer.crossbar.read_steps == base.crossbar.read_steps
        assert layer.read_steps_per_inference_replicated <= base.crossbar.read_steps
        assert layer.pipeline_read_steps <= base.pipeline_read_steps
        assert layer.crossbar.adc_conversions == base.crossbar.adc_conversions
    assert max(x.pipeline_read_steps for x in balanced.layers) <= max(x.pipeline_read_steps for x in plain.layers)


# ---------------------------------------------------------------- placement and traffic

def test_chain_on_adjacent_tiles_crosses_the_mesh_only_between_tiles():
    # each layer: 64 x 16 at 8 bits, differential -> 16*4*2 = 128 columns = 1 crossbar = 1 PE = 1 tile
    graph = chain([(64, 16, 1), (16, 16, 1), (16, 16, 1)])
    result = map_model(graph, small_chip(tiles=4, mesh=(2, 2), pes=1, crossbars=1))
    assert [layer.placement.tiles for layer in result.layers] == [(0,), (1,), (2,)]
    assert [result.tile_coords[t] for t in range(4)] == [(0, 0), (0, 1), (1, 1), (1, 0)]  # snake walk
    digital_tiles = {d.name: d.tile for d in result.digital}
    assert digital_tiles == {"relu0": 0, "relu1": 1, "relu2": 2}   # on the tile of their producer
    assert [(t.producer, t.consumer, t.src_tile, t.dst_tile, t.hops, t.num_bytes) for t in result.transfers] == [
        ("relu0", "fc1", 0, 1, 1, 16), ("relu1", "fc2", 1, 2, 1, 16)]
    assert all(t.hops >= 1 for t in result.transfers)
    assert result.noc_bytes_per_inference == 32 and result.noc_byte_hops_per_inference == 32
    assert result.intra_tile_bytes_per_inference == 3 * 16           # each fc -> its relu on the same tile
    assert [(io.node, io.source, io.tile, io.num_bytes) for io in result.io_transfers] == [
        ("x", "input", 0, 64), ("relu2", "output", 2, 16)]


def test_skip_connection_counts_mesh_hops():
    graph = chain([(64, 16, 1), (16, 16, 1), (16, 16, 1)], relu=False)
    graph.add_node(WorkloadNode("add", OpKind.ADD, ((16,), (16,)), (16,), ops=16))
    graph.add_edge("fc2", "add")
    graph.add_edge("fc0", "add")
    result = map_model(graph, small_chip(tiles=4, mesh=(2, 2)))
    skip = [t for t in result.transfers if t.producer == "fc0" and t.consumer == "add"]
    assert [(t.src_tile, t.dst_tile, t.hops, t.byte_hops, tuple(t.links)) for t in skip] == [
        (0, 2, 2, 32, ((0, 1), (1, 3)))]   # routers of mesh coords (0, 0) -> (0, 1) -> (1, 1)


def test_layer_over_several_tiles_gathers_partial_sums_at_its_home():
    # 256 x 16 differential: 2 row tiles x 1 column tile = 2 crossbars, one per tile
    graph = chain([(256, 16, 1)], relu=False)
    result = map_model(graph, small_chip(tiles=2, mesh=(1, 2)))
    layer = result.layer("fc0")
    placement = layer.placement
    assert placement.tiles == (0, 1) and placement.home_tile == 1 and placement.copy_home_tiles == (1,)
    partial = [t for t in result.transfers if t.kind == "partial_sum"]
    # 16 outputs of one row tile at 8 + 8 + ceil(log2 256) = 24 bits
    assert [(t.src_tile, t.dst_tile, t.num_bytes) for t in partial] == [(0, 1, 16 * 24 // 8)]
    assert layer.crossbar.partial_sum_bits == 24
    # the input is split by rows: 128 of 256 rows on each tile
    assert sorted((io.tile, io.num_bytes) for io in result.io_transfers if io.source == "input") == [(0, 128), (1, 128)]


def test_free_moves_are_looked_through():
    graph = WorkloadGraph("concat")
    graph.add_node(WorkloadNode("x", OpKind.INPUT, (), (64,)))
    for name in ("a", "b"):
        graph.add_node(WorkloadNode(name, OpKind.MVM, ((64,),), (16,), weight_shape=(64, 16), weight_bits=8))
        graph.add_edge("x", name)
    graph.add_node(WorkloadNode("cat", OpKind.CONCAT, ((16,), (16,)), (32,)))
    graph.add_edge("a", "cat")
    graph.add_edge("b", "cat")
    graph.add_node(WorkloadNode("flat", OpKind.RESHAPE, ((32,),), (32,)))
    graph.add_edge("cat", "flat")
    graph.add_node(WorkloadNode("soft", OpKind.SOFTMAX, ((32,),), (32,), ops=96))
    graph.add_edge("flat", "soft")
    result = map_model(graph, small_chip(tiles=2, mesh=(1, 2)))
    assert result.free_nodes == ("x", "cat", "flat")
    assert result.digital[0].tile == result.layer("a").placement.home_tile == 0
    assert [(t.producer, t.via, t.src_tile, t.dst_tile, t.num_bytes) for t in result.transfers] == [
        ("b", ("cat", "flat"), 1, 0, 16)]


def test_adc_load_on_isaac_like_pes():
    result = map_model(chain([(512, 256, 1), (64, 4, 1)], relu=False),
                       ISAAC_LIKE.with_overrides({"weight_encoding": "differential", "mapping.replication": "none"}))
    big, small = result.layer("fc0"), result.layer("fc1")
    assert big.crossbars == 64
    assert (big.placement.pes, big.placement.adcs, big.placement.conversions_per_adc_per_read) == (8, 64, 128)
    assert (small.crossbars, small.placement.adcs, small.placement.conversions_per_adc_per_read) == (1, 1, 32)  # 4x4x2
    shared = ISAAC_LIKE.with_overrides({"weight_encoding": "differential", "mapping.replication": "none",
                                        "pe.adcs": 4, "adc.columns_per_adc": 256})
    two = map_model(chain([(128, 32, 1)], relu=False), shared).layer("fc0")   # 256 columns on 2 crossbars
    assert (two.crossbars, two.placement.adcs, two.placement.conversions_per_adc_per_read) == (2, 1, 256)


# ---------------------------------------------------------------- embeddings and digital ops

def embedding_graph() -> WorkloadGraph:
    graph = WorkloadGraph("emb")
    graph.add_node(WorkloadNode("ids", OpKind.INPUT, (), (3,), activation_bits=32))
    tables = {"big": (100_000, 16, 1), "small": (1_000, 16, 1), "hot": (1_000, 64, 4)}
    for name, (rows, dim, lookups) in tables.items():
        graph.add_node(WorkloadNode(name, OpKind.EMBEDDING, ((1,),), (lookups * dim,), weight_shape=(rows, dim),
                                    weight_bits=8, lookups=lookups))
        graph.add_edge("ids", name)
    graph.add_node(WorkloadNode("pool", OpKind.REDUCE, ((16,), (16,), (256,)), (16,), ops=288))
    for name in tables:
        graph.add_edge(name, "pool")
    graph.add_node(WorkloadNode("fc", OpKind.MVM, ((16,),), (1,), weight_shape=(16, 1), weight_bits=8))
    graph.add_edge("pool", "fc")
    return graph


def test_embeddings_go_on_chip_by_lookup_density_until_the_reserve_is_full():
    on_chip = map_model(embedding_graph(), small_chip(embedding_mb=1.0))   # 1 MiB: hot + small fit, big not
    where = {t.name: t.location for t in on_chip.embeddings}
    assert where == {"big": "dram", "small": "onchip_reram", "hot": "onchip_reram"}
    assert on_chip.embedding_bytes_on_chip == 16_000 + 64_000
    assert on_chip.embedding_bytes_off_chip == 1_600_000
    hot = next(t for t in on_chip.embeddings if t.name == "hot")
    assert hot.bits_read_per_inference == 4 * 64 * 8
    totals = on_chip.totals_json_dict()
    assert totals["embedding_bits_read_on_chip_per_inference"] == 4 * 64 * 8 + 16 * 8
    assert totals["embedding_bits_read_off_chip_per_inference"] == 16 * 8

    tight = map_model(embedding_graph(), small_chip(embedding_mb=0.07))   # 73,400 B: hot (denser) first
    assert {t.name: t.location for t in tight.embeddings} == {"big": "dram", "small": "dram", "hot": "onchip_reram"}

    none = map_model(embedding_graph(), small_chip(embedding_mb=0.0))
    assert {t.location for t in none.embeddings} == {"dram"} and none.embedding_bytes_on_chip == 0
    sources = {(io.node, io.source) for io in tight.io_transfers}
    assert {("big", "dram"), ("hot", "onchip_reram")} <= sources


def test_digital_op_fed_only_by_tables_runs_where_the_next_layer_sits():
    result = map_model(embedding_graph(), small_chip())
    assert result.digital[0].name == "pool" and result.digital[0].tile == result.layer("fc").placement.home_tile
    assert result.digital[0].ops == 288


# ---------------------------------------------------------------- result

def test_result_serialises_with_stable_keys():
    result = map_model(chain([(512, 256, 4), (256, 10, 1)]), ISAAC_LIKE)
    data = json.loads(json.dumps(result.to_json_dict()))
    for key in ("crossbars_used", "crossbars_available", "tiles_used", "utilization", "cell_utilization",
                "pes_used", "layers", "digital", "embeddings", "transfers", "noc_bytes_per_inference",
                "noc_byte_hops_per_inference", "embedding_bytes_on_chip", "embedding_bytes_off_chip", "reprogramming"):
        assert key in data
    assert data["crossbars_available"] == 168 * 12 * 8
    assert data["utilization"] == pytest.approx(data["crossbars_used"] / data["crossbars_available"])
    layer = data["layers"][0]
    for key in ("name", "kind", "tiles", "pes", "crossbars", "replication", "cell_utilization", "input_cycles",
                "row_groups", "adc_conversions", "dac_drives", "cell_reads", "shift_add_ops",
                "read_steps_per_inference", "lossless_adc_bits", "chip_adc_bits", "adc_lossy", "segments"):
        assert key in layer
    assert layer["kind"] == "mvm" and layer["lossless_adc_bits"] == 9 and layer["adc_lossy"] is True

"""The mapping's arithmetic shortcuts against a slow reference: every PE, every crossbar run of every
copy and every traffic piece walked one by one with exact fractions (the algorithms map_model used
before it summed whole copies and periods of PEs arithmetically). Whatever the copies, segments and
rounds, both must give the same ADC load, write cost, copy homes, input shares and transfers."""

from __future__ import annotations

from collections import Counter, defaultdict
from fractions import Fraction
from math import ceil
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_mapping_placement import chain, small_chip

from recpim.arch.graph.workload import OpKind
from recpim.arch.model.spec import resolve_model_spec
from recpim.errors import CapacityError
from recpim.mapping import map_model
from recpim.mapping.crossbar import CrossbarMapping
from recpim.mapping.digital import upstream_flows
from recpim.pim.config import ChipConfig
from recpim.pim.presets import load_chip
from recpim.units import ceil_div

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


# ---------------------------------------------------------------- the slow reference

def _pe_runs(xmap: CrossbarMapping, segments, chip: ChipConfig):
    per_pe = chip.pe.crossbars
    for segment in segments:
        for pe in range(segment.pes):
            count = min(per_pe, segment.crossbars - pe * per_pe)
            yield (segment.round, segment.tile, segment.pe_first + pe), \
                (segment.crossbar_first + pe * per_pe) % xmap.crossbars, count


def reference_adc_load(xmap: CrossbarMapping, segments, chip: ChipConfig) -> tuple[int, int]:
    group = ceil_div(chip.pe.crossbars * chip.crossbar.cols, chip.pe.adcs)
    adcs, busiest = 0, 0
    for _, start, count in _pe_runs(xmap, segments, chip):
        load: dict[int, int] = defaultdict(int)
        for slot in range(count):
            _, cols, _, converted = xmap.crossbar_shape((start + slot) % xmap.crossbars)
            begin = slot * chip.crossbar.cols
            for adc in range(begin // group, (begin + cols - 1) // group + 1):
                overlap = min(begin + cols, (adc + 1) * group) - max(begin, adc * group)
                load[adc] += ceil_div(overlap * converted, cols)
        adcs += len(load)
        busiest = max(busiest, max(load.values()))
    return adcs, busiest


def reference_write_cost(layers, chip: ChipConfig, rounds: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    cells: dict[int, int] = defaultdict(int)
    rows_per_pe: dict[tuple[int, int, int], int] = {}
    for layer in layers:
        for key, start, count in _pe_runs(layer.crossbar, layer.placement.segments, chip):
            shapes = [layer.crossbar.crossbar_shape((start + slot) % layer.crossbar.crossbars) for slot in range(count)]
            cells[key[0]] += sum(rows * cols for rows, cols, _, _ in shapes)
            rows_per_pe[key] = sum(rows for rows, *_ in shapes)
    return (tuple(cells.get(r, 0) for r in range(rounds)),
            tuple(max((v for k, v in rows_per_pe.items() if k[0] == r), default=0) for r in range(rounds)))


def reference_shares(xmap: CrossbarMapping, copies: int, segments):
    """(input share per tile, {copy: {tile: column groups held}}, copy home tiles), crossbar by crossbar."""
    rows_on: dict[int, set] = defaultdict(set)
    groups_on: dict[int, dict[int, set]] = defaultdict(lambda: defaultdict(set))
    on_tile: dict[int, Counter] = defaultdict(Counter)
    for segment in segments:
        for j in range(segment.crossbar_first, segment.crossbar_first + segment.crossbars):
            copy, local = divmod(j, xmap.crossbars)
            row_tile, col_tile = divmod(local, xmap.col_tiles)
            rows_on[segment.tile].add((copy, row_tile))
            groups_on[copy][segment.tile].add(col_tile)
            on_tile[copy][(segment.round, segment.tile)] += 1
    input_share = {tile: Fraction(sum(xmap.rows_per_row_tile[rt] for _, rt in pairs), xmap.k_rows * copies)
                   for tile, pairs in rows_on.items()}
    homes = tuple(max(on_tile[c], key=lambda key, c=c: (on_tile[c][key], key))[1] for c in range(copies))
    return input_share, groups_on, homes


def reference_traffic(graph, result):
    """{(producer, consumer, kind, via, src, dst): bytes}, {(node, consumer, tile, source): bytes}, intra bytes."""
    layers = {layer.name: layer for layer in result.layers}
    shares = {name: reference_shares(layer.crossbar, layer.replication, layer.placement.segments)
              for name, layer in layers.items()}
    sources: dict[str, dict[int, Fraction]] = {}
    for name, layer in layers.items():
        sources[name] = defaultdict(Fraction)
        for tile in layer.placement.copy_home_tiles:
            sources[name][tile] += Fraction(1, layer.replication)
    for node in result.digital:
        sources[node.name] = {node.tile: Fraction(1)}
    embeddings = {table.name: table for table in result.embeddings}
    nodes = graph.nodes()
    flows = upstream_flows(graph, nodes)
    pieces: dict[tuple, Fraction] = defaultdict(Fraction)
    io: dict[tuple, Fraction] = defaultdict(Fraction)
    for node in nodes:
        if node.kind == OpKind.MVM:
            destinations = shares[node.name][0]
        elif node.kind == OpKind.OUTPUT:
            destinations = {}
        elif node.name in sources:
            destinations = {next(iter(sources[node.name])): Fraction(1)}
        else:
            continue
        for producer, via, num_bytes in flows[node.name]:
            producer_kind = graph.node(producer).kind
            if producer in sources:
                for src, fraction in sources[producer].items():
                    if node.kind == OpKind.OUTPUT:
                        io[(producer, node.name, src, "output")] += num_bytes * fraction
                    for dst, share in destinations.items():
                        pieces[(producer, node.name, "activation", via, src, dst)] += num_bytes * fraction * share
            elif producer_kind in (OpKind.INPUT, OpKind.EMBEDDING) and node.kind != OpKind.OUTPUT:
                source = "input" if producer_kind == OpKind.INPUT else str(embeddings[producer].location)
                for dst, share in destinations.items():
                    io[(producer, node.name, dst, source)] += num_bytes * share
        if node.kind == OpKind.MVM:
            layer = layers[node.name]
            elements = 1
            for dim in node.output_shape:
                elements *= dim
            copy_bytes = Fraction(elements * layer.crossbar.partial_sum_bits, 8 * layer.replication)
            xmap = layer.crossbar
            for copy, tiles in shares[node.name][1].items():
                home = layer.placement.copy_home_tiles[copy]
                for group, cols in enumerate(xmap.weight_cols_per_col_tile):
                    # a column group's sums pass only among the tiles holding it, towards the home
                    holders = [t for t, held in tiles.items() if group in held and t != home]
                    share = Fraction(cols, xmap.weight_cols_per_row_tile)
                    for side in (sorted(t for t in holders if t < home), sorted((t for t in holders if t > home),
                                                                                reverse=True)):
                        for index, tile in enumerate(side):
                            to = side[index + 1] if index + 1 < len(side) else home
                            pieces[(node.name, node.name, "partial_sum", (), tile, to)] += copy_bytes * share
    transfers = {key: ceil(amount) for key, amount in pieces.items() if key[4] != key[5] and amount > 0}
    intra = sum(ceil(amount) for key, amount in pieces.items() if key[4] == key[5])
    return transfers, {key: ceil(amount) for key, amount in io.items() if amount > 0}, intra


# ---------------------------------------------------------------- the comparison

def assert_matches_reference(graph, chip: ChipConfig) -> None:
    result = map_model(graph, chip)
    for layer in result.layers:
        segments = layer.placement.segments
        assert (layer.placement.adcs, layer.placement.conversions_per_adc_per_read) == \
            reference_adc_load(layer.crossbar, segments, chip), layer.name
        input_share, _, homes = reference_shares(layer.crossbar, layer.replication, segments)
        assert dict(layer.input_share_by_tile) == input_share, layer.name
        assert layer.placement.copy_home_tiles == homes, layer.name
    cells, rows = reference_write_cost(result.layers, chip, result.rounds)
    assert (result.reprogramming.cells_written_per_round, result.reprogramming.rows_written_per_round) == (cells, rows)
    transfers, io, intra = reference_traffic(graph, result)
    assert {(t.producer, t.consumer, str(t.kind), t.via, t.src_tile, t.dst_tile): t.num_bytes
            for t in result.transfers} == transfers
    assert len(result.transfers) == len(transfers)
    assert {(t.node, t.consumer, t.tile, str(t.source)): t.num_bytes for t in result.io_transfers} == io
    assert result.intra_tile_bytes_per_inference == intra


@pytest.mark.parametrize("chip_name, overrides", [
    ("isaac", {}),
    ("isaac", {"weight_encoding": "differential", "pe.crossbars": 3, "pe.adcs": 6}),
    ("puma", {}),
    ("neurosim-rram-22nm", {"weight_encoding": "sign_magnitude", "crossbar.analog_subtraction": True}),
    ("isaac", {"chip.tiles": 4, "chip.mesh_rows": 2, "chip.mesh_cols": 2, "mapping.time_multiplexed": True}),
])
def test_subnet_mapping_matches_the_slow_reference(chip_name, overrides):
    chip = load_chip(chip_name).with_overrides(overrides) if overrides else load_chip(chip_name)
    assert_matches_reference(resolve_model_spec(str(EXAMPLES / "subnet_small_seed0.json")), chip)


@settings(max_examples=40, deadline=None)
@example([(64, 16, 1)], 1, 1, 4, False)            # one crossbar in a PE of four: the last PE is the only one
@example([(300, 200, 3), (64, 8, 1)], 2, 2, 3, True)
@given(
    st.lists(st.tuples(st.integers(1, 700), st.integers(1, 300), st.integers(1, 40)), min_size=1, max_size=4),
    st.integers(1, 8), st.integers(1, 4), st.integers(1, 5), st.booleans(),
)
def test_chain_mapping_matches_the_slow_reference(layers, tiles, pes, crossbars, time_multiplexed):
    chip = small_chip(tiles=tiles, mesh=(tiles, 1), pes=pes, crossbars=crossbars, replication="balance",
                      time_multiplexed=time_multiplexed)
    try:
        assert_matches_reference(chain(layers), chip)
    except CapacityError:
        assert not time_multiplexed   # does not fit one copy: capacity errors are tested elsewhere


def reference_replicas(layers, chip: ChipConfig) -> dict[str, int]:
    """Policy "balance" decision by decision as replication.py's docs state it: the slowest layer (ties:
    the earlier) gets the fewest copies that bring it below the next slowest, within the spare PEs and
    its vectors, until the slowest cannot be shortened."""
    copies = {name: 1 for name, *_ in layers}
    per_pe = chip.pe.crossbars
    spare = chip.chip.tiles * chip.tile.pes - sum(ceil_div(crossbars, per_pe) for _, crossbars, _, _ in layers)

    def interval(name, steps, vectors):
        return steps * ceil_div(vectors, copies[name])

    while True:
        order = sorted(range(len(layers)), key=lambda i: (-interval(layers[i][0], *layers[i][2:]), i))
        name, crossbars, steps, vectors = layers[order[0]]
        following = interval(layers[order[1]][0], *layers[order[1]][2:]) if len(order) > 1 else 0
        faster = [c for c in range(1, vectors + 1) if steps * ceil_div(vectors, c) < following] if following else []
        wanted = min(faster, default=vectors)
        pes_now = ceil_div(copies[name] * crossbars, per_pe)
        target = min(wanted, (pes_now + spare) * per_pe // crossbars)
        if target <= copies[name] or ceil_div(vectors, target) == ceil_div(vectors, copies[name]):
            return copies
        spare -= ceil_div(target * crossbars, per_pe) - pes_now
        copies[name] = target


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 12), st.integers(1, 6), st.sampled_from([1, 2, 3, 5, 16, 48, 64])),
                min_size=1, max_size=4),
       st.lists(st.integers(0, 3), min_size=1, max_size=10), st.integers(1, 8), st.integers(1, 12),
       st.integers(1, 8))
def test_replication_matches_the_decision_by_decision_reference(shapes, picks, tiles, pes, crossbars):
    """Layers of repeated shapes (ties in every interval) on chips from one PE to plenty: the heap of int
    keys in balance_replicas decides as the reference does."""
    from recpim.mapping.replication import balance_replicas
    layers = [(f"l{index}", *shapes[pick % len(shapes)]) for index, pick in enumerate(picks)]
    chip = small_chip(tiles=tiles, mesh=(tiles, 1), pes=pes, crossbars=crossbars, replication="balance")
    if sum(ceil_div(crossbars_, crossbars) for _, crossbars_, _, _ in layers) > tiles * pes:
        return   # one copy of each does not fit: map_model raises before replicating
    assert balance_replicas(layers, chip, "balance") == reference_replicas(layers, chip)

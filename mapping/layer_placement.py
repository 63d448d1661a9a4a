"""One MVM layer's segments -> its LayerPlacement: home tiles, input rows per tile, ADC load, and
the output columns each tile holds of every copy spread over several tiles (for its reduction).

A layer's copies lie one after another in its crossbar order, so a copy inside one segment sits
whole on that segment's tile: it is its own home, reads all K rows there and reduces nothing over
the mesh. Only the (at most two) copies a segment cuts are followed crossbar by crossbar range, so
the work per layer grows with its segments, not with its copies.
"""

from __future__ import annotations

from recpim.arch.graph.workload import WorkloadNode

from .crossbar import CrossbarMapping
from .occupancy import PeProfile
from .placement import Segment
from .result import LayerPlacement, MvmLayerMapping

# {copy: {tile: the column tiles (column groups) of that copy with crossbars on the tile}} for copies on
# more than one tile: a column group's partial sums meet only on the tiles holding its row tiles.
SplitCopies = dict[int, dict[int, frozenset[int]]]


def place_layer(node: WorkloadNode, xmap: CrossbarMapping, copies: int, segments: tuple[Segment, ...],
                profile: PeProfile) -> tuple[MvmLayerMapping, SplitCopies]:
    per_copy, col_tiles = xmap.crossbars, xmap.col_tiles
    every_group = frozenset(range(col_tiles))

    on_tile: dict[tuple[int, int], int] = {}      # (round, tile) -> crossbars
    homes: list[int] = [0] * copies
    cut: dict[int, dict[tuple[int, int], int]] = {}   # copy -> (round, tile) -> crossbars, copies a segment cuts
    cut_groups: dict[int, dict[int, frozenset[int]]] = {}
    full_copies: dict[int, int] = {}              # tile -> copies held whole (insertion: segment order)
    cut_rows: dict[int, dict[int, list[tuple[int, int]]]] = {}   # tile -> cut copy -> row tile ranges there
    for segment in segments:
        tile = segment.tile
        key = (segment.round, tile)
        on_tile[key] = on_tile.get(key, 0) + segment.crossbars
        if tile not in full_copies:
            full_copies[tile] = 0
            cut_rows[tile] = {}
        first = segment.crossbar_first
        end = first + segment.crossbars
        first_copy, last_copy = first // per_copy, (end - 1) // per_copy
        whole_first = first_copy if first == first_copy * per_copy else first_copy + 1
        whole_end = last_copy + 1 if end == (last_copy + 1) * per_copy else last_copy
        if whole_end > whole_first:
            homes[whole_first:whole_end] = [tile] * (whole_end - whole_first)
            full_copies[tile] += whole_end - whole_first
        for copy in ((first_copy,) if first_copy == last_copy else (first_copy, last_copy)):
            if whole_first <= copy < whole_end:
                continue
            base = copy * per_copy
            low, high = max(first, base) - base, min(end, base + per_copy) - base
            counts = cut.setdefault(copy, {})
            counts[key] = counts.get(key, 0) + high - low
            # column groups of crossbars low..high-1 of the copy (row-tile-major: crossbar i is column tile
            # i % col_tiles); a range of col_tiles crossbars or more holds every group
            groups = (every_group if high - low >= col_tiles
                      else frozenset(index % col_tiles for index in range(low, high)))
            held = cut_groups.setdefault(copy, {})
            held[tile] = held.get(tile, frozenset()) | groups
            cut_rows[tile].setdefault(copy, []).append((low // col_tiles, (high - 1) // col_tiles + 1))
    for copy, counts in cut.items():
        homes[copy] = _busiest(counts)[1]
    # Home: the (round, tile) with most crossbars; ties go to the later one (nearer its consumers).
    home_round, home_tile = _busiest(on_tile)
    row_prefix = [0]   # rows of row tiles 0..r-1
    for rows in xmap.rows_per_row_tile:
        row_prefix.append(row_prefix[-1] + rows)
    k_rows, rows_per_row_tile = xmap.k_rows, xmap.rows_per_row_tile
    input_rows = tuple((tile, whole * k_rows + (sum(_rows_in(ranges, row_prefix, rows_per_row_tile)
                                                    for ranges in cut_rows[tile].values()) if cut_rows[tile] else 0))
                       for tile, whole in full_copies.items())
    tile_adds = _tile_adds(node, xmap, copies, segments, profile.per_pe)
    adcs, conversions_per_read = profile.adc_load()
    placement = LayerPlacement(
        replication=copies,
        pes=sum(segment.pes for segment in segments),
        tiles=tuple(sorted({segment.tile for segment in segments})),
        home_tile=home_tile,
        home_round=home_round,
        copy_home_tiles=tuple(homes),
        segments=segments,
        adcs=adcs,
        conversions_per_adc_per_read=conversions_per_read,
        input_rows_by_tile=input_rows,
        tile_adds_by_tile=tile_adds,
    )
    layer = MvmLayerMapping(name=node.name, source=node.source,
                            macs=node.macs or xmap.k_rows * xmap.n_cols * xmap.vectors,
                            input_elements=_window_source_elements(node, xmap), crossbar=xmap, placement=placement)
    split = {copy: dict(tiles) for copy, tiles in sorted(cut_groups.items()) if len(tiles) > 1}
    return layer, split


def _tile_adds(node: WorkloadNode, xmap: CrossbarMapping, copies: int, segments: tuple[Segment, ...],
               per_pe: int) -> tuple[tuple[int, int], ...]:
    """Additions per inference on each tile merging its PEs' results for the same outputs: for every
    copy on a tile and every column group c of it that p_c > 1 of the tile's PEs read, (p_c - 1) x
    the group's share of the copy's output elements. A PE's crossbars are a contiguous run of the
    layer's crossbar order (row-tile-major within a copy), so the groups of one run are a range mod
    col_tiles; sum over (copy, tile) of [sum over runs of the run's group columns - the columns of
    the union of the groups], in weight columns, weighs each shared group p_c - 1 times."""
    per_copy, col_tiles, cols = xmap.crossbars, xmap.col_tiles, xmap.weight_cols_per_col_tile
    per_row_tile = xmap.weight_cols_per_row_tile
    runs: dict[tuple[int, int], list[set[int] | None]] = {}   # (copy, tile) -> groups of each PE run (None: all)
    for segment in segments:
        for pe in range(segment.pes):
            first = segment.crossbar_first + pe * per_pe
            end = min(first + per_pe, segment.crossbar_first + segment.crossbars)
            while first < end:
                copy = first // per_copy
                low, high = first - copy * per_copy, min(end, (copy + 1) * per_copy) - copy * per_copy
                groups = None if high - low >= col_tiles else {index % col_tiles for index in range(low, high)}
                runs.setdefault((copy, segment.tile), []).append(groups)
                first = copy * per_copy + high
    elements = 1
    for dim in node.output_shape:
        elements *= dim
    shared_cols: dict[int, int] = {}    # tile -> weight columns' worth of outputs merged on it
    for (_, tile), groups_of_runs in runs.items():
        if len(groups_of_runs) < 2:
            continue
        summed = sum(per_row_tile if g is None else sum(cols[c] for c in g) for g in groups_of_runs)
        union = (per_row_tile if any(g is None for g in groups_of_runs)
                 else sum(cols[c] for c in set().union(*groups_of_runs)))
        if summed > union:
            shared_cols[tile] = shared_cols.get(tile, 0) + summed - union
    # each copy computes 1 / copies of the outputs; a column group's share is its columns / per_row_tile
    return tuple((tile, -(-elements * shared // (per_row_tile * copies))) for tile, shared in shared_cols.items())


def _rows_in(ranges: list[tuple[int, int]], prefix: list[int], rows_per_row_tile: tuple[int, ...]) -> int:
    """Rows of the row tiles a copy has on one tile (ranges [first, end) of row tiles; a copy
    cut on the same tile in several rounds counts each row tile once)."""
    if len(ranges) == 1:
        first, end = ranges[0]
        return prefix[end] - prefix[first]
    return sum(rows_per_row_tile[row_tile] for row_tile in {r for first, end in ranges for r in range(first, end)})


def _window_source_elements(node: WorkloadNode, xmap: CrossbarMapping) -> int:
    """Elements a layer's input vectors are cut from: a convolution's feature map (C, H, W), whose
    overlapping windows line buffers reuse; vectors x K for every other layer (no overlap)."""
    windows = xmap.k_rows * xmap.vectors
    if not node.input_shapes or len(node.input_shapes[0]) < 3:
        return windows
    count = 1
    for dim in node.input_shapes[0]:
        count *= dim
    return min(count, windows)


def _busiest(counts: dict[tuple[int, int], int]) -> tuple[int, int]:
    if len(counts) == 1:
        return next(iter(counts))
    return max(counts, key=lambda key: (counts[key], key))


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

# {copy: {tile: the column tiles (column groups) of that copy with crossbars on the tile, as a bit mask:
# bit c for group c}} for copies on more than one tile: a column group's partial sums meet only on the
# tiles holding its row tiles.
SplitCopies = dict[int, dict[int, int]]


def place_layer(node: WorkloadNode, xmap: CrossbarMapping, copies: int, segments: tuple[Segment, ...],
                profile: PeProfile) -> tuple[MvmLayerMapping, SplitCopies]:
    tiles = {segment.tile for segment in segments}
    if len(segments) == 1 and not segments[0].crossbar_first and segments[0].crossbars == copies * xmap.crossbars:
        # every copy whole on one tile (most small layers)
        round_, tile = segments[0].round, segments[0].tile
        walk = [tile] * copies, round_, tile, ((tile, copies * xmap.k_rows),), {}
    elif len(tiles) == len(segments) and segments[0].round == segments[-1].round:   # (rounds never go back)
        walk = _walk_one_round(xmap, copies, segments)
    else:
        walk = _walk_rounds(xmap, copies, segments)
    homes, home_round, home_tile, input_rows, cut_groups = walk
    tile_adds = _tile_adds(node, xmap, copies, segments, profile.per_pe)
    adcs, conversions_per_read = profile.adc_load()
    placement = LayerPlacement(
        replication=copies,
        pes=sum([segment.pes for segment in segments]),
        tiles=tuple(sorted(tiles)),
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
    split = {copy: dict(tiles) for copy, tiles in sorted(cut_groups.items()) if len(tiles) > 1} if cut_groups else {}
    return layer, split


# (copy home tiles, home round, home tile, input rows by tile, {cut copy: {tile: column groups}})
Walk = tuple[list[int], int, int, tuple[tuple[int, int], ...], dict[int, dict[int, int]]]


def _walk_one_round(xmap: CrossbarMapping, copies: int, segments: tuple[Segment, ...]) -> Walk:
    """_walk_rounds for a layer whose segments lie in one round on distinct tiles (one contiguous run of
    PEs: every layer that fits the chip), so no (round, tile) or (copy, tile) is met twice: counts need no sums and
    a cut copy's rows on a tile are one range of row tiles."""
    per_copy, col_tiles = xmap.crossbars, xmap.col_tiles
    every_group = (1 << col_tiles) - 1
    k_rows = xmap.k_rows
    row_prefix = [0]   # rows of row tiles 0..r-1
    for rows in xmap.rows_per_row_tile:
        row_prefix.append(row_prefix[-1] + rows)
    homes = [0] * copies
    best: tuple[int, int, int] | None = None      # (crossbars, round, tile) of the busiest segment
    cut_best: dict[int, tuple[int, int, int]] = {}   # cut copy -> (crossbars, round, tile) of its largest piece
    cut_groups: dict[int, dict[int, int]] = {}
    input_rows = []
    for round_, tile, _, _, first, crossbars in segments:
        here = (crossbars, round_, tile)
        if best is None or here > best:
            best = here
        end = first + crossbars
        first_copy, last_copy = first // per_copy, (end - 1) // per_copy
        whole_first = first_copy if first == first_copy * per_copy else first_copy + 1
        whole_end = last_copy + 1 if end == (last_copy + 1) * per_copy else last_copy
        whole = 0
        if whole_end > whole_first:
            whole = whole_end - whole_first
            homes[whole_first:whole_end] = [tile] * whole
        rows = whole * k_rows
        for copy in ((first_copy,) if first_copy == last_copy else (first_copy, last_copy)):
            if whole_first <= copy < whole_end:
                continue
            base = copy * per_copy
            low = first - base if first > base else 0
            high = end - base if end < base + per_copy else per_copy
            piece = (high - low, round_, tile)
            previous = cut_best.get(copy)
            if previous is None:
                cut_best[copy] = piece
                cut_groups[copy] = {}
            elif piece > previous:
                cut_best[copy] = piece
            # column groups of crossbars low..high-1 of the copy (see _walk_rounds)
            if high - low >= col_tiles:
                groups = every_group
            else:
                run = ((1 << (high - low)) - 1) << (low % col_tiles)
                groups = (run | run >> col_tiles) & every_group
            cut_groups[copy][tile] = groups
            rows += row_prefix[(high - 1) // col_tiles + 1] - row_prefix[low // col_tiles]
        input_rows.append((tile, rows))
    for copy, (_, _, tile) in cut_best.items():
        homes[copy] = tile
    return homes, best[1], best[2], tuple(input_rows), cut_groups


def _walk_rounds(xmap: CrossbarMapping, copies: int, segments: tuple[Segment, ...]) -> Walk:
    """Copy homes, the layer's home, the input rows of each tile and the column groups of every cut
    copy on each tile, segment by segment (any rounds)."""
    per_copy, col_tiles = xmap.crossbars, xmap.col_tiles
    every_group = (1 << col_tiles) - 1

    on_tile: dict[tuple[int, int], int] = {}      # (round, tile) -> crossbars
    homes: list[int] = [0] * copies
    cut: dict[int, dict[tuple[int, int], int]] = {}   # copy -> (round, tile) -> crossbars, copies a segment cuts
    cut_groups: dict[int, dict[int, int]] = {}
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
            # i % col_tiles): high - low bits from bit low % col_tiles, wrapping; col_tiles or more: all
            if high - low >= col_tiles:
                groups = every_group
            else:
                run = ((1 << (high - low)) - 1) << (low % col_tiles)
                groups = (run | run >> col_tiles) & every_group
            held = cut_groups.setdefault(copy, {})
            held[tile] = held.get(tile, 0) | groups
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
    return homes, home_round, home_tile, input_rows, cut_groups


def _tile_adds(node: WorkloadNode, xmap: CrossbarMapping, copies: int, segments: tuple[Segment, ...],
               per_pe: int) -> tuple[tuple[int, int], ...]:
    """Additions per inference on each tile merging its PEs' results for the same outputs: for every
    copy and every column group c of it that p_c > 1 PEs of a segment read, (p_c - 1) x the group's
    share of the copy's output elements.

    A segment's crossbars are cut into pieces by PE boundaries and copy boundaries; a piece is a
    contiguous run of one copy's crossbars (row-tile-major: crossbar i is column group i % col_tiles,
    so a piece's groups are a range mod col_tiles). Summing the group columns of every piece and
    subtracting those of every copy's whole range in the segment counts each group p_c - 1 times (a
    copy inside one PE cancels), in weight columns. That sum depends only on where the segment starts
    within a copy, its crossbars and its PEs, which repeat from segment to segment (a large mesh holds
    thousands of a layer's segments): each such pattern is worked out once."""
    per_copy = xmap.crossbars
    # every PE boundary of a segment starting on a copy boundary is a copy boundary too: no group of a
    # copy is read by two PEs (most small layers: copies of one or two crossbars)
    copies_fill_pes = per_pe % per_copy == 0
    patterns: dict[tuple[int, int, int], int] = {}
    by_tile: dict[int, int] = {}
    for segment in segments:
        if segment.pes < 2:
            continue
        # in coordinates where the segment's first copy starts at 0 (groups keep: per_copy % col_tiles == 0)
        key = (segment.crossbar_first % per_copy, segment.crossbars, segment.pes)
        shared = patterns.get(key)
        if shared is None:
            if copies_fill_pes and not key[0]:
                shared = 0
            else:
                first, end = key[0], key[0] + key[1]
                pe_cuts = range(first + per_pe, end, per_pe)
                if end <= per_copy:   # inside one copy: its PEs' pieces less the whole run
                    shared = _group_cols(xmap, [first, *pe_cuts, end]) - _group_cols(xmap, [first, end])
                else:
                    copy_cuts = range(per_copy, end, per_copy)
                    shared = (_group_cols(xmap, sorted({first, end, *copy_cuts, *pe_cuts}))
                              - _group_cols(xmap, [first, *copy_cuts, end]))
            patterns[key] = shared
        if shared:
            by_tile[segment.tile] = by_tile.get(segment.tile, 0) + shared
    if not by_tile:
        return ()
    elements = 1
    for dim in node.output_shape:
        elements *= dim
    per_row_tile = xmap.weight_cols_per_row_tile
    # each copy computes 1 / copies of the outputs; a column group's share is its columns / per_row_tile
    return tuple((tile, -(-elements * shared_cols // (per_row_tile * copies))) for tile, shared_cols in by_tile.items())


def _group_cols(xmap: CrossbarMapping, points: list[int]) -> int:
    """The weight columns of the column groups of the pieces [p0, p1), [p1, p2), ... of crossbars
    (cut points p0 < p1 < ... in one copy's coordinates, row-tile-major), summed: a piece of
    col_tiles or more crossbars holds every group, a shorter one a run of groups mod col_tiles."""
    col_tiles, cols, per_row_tile = xmap.col_tiles, xmap.weight_cols_per_col_tile, xmap.weight_cols_per_row_tile
    twice = cols + cols   # (a shorter piece's run of groups wraps at most once)
    total = 0
    for start, stop in zip(points, points[1:], strict=False):
        length, offset = stop - start, start % col_tiles
        total += per_row_tile if length >= col_tiles else sum(twice[offset:offset + length])
    return total


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


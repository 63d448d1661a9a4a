"""Crossbars -> PEs -> tiles, and tiles -> mesh coordinates.

Choices (and why):
- A PE belongs to one layer. Its crossbars share one input register and its ADCs (ISAAC's IMA), so
  mixing layers in a PE would make them contend for both; a layer therefore takes
  ceil(crossbars / pe.crossbars) whole PEs, and the spare crossbars of its last PE stay idle.
  All copies (replicas) of a layer share its PEs.
- Tiles are numbered along a snake (boustrophedon) walk of the mesh: row 0 left to right, row 1
  right to left, ... so tile t and t + 1 are always mesh neighbours. Layers take PEs contiguously
  along that walk in topological order, so a producer's last tile is its consumer's first tile or
  its neighbour: a chain of layers is placed on a chain of adjacent tiles, with no fragmentation
  (every PE of the chip can be used).
- Time-multiplexed mode: when the layers do not fit, they are cut into rounds, each round a full
  re-use of the chip in the same snake order. A layer goes whole into the current round if it fits
  there, else into a fresh round; a layer larger than the whole chip is split across consecutive
  full rounds.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import repeat
from typing import NamedTuple

from recpim.pim.config import ChipConfig
from recpim.units import ceil_div


class Segment(NamedTuple):
    """A run of one layer's crossbars on one tile in one round: crossbars
    [crossbar_first, crossbar_first + crossbars) of the layer (copy-major, then row-tile-major order)
    sit in PEs [pe_first, pe_first + pes) of tile `tile`. A named tuple: a large mesh makes thousands
    of them per mapping, and a frozen dataclass costs three times as much to build."""

    round: int
    tile: int
    pe_first: int
    pes: int
    crossbar_first: int
    crossbars: int

    def to_json_dict(self, coords: tuple[int, int]) -> dict:
        return {"round": self.round, "tile": self.tile, "mesh_row": coords[0], "mesh_col": coords[1],
                "pe_first": self.pe_first, "pes": self.pes, "crossbar_first": self.crossbar_first,
                "crossbars": self.crossbars}


def snake_coords(tiles: int, mesh_cols: int) -> list[tuple[int, int]]:
    """(mesh row, mesh col) of tiles 0..tiles-1 along the snake walk."""
    return list(snake_coords_tuple(tiles, mesh_cols))


@lru_cache(maxsize=64)
def snake_coords_tuple(tiles: int, mesh_cols: int) -> tuple[tuple[int, int], ...]:
    """snake_coords as a tuple, memoised (a sweep maps many models on one mesh)."""
    coords: list[tuple[int, int]] = []
    forward, backward = range(mesh_cols), range(mesh_cols - 1, -1, -1)
    for row in range(-(-tiles // mesh_cols)):   # a row at a time (a large mesh has thousands of tiles)
        coords += zip(repeat(row), forward if row % 2 == 0 else backward)
    return tuple(coords[:tiles])


def manhattan_hops(a: tuple[int, int], b: tuple[int, int]) -> int:
    """Mesh hops between two tiles under dimension-order (XY) routing."""
    return abs(a[0] - b[0]) + abs(a[1] - b[1])


def pes_needed(crossbars: int, chip: ChipConfig) -> int:
    return ceil_div(crossbars, chip.pe.crossbars)


def chip_pes(chip: ChipConfig) -> int:
    return chip.chip.tiles * chip.tile.pes


def allocate(layers: list[tuple[str, int]], chip: ChipConfig,
             time_multiplexed: bool) -> tuple[dict[str, list[Segment]], int]:
    """Give each (name, crossbars) layer, in the order given, contiguous PEs along the snake walk.

    Returns the segments of every layer and the number of rounds (1 unless time-multiplexed and
    the layers exceed the chip). The caller checks capacity when not time-multiplexed.
    """
    capacity = chip_pes(chip)
    per_pe, per_tile = chip.pe.crossbars, chip.tile.pes   # (read once: pydantic attribute chains are slow)
    segments: dict[str, list[Segment]] = {}
    round_index, cursor = 0, 0
    for name, crossbars in layers:
        pes = -(-crossbars // per_pe)
        if cursor + pes > capacity:
            if not time_multiplexed:
                raise ValueError(f"layer {name} does not fit; check capacity before allocating")
            if cursor > 0:
                round_index, cursor = round_index + 1, 0
        segments[name] = []
        first_crossbar = 0
        while first_crossbar < crossbars:
            take_pes = min(pes - first_crossbar // per_pe, capacity - cursor)
            take_crossbars = min(take_pes * per_pe, crossbars - first_crossbar)
            segments[name] += _segments_on_tiles(round_index, cursor, first_crossbar, take_crossbars, per_pe, per_tile)
            first_crossbar += take_crossbars
            cursor += take_pes
            if cursor == capacity and first_crossbar < crossbars:
                round_index, cursor = round_index + 1, 0
    return segments, round_index + 1


def _segments_on_tiles(round_index: int, pe_start: int, crossbar_first: int, crossbars: int,
                       per_pe: int, per_tile: int) -> list[Segment]:
    """Split a contiguous run of PEs (global index pe_start..) holding `crossbars` into per-tile
    segments (`per_pe` crossbars in a PE, `per_tile` PEs in a tile)."""
    out = []
    placed = 0
    global_pe = pe_start
    while placed < crossbars:
        tile, local_pe = divmod(global_pe, per_tile)
        pes_here = min(per_tile - local_pe, -(-(crossbars - placed) // per_pe))
        crossbars_here = min(pes_here * per_pe, crossbars - placed)
        # (a Segment built as the tuple it is: its generated __new__ costs twice as much, on thousands)
        out.append(_tuple_new(Segment, (round_index, tile, local_pe, pes_here, crossbar_first + placed,
                                        crossbars_here)))
        placed += crossbars_here
        global_pe += pes_here
    return out


_tuple_new = tuple.__new__

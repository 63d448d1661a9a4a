"""What sits in each PE once a layer is placed: the ADC load of a layer and the cost of writing its
crossbars (time-multiplexed mode).

ADC wiring assumed: a PE's pe.adcs ADCs are spread evenly over the concatenated columns of its
pe.crossbars crossbars, each ADC converting a fixed group of ceil(pe.crossbars x cols / pe.adcs)
columns (never more than adc.columns_per_adc: ChipConfig checks it). A layer's crossbars use their
columns from column 0, so an ADC converts the used columns of its group after every crossbar read.

A layer fills whole PEs in order (placement.py): its PE k holds its crossbars [k p, (k + 1) p) (p =
pe.crossbars; the last PE the remainder), copy-major, so what PE k holds depends only on k p mod C
(C = crossbars of one copy) and repeats every C / gcd(p, C) PEs. PeProfile uses closed forms where
they serve, else evaluates one period, and sums runs of PEs arithmetically, whatever the copies.
"""

from __future__ import annotations

from collections import defaultdict
from math import gcd

from recpim.pim.config import ChipConfig
from recpim.units import ceil_div

from .crossbar import CrossbarMapping
from .placement import Segment


class _CopyShapes:
    """Rows, used columns and converted columns of the crossbars of one copy, read around the copy's
    end (a PE may hold the end of one copy and the start of the next). Crossbar i of a copy (row-tile-
    major) has the rows of row tile i // col_tiles and the columns of column tile i % col_tiles, so
    sums over any run of crossbars come from prefix sums over row tiles and column tiles, whatever
    the copy's size (a large layer's copy has thousands of crossbars)."""

    def __init__(self, xmap: CrossbarMapping):
        self.count = xmap.crossbars
        self.col_tiles = xmap.col_tiles
        self.rows_per_row_tile = xmap.rows_per_row_tile
        self.cols = xmap.used_cols_per_col_tile
        self.converted = xmap.converted_cols_per_col_tile
        self.converted_twice = self.converted + self.converted   # (a run of < col_tiles crossbars wraps once)
        self.most_converted = max(self.converted)
        self.copy_cells = xmap.cells_used              # cells and rows of a whole copy
        self.copy_rows = xmap.k_rows * xmap.col_tiles
        self.cols_prefix: list[int] | None = None      # built when a PE holds part of a copy

    def _prefixes(self) -> None:
        cols_prefix = [0]
        for cols in self.cols:
            cols_prefix.append(cols_prefix[-1] + cols)
        self.cols_prefix = cols_prefix
        row_cells, row_rows = [0], [0]   # cells and rows of row tiles 0..r-1 (every column tile)
        for rows in self.rows_per_row_tile:
            row_cells.append(row_cells[-1] + rows * cols_prefix[-1])
            row_rows.append(row_rows[-1] + rows * self.col_tiles)
        self.row_cells, self.row_rows = row_cells, row_rows

    def _before(self, index: int) -> tuple[int, int]:
        """(cells, rows) of crossbars 0..index-1 of a copy (0 <= index <= count)."""
        row_tile, col_tile = divmod(index, self.col_tiles)
        if not col_tile:
            return self.row_cells[row_tile], self.row_rows[row_tile]
        rows = self.rows_per_row_tile[row_tile]
        return (self.row_cells[row_tile] + rows * self.cols_prefix[col_tile],
                self.row_rows[row_tile] + rows * col_tile)

    def write(self, start: int, count: int) -> tuple[int, int]:
        """(cells, rows) of crossbars start, start + 1, ... (count of them, wrapping around the copy):
        any `self.count` consecutive crossbars are one whole copy."""
        cycles, rest = divmod(count, self.count)
        cells, rows = self.copy_cells * cycles, self.copy_rows * cycles
        if rest:
            if self.cols_prefix is None:
                self._prefixes()
            first_cells, first_rows = self._before(start)
            end = start + rest
            if end <= self.count:
                end_cells, end_rows = self._before(end)
                cells, rows = cells + end_cells - first_cells, rows + end_rows - first_rows
            else:
                wrap_cells, wrap_rows = self._before(end - self.count)
                cells += self.row_cells[-1] - first_cells + wrap_cells
                rows += self.row_rows[-1] - first_rows + wrap_rows
        return cells, rows

    def col_tiles_from(self, start: int, count: int) -> list[int]:
        """Column tiles of crossbars start, start + 1, ... (count of them; a copy ends on a row tile's end,
        so they run on mod col_tiles across copies)."""
        first = start % self.col_tiles
        return [(first + slot) % self.col_tiles for slot in range(count)]


def _pe_adc_load(shapes: _CopyShapes, xbar_cols: int, group: int, start: int, count: int) -> tuple[int, int]:
    """(ADCs used, most columns one ADC converts) in a PE holding crossbars start.. of one copy
    (`group`: the columns wired to one ADC)."""
    if group == xbar_cols:   # one ADC per crossbar (ISAAC's IMA): it converts its crossbar's columns
        if count >= shapes.col_tiles:
            return count, shapes.most_converted
        first = start % shapes.col_tiles
        return count, max(shapes.converted_twice[first:first + count])
    load: dict[int, int] = defaultdict(int)
    for slot, tile in enumerate(shapes.col_tiles_from(start, count)):
        cols, converted = shapes.cols[tile], shapes.converted[tile]
        begin = slot * xbar_cols
        end = begin + cols
        for adc in range(begin // group, (end - 1) // group + 1):
            overlap = min(end, (adc + 1) * group) - max(begin, adc * group)
            load[adc] += ceil_div(overlap * converted, cols)
    return len(load), max(load.values())


class PeProfile:
    """ADC load and write cost of every PE of a layer of `copies` copies (see the module docs).

    Per-PE figures are worked out over one period of PEs only where no closed form serves: with one
    ADC per crossbar a full PE has one ADC per crossbar and its busiest ADC converts the most of the
    column tiles it holds; with every row tile of the same height a full PE writes pe.crossbars x that
    many rows; the cells of any run of PEs are those of its crossbars (_CopyShapes.write)."""

    def __init__(self, xmap: CrossbarMapping, copies: int, chip: ChipConfig):
        per_pe = chip.pe.crossbars
        self.per_pe = per_pe
        self.copy_crossbars = xmap.crossbars
        self.copies = copies
        self.full_pes, rest = divmod(xmap.crossbars * copies, per_pe)
        self.period = xmap.crossbars // gcd(per_pe, xmap.crossbars)
        self.evaluated = min(self.full_pes, self.period)   # PEs whose figures differ, at most
        self.shapes = shapes = _CopyShapes(xmap)
        self.xbar_cols = chip.crossbar.cols
        self.group = ceil_div(per_pe * self.xbar_cols, chip.pe.adcs)
        heights = xmap.rows_per_row_tile
        # rows one full PE writes when every row tile has the same height; else per PE over a period
        self.pe_rows: int | None = per_pe * heights[0] if heights[0] == heights[-1] else None
        self.rows: list[int] = [] if self.pe_rows is not None else \
            [shapes.write((j * per_pe) % xmap.crossbars, per_pe)[1] for j in range(self.evaluated)]
        self.last = None   # (ADCs, busiest, cells, rows) of a last, partly filled PE
        if rest:
            start = (self.full_pes * per_pe) % xmap.crossbars
            self.last = (*_pe_adc_load(shapes, self.xbar_cols, self.group, start, rest), *shapes.write(start, rest))
        self._adc_load: tuple[int, int] | None = None
        self._layer_write: tuple[int, int] | None = None

    def adc_load(self) -> tuple[int, int]:
        """(ADCs with at least one used column, most columns one ADC converts after a read)."""
        if self._adc_load is None:   # (layers of one shape and copies share the profile)
            shapes = self.shapes
            if self.group == self.xbar_cols:
                # the full PEs hold crossbars 0 .. full_pes x pe.crossbars - 1 of the layer: column tiles
                # 0, 1, ... mod col_tiles (a copy ends on a row tile's end)
                adcs = self.full_pes * self.per_pe
                held = min(shapes.col_tiles, self.evaluated * self.per_pe)
                busiest = max(shapes.converted[:held], default=0)
            else:
                loads = [_pe_adc_load(shapes, self.xbar_cols, self.group, (j * self.per_pe) % self.copy_crossbars,
                                      self.per_pe) for j in range(self.evaluated)]
                prefix = [0]
                for pe_adcs, _ in loads:
                    prefix.append(prefix[-1] + pe_adcs)
                adcs = self._sum(prefix, self.full_pes)
                busiest = max((pe_busiest for _, pe_busiest in loads), default=0)
            if self.last:
                adcs += self.last[0]
                busiest = max(busiest, self.last[1])
            self._adc_load = (adcs, busiest)
        return self._adc_load

    def _sum(self, prefix: list[int], end: int) -> int:
        """Sum over full PEs 0..end-1 of a periodic per-PE figure."""
        if not self.period or end <= 0:
            return 0
        cycles, left = divmod(end, self.period)
        return cycles * prefix[-1] + prefix[left] if cycles else prefix[end]

    def layer_write_cost(self) -> tuple[int, int]:
        """write_cost of one segment spanning all the layer's PEs (kept: layers of one shape and copies
        share the profile)."""
        if self._layer_write is None:
            pes = self.full_pes + (1 if self.last else 0)
            self._layer_write = self.write_cost(Segment(0, 0, 0, pes, 0, self.copy_crossbars * self.copies))
        return self._layer_write

    def write_cost(self, segment: Segment) -> tuple[int, int]:
        """(cells written, most rows written in one PE) to program the PEs of one segment."""
        first = segment.crossbar_first // self.per_pe
        end = min(first + segment.pes, self.full_pes)
        if end > first:   # full PEs first..end-1
            cells = self.shapes.write((first * self.per_pe) % self.copy_crossbars, (end - first) * self.per_pe)[0]
            if self.pe_rows is not None:
                rows = self.pe_rows
            elif end - first >= self.period:
                rows = max(self.rows)
            else:   # PEs first..end-1 are at most two runs of one period
                low = first % self.period
                high = low + end - first
                rows = max(self.rows[low:high]) if high <= self.period else \
                    max(max(self.rows[low:]), max(self.rows[:high - self.period]))
        else:
            cells, rows = 0, 0
        if self.last and first + segment.pes > self.full_pes:
            cells += self.last[2]
            rows = max(rows, self.last[3])
        return cells, rows

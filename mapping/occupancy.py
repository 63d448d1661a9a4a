"""What sits in each PE once a layer is placed: the ADC load of a layer and the cost of writing its
crossbars (time-multiplexed mode).

ADC wiring assumed: a PE's pe.adcs ADCs are spread evenly over the concatenated columns of its
pe.crossbars crossbars, each ADC converting a fixed group of ceil(pe.crossbars x cols / pe.adcs)
columns (never more than adc.columns_per_adc: ChipConfig checks it). A layer's crossbars use their
columns from column 0, so an ADC converts the used columns of its group after every crossbar read.

A layer fills whole PEs in order (placement.py): its PE k holds its crossbars [k p, (k + 1) p) (p =
pe.crossbars; the last PE the remainder), copy-major, so what PE k holds depends only on k p mod C
(C = crossbars of one copy) and repeats every C / gcd(p, C) PEs. PeProfile evaluates one period and
sums runs of PEs arithmetically, whatever the number of copies.
"""

from __future__ import annotations

from collections import defaultdict
from math import gcd

from recpim.pim.config import ChipConfig
from recpim.units import ceil_div

from .crossbar import CrossbarMapping
from .placement import Segment


class _CopyShapes:
    """Rows, used columns and converted columns of every crossbar of one copy, read around the
    copy's end (a PE may hold the end of one copy and the start of the next)."""

    def __init__(self, xmap: CrossbarMapping):
        self.count = xmap.crossbars
        self.rows = [rows for rows in xmap.rows_per_row_tile for _ in range(xmap.col_tiles)]
        self.cols = list(xmap.used_cols_per_col_tile) * xmap.row_tiles
        self.converted = list(xmap.converted_cols_per_col_tile) * xmap.row_tiles

    def window(self, values: list[int], start: int, count: int) -> list[int]:
        """values of crossbars start, start + 1, ... (count of them, wrapping around the copy)."""
        out = values[start:start + count]
        while len(out) < count:
            out += values[:count - len(out)]
        return out


def _pe_adc_load(shapes: _CopyShapes, chip: ChipConfig, start: int, count: int) -> tuple[int, int]:
    """(ADCs used, most columns one ADC converts) in a PE holding crossbars start.. of one copy."""
    xbar_cols = chip.crossbar.cols
    group = ceil_div(chip.pe.crossbars * xbar_cols, chip.pe.adcs)
    converted = shapes.window(shapes.converted, start, count)
    if group == xbar_cols:   # one ADC per crossbar (ISAAC's IMA): it converts its crossbar's columns
        return count, max(converted)
    load: dict[int, int] = defaultdict(int)
    for slot, cols in enumerate(shapes.window(shapes.cols, start, count)):
        begin = slot * xbar_cols
        end = begin + cols
        for adc in range(begin // group, (end - 1) // group + 1):
            overlap = min(end, (adc + 1) * group) - max(begin, adc * group)
            load[adc] += ceil_div(overlap * converted[slot], cols)
    return len(load), max(load.values())


def _pe_write(shapes: _CopyShapes, start: int, count: int) -> tuple[int, int]:
    """(cells, rows) written to program a PE holding crossbars start.. of one copy."""
    rows = shapes.window(shapes.rows, start, count)
    cols = shapes.window(shapes.cols, start, count)
    return sum(r * c for r, c in zip(rows, cols, strict=True)), sum(rows)


class PeProfile:
    """ADC load and write cost of every PE of a layer of `copies` copies (see the module docs)."""

    def __init__(self, xmap: CrossbarMapping, copies: int, chip: ChipConfig):
        per_pe = chip.pe.crossbars
        total = xmap.crossbars * copies
        self.per_pe = per_pe
        self.full_pes, rest = divmod(total, per_pe)
        self.period = xmap.crossbars // gcd(per_pe, xmap.crossbars)
        evaluated = min(self.full_pes, self.period)
        starts = [(j * per_pe) % xmap.crossbars for j in range(evaluated)]
        shapes = _CopyShapes(xmap)
        adc = [_pe_adc_load(shapes, chip, start, per_pe) for start in starts]
        write = [_pe_write(shapes, start, per_pe) for start in starts]
        self.adcs = [a for a, _ in adc]
        self.busiest = [b for _, b in adc]
        self.cells = [c for c, _ in write]
        self.rows = [r for _, r in write]
        self.prefix_adcs = _prefix(self.adcs)
        self.prefix_cells = _prefix(self.cells)
        self.last = None   # (ADCs, busiest, cells, rows) of a last, partly filled PE
        if rest:
            start = (self.full_pes * per_pe) % xmap.crossbars
            self.last = (*_pe_adc_load(shapes, chip, start, rest), *_pe_write(shapes, start, rest))

    def _sum(self, prefix: list[int], end: int) -> int:
        """Sum over full PEs 0..end-1 of a periodic per-PE figure."""
        if not self.period or end <= 0:
            return 0
        cycles, left = divmod(end, self.period)
        return cycles * prefix[-1] + prefix[left] if cycles else prefix[end]

    def adc_load(self) -> tuple[int, int]:
        """(ADCs with at least one used column, most columns one ADC converts after a read)."""
        adcs = self._sum(self.prefix_adcs, self.full_pes)
        busiest = max(self.busiest, default=0)
        if self.last:
            adcs += self.last[0]
            busiest = max(busiest, self.last[1])
        return adcs, busiest

    def write_cost(self, segment: Segment) -> tuple[int, int]:
        """(cells written, most rows written in one PE) to program the PEs of one segment."""
        first = segment.crossbar_first // self.per_pe
        end = min(first + segment.pes, self.full_pes)
        cells = self._sum(self.prefix_cells, end) - self._sum(self.prefix_cells, first)
        if end - first >= self.period:
            rows = max(self.rows, default=0)
        elif end > first:   # PEs first..end-1 are at most two runs of one period
            low = first % self.period
            high = low + end - first
            rows = max(self.rows[low:high]) if high <= self.period else \
                max(max(self.rows[low:]), max(self.rows[:high - self.period]))
        else:
            rows = 0
        if self.last and first + segment.pes > self.full_pes:
            cells += self.last[2]
            rows = max(rows, self.last[3])
        return cells, rows


def _prefix(values: list[int]) -> list[int]:
    out = [0]
    for value in values:
        out.append(out[-1] + value)
    return out

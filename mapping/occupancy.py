"""What sits in each PE once a layer is placed: the ADC load of a layer and the cost of writing its
crossbars (time-multiplexed mode).

ADC wiring assumed: a PE's pe.adcs ADCs are spread evenly over the concatenated columns of its
pe.crossbars crossbars, each ADC converting a fixed group of ceil(pe.crossbars x cols / pe.adcs)
columns (never more than adc.columns_per_adc: ChipConfig checks it). A layer's crossbars use their
columns from column 0, so an ADC converts the used columns of its group after every crossbar read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from recpim.pim.config import ChipConfig
from recpim.units import ceil_div

from .crossbar import CrossbarMapping
from .placement import Segment


def pe_runs(xmap: CrossbarMapping, segments: tuple[Segment, ...],
            chip: ChipConfig) -> Iterator[tuple[tuple[int, int, int], int, int]]:
    """((round, tile, pe), first local crossbar, crossbars) of every PE of a layer: a PE holds
    consecutive crossbars of the layer, so what it holds is fixed by where its run starts (within one
    copy) and how long it is -- PEs with the same (start, length) hold the same shapes."""
    per_pe = chip.pe.crossbars
    for segment in segments:
        for pe in range(segment.pes):
            count = min(per_pe, segment.crossbars - pe * per_pe)
            yield (segment.round, segment.tile, segment.pe_first + pe), \
                (segment.crossbar_first + pe * per_pe) % xmap.crossbars, count


def _pe_adc_load(xmap: CrossbarMapping, chip: ChipConfig, start: int, count: int) -> tuple[int, int]:
    """(ADCs used, most columns one ADC converts) in a PE holding crossbars start.. of one copy."""
    group = ceil_div(chip.pe.crossbars * chip.crossbar.cols, chip.pe.adcs)
    load: dict[int, int] = defaultdict(int)
    for slot in range(count):
        _, cols, _, converted = xmap.crossbar_shape((start + slot) % xmap.crossbars)
        begin = slot * chip.crossbar.cols
        end = begin + cols
        for adc in range(begin // group, (end - 1) // group + 1):
            overlap = min(end, (adc + 1) * group) - max(begin, adc * group)
            load[adc] += ceil_div(overlap * converted, cols)
    return len(load), max(load.values())


def adc_load(xmap: CrossbarMapping, segments: tuple[Segment, ...], chip: ChipConfig) -> tuple[int, int]:
    """(ADCs with at least one used column, most columns one ADC converts after a read) of a layer."""
    adcs, busiest = 0, 0
    seen: dict[tuple[int, int], tuple[int, int]] = {}
    for _, start, count in pe_runs(xmap, segments, chip):
        if (start, count) not in seen:
            seen[(start, count)] = _pe_adc_load(xmap, chip, start, count)
        used, most = seen[(start, count)]
        adcs += used
        busiest = max(busiest, most)
    return adcs, busiest


def write_cost(xmap: CrossbarMapping, segments: tuple[Segment, ...],
               chip: ChipConfig) -> tuple[dict[int, int], dict[tuple[int, int, int], int]]:
    """(cells written per round, rows written per (round, tile, pe)) to program a layer's crossbars."""
    cells: dict[int, int] = defaultdict(int)
    rows_per_pe: dict[tuple[int, int, int], int] = {}
    seen: dict[tuple[int, int], tuple[int, int]] = {}
    for key, start, count in pe_runs(xmap, segments, chip):
        if (start, count) not in seen:
            shapes = [xmap.crossbar_shape((start + slot) % xmap.crossbars) for slot in range(count)]
            seen[(start, count)] = (sum(rows * cols for rows, cols, _, _ in shapes), sum(rows for rows, *_ in shapes))
        pe_cells, pe_rows = seen[(start, count)]
        cells[key[0]] += pe_cells
        rows_per_pe[key] = pe_rows
    return dict(cells), rows_per_pe

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

from .crossbar import CrossbarMapping, ceil_div
from .placement import Segment


def crossbars_by_pe(xmap: CrossbarMapping, segments: tuple[Segment, ...],
                    chip: ChipConfig) -> Iterator[tuple[tuple[int, int, int], list[tuple[int, int, int]]]]:
    """((round, tile, pe), [(slot in PE, rows used, columns used, columns converted), ...]) for every
    PE of a layer."""
    per_pe = chip.pe.crossbars
    for segment in segments:
        contents: dict[int, list] = defaultdict(list)
        for offset in range(segment.crossbars):
            pe, slot = divmod(offset, per_pe)
            rows, cols, _, converted = xmap.crossbar_shape((segment.crossbar_first + offset) % xmap.crossbars)
            contents[segment.pe_first + pe].append((slot, rows, cols, converted))
        for pe, items in contents.items():
            yield (segment.round, segment.tile, pe), items


def adc_load(xmap: CrossbarMapping, segments: tuple[Segment, ...], chip: ChipConfig) -> tuple[int, int]:
    """(ADCs with at least one used column, most columns one ADC converts after a read) of a layer."""
    group = ceil_div(chip.pe.crossbars * chip.crossbar.cols, chip.pe.adcs)
    adcs, busiest = 0, 0
    for _, items in crossbars_by_pe(xmap, segments, chip):
        load: dict[int, int] = defaultdict(int)
        for slot, _, cols, converted in items:
            start = slot * chip.crossbar.cols
            end = start + cols
            for adc in range(start // group, (end - 1) // group + 1):
                overlap = min(end, (adc + 1) * group) - max(start, adc * group)
                load[adc] += ceil_div(overlap * converted, cols)
        adcs += len(load)
        busiest = max(busiest, max(load.values()))
    return adcs, busiest


def write_cost(xmap: CrossbarMapping, segments: tuple[Segment, ...],
               chip: ChipConfig) -> tuple[dict[int, int], dict[tuple[int, int, int], int]]:
    """(cells written per round, rows written per (round, tile, pe)) to program a layer's crossbars."""
    cells: dict[int, int] = defaultdict(int)
    rows_per_pe: dict[tuple[int, int, int], int] = {}
    for key, items in crossbars_by_pe(xmap, segments, chip):
        cells[key[0]] += sum(rows * cols for _, rows, cols, _ in items)
        rows_per_pe[key] = sum(rows for _, rows, _, _ in items)
    return dict(cells), rows_per_pe

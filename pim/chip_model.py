"""The chip roll-up: component figures from the registry, counted per PE, per tile and per chip.

`build_chip_model(chip)` evaluates every component of a validated ChipConfig with its chosen model
(or user table) and returns a `ChipModel`: the figures of one instance of each component, the
instance counts, area and power at full activity per component, per PE, per tile and per chip, the
static (leakage) power the simulator charges per unit of time, and the energy of one of each
operation the simulator counts (`energy_pj`).

Full activity, which sets each component's peak power, is:
- crossbar: every array reads rows_read_at_once x cols cells once per crossbar cycle, where the
  crossbar cycle is the longer of the read latency and the time its ADC takes to convert the
  columns it serves (columns_per_adc / sample rate) -- 100 ns in ISAAC;
- DAC: each row driver fires rows_read_at_once / rows of the crossbar cycles; S+H: one sample per
  column per crossbar cycle; ADC: its sample rate;
- shift-and-add: 2 values per clock cycle (ISAAC: 4 units serve 8 ADCs); registers: one byte per
  cycle; buffer: one width access per port per cycle; bus: every wire one bit per cycle; vector
  unit: ops_per_cycle per cycle; max-pool: one comparison per cycle; extra peripherals: one action
  per cycle;
- router: every port (4 mesh neighbours + its tiles) forwards its link bandwidth; one router
  serves tiles_per_router tiles, so a tile carries 1/tiles_per_router of one (ISAAC's per-tile
  share), while the chip counts ceil(tiles / tiles_per_router) routers;
- off-chip link: every link at its bandwidth; DRAM at its bandwidth (off chip: reported, never
  added to the chip's area or power);
- on-chip embedding ReRAM (chip.embedding_reram_mb): arrays of the chip's crossbar cells read as
  memory, one row per crossbar cycle per tile, each cell sensed by an ADC of bits_per_cell bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from recpim.errors import ConfigError
from recpim.pim.components import (
    COMPONENT_ACTIONS,
    ComponentFigures,
    default_model,
    evaluate_with_context,
    model_names,
)
from recpim.pim.config import ChipConfig, ComponentChoice
from recpim.units import MW_PER_W, UM2_PER_MM2, ceil_div
from recpim.validation import did_you_mean, get_dotted


class Level(StrEnum):
    """Where a component is counted: in every PE, in every tile, once on the chip, or off chip
    (reported, never added to the chip's area or power)."""

    PE = "pe"
    TILE = "tile"
    CHIP = "chip"
    OFFCHIP = "offchip"


PE, TILE, CHIP, OFFCHIP = Level.PE, Level.TILE, Level.CHIP, Level.OFFCHIP
MESH_PORTS = 4
SHIFT_ADD_VALUES_PER_CYCLE = 2


@dataclass(frozen=True)
class ComponentRollup:
    """One kind of component on the chip: its figures and how many there are."""

    name: str
    kind: str  # the registry's component name
    level: Level
    model: str
    figures: ComponentFigures
    count_per_pe: float
    count_per_tile: float
    count_per_chip: float

    @property
    def power_mw_per_chip(self) -> float:
        return self.count_per_chip * self.figures.peak_power_mw

    @property
    def area_mm2_per_chip(self) -> float:
        return self.count_per_chip * self.figures.area_um2 / UM2_PER_MM2

    @property
    def leakage_mw_per_chip(self) -> float:
        return self.count_per_chip * self.figures.leakage_mw

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "level": self.level, "model": self.model, "action": COMPONENT_ACTIONS[self.kind],
            "count_per_pe": self.count_per_pe, "count_per_tile": self.count_per_tile,
            "count_per_chip": self.count_per_chip, **self.figures.to_json_dict(),
            "power_mw_per_chip": self.power_mw_per_chip, "area_mm2_per_chip": self.area_mm2_per_chip,
        }


@dataclass(frozen=True)
class LevelTotals:
    """Peak power (full activity), area and leakage of one PE, one tile or the chip."""

    power_mw: float
    area_mm2: float
    leakage_mw: float

    @property
    def power_w(self) -> float:
        return self.power_mw / MW_PER_W


@dataclass(frozen=True)
class ChipModel:
    chip_name: str
    technology_nm: float
    clock_ghz: float
    crossbar_cycle_ns: float
    rollup: dict[str, ComponentRollup]
    counts: dict[str, float]
    pe: LevelTotals
    tile: LevelTotals
    chip: LevelTotals
    energy_pj: dict[str, float]
    defaulted_sections: tuple[str, ...] = ()   # config sections the schema's defaults filled in

    @property
    def components(self) -> dict[str, ComponentFigures]:
        """The figures of one instance of each component, by name."""
        return {name: entry.figures for name, entry in self.rollup.items()}

    @property
    def leakage_mw(self) -> float:
        """Static power of the whole chip; the simulator charges it x simulated time."""
        return self.chip.leakage_mw

    def area_mm2_by_component(self) -> dict[str, float]:
        """Chip area per on-chip component (sums to chip.area_mm2)."""
        return {name: e.area_mm2_per_chip for name, e in self.rollup.items() if e.level != OFFCHIP}

    def power_mw_by_component(self) -> dict[str, float]:
        """Chip power at full activity per on-chip component (sums to chip.power_mw)."""
        return {name: e.power_mw_per_chip for name, e in self.rollup.items() if e.level != OFFCHIP}

    def to_json_dict(self) -> dict[str, Any]:
        def level(totals: LevelTotals) -> dict[str, float]:
            return {"power_mw": totals.power_mw, "area_mm2": totals.area_mm2, "leakage_mw": totals.leakage_mw}

        dram = self.rollup["dram"]
        return {
            "chip_name": self.chip_name, "technology_nm": self.technology_nm, "clock_ghz": self.clock_ghz,
            "crossbar_cycle_ns": self.crossbar_cycle_ns, "counts": dict(self.counts),
            "components": {name: entry.to_json_dict() for name, entry in self.rollup.items()},
            "pe": level(self.pe), "tile": level(self.tile),
            "chip": {"power_w": self.chip.power_w, **level(self.chip)},
            "offchip": {"dram_power_mw": dram.power_mw_per_chip},
            "energy_pj": dict(self.energy_pj),
            "defaulted_sections": list(self.defaulted_sections),
        }


def _choice_at(chip: ChipConfig, path: str) -> ComponentChoice:
    return get_dotted(chip, path, source="chip")


def check_models(chip: ChipConfig, source: str | None = None) -> None:
    """Every component names a registered model, and a user table only comes with `model: table`."""
    problems = []
    for instance in component_instances(chip):
        kind, path, choice = instance.kind, instance.path, _choice_at(chip, instance.path)
        names = model_names(kind)
        if choice.model not in names:
            problems.append((f"{path}.model", f"unknown model '{choice.model}'{did_you_mean(choice.model, names)} "
                                              f"allowed: {', '.join(names)}"))
        elif choice.user_table is not None and choice.model != "table":
            problems.append((f"{path}.user_table", f"given with model '{choice.model}'; allowed: set model: table "
                                                   "to use the table, or remove user_table"))
    if problems:
        raise ConfigError(source or f"chip '{chip.name}'", problems)


def crossbar_cycle_ns(chip: ChipConfig) -> float:
    """One crossbar read step: array read, or the shared ADC sweeping its columns if slower."""
    return max(chip.crossbar.read_latency_ns, chip.adc.columns_per_adc * chip.adc.conversion_ns)


@dataclass(frozen=True)
class ComponentInstance:
    """One kind of component instance on a chip: which registry component models it, at which level
    it is counted, where its ComponentChoice sits in the config, the parameters its model may take
    (with `actions_per_ns`, its rate of actions at full activity), and how many there are per PE
    (level "pe"), per tile (level "tile") or per chip (levels "chip" and "offchip")."""

    name: str
    kind: str              # the registry's component name
    level: Level
    path: str              # config path of its ComponentChoice
    context: dict[str, Any]
    count: float


def component_instances(chip: ChipConfig) -> list[ComponentInstance]:
    """Every component instance of `chip`, in roll-up order."""
    xbar, pe, tile, level = chip.crossbar, chip.pe, chip.tile, chip.chip
    cycle = crossbar_cycle_ns(chip)
    clock = chip.clock_ghz
    noc = level.noc
    common = {"technology_nm": chip.technology_nm, "clock_ghz": clock, "leakage_fraction": level.leakage_fraction}
    device = xbar.device.model_dump()
    router_ports = MESH_PORTS + noc.tiles_per_router
    return [
        ComponentInstance("crossbar", "crossbar", Level.PE, "crossbar", {
            **common, **device, "rows": xbar.rows, "cols": xbar.cols, "read_latency_ns": xbar.read_latency_ns,
            "cell_read_energy_pj": xbar.cell_read_energy_pj, "input_bit_density": xbar.input_bit_density,
            "weight_on_fraction": xbar.weight_on_fraction, "sense_time_ns": xbar.sense_time_ns,
            "actions_per_ns": xbar.rows_read_at_once * xbar.cols / cycle}, pe.crossbars),
        ComponentInstance("row_periphery", "row_periphery", Level.PE, "crossbar.row_periphery",
                          {**common, "actions_per_ns": xbar.rows_read_at_once / xbar.rows / cycle},
                          pe.crossbars * xbar.rows),
        ComponentInstance("column_periphery", "column_periphery", Level.PE, "crossbar.column_periphery",
                          {**common, "actions_per_ns": 1 / cycle}, pe.crossbars * xbar.cols),
        ComponentInstance("dac", "dac", Level.PE, "dac", {
            **common, "bits": chip.dac.bits, "input_bit_density": xbar.input_bit_density,
            "actions_per_ns": xbar.rows_read_at_once / xbar.rows * chip.dac.rows_per_dac / cycle},
            pe.crossbars * ceil_div(xbar.rows, chip.dac.rows_per_dac)),
        ComponentInstance("sample_hold", "sample_hold", Level.PE, "pe.sample_hold",
                          {**common, "actions_per_ns": 1 / cycle}, pe.crossbars * xbar.cols),
        ComponentInstance("adc", "adc", Level.PE, "adc", {
            **common, "bits": chip.adc.bits, "sample_rate_gsps": chip.adc.sample_rate_gsps,
            "conversion_ns": chip.adc.conversion_ns, "actions_per_ns": 1.0 / chip.adc.conversion_ns}, pe.adcs),
        ComponentInstance("shift_add", "shift_add", Level.PE, "pe.shift_add",
                          {**common, "actions_per_ns": SHIFT_ADD_VALUES_PER_CYCLE * clock}, pe.shift_add_units),
        ComponentInstance("input_register", "input_register", Level.PE, "pe.input_register",
                          {**common, "size_bytes": pe.input_register_bytes, "actions_per_ns": clock}, 1),
        ComponentInstance("output_register", "output_register", Level.PE, "pe.output_register",
                          {**common, "size_bytes": pe.output_register_bytes, "actions_per_ns": clock}, 1),
        ComponentInstance("buffer", "buffer", Level.TILE, "tile.buffer", {
            **common, "size_kb": tile.buffer.size_kb, "width_bits": tile.buffer.width_bits,
            "ports": tile.buffer.ports, "kind": tile.buffer.kind,
            "energy_pj_per_access": tile.buffer.energy_pj_per_access,
            "actions_per_ns": tile.buffer.ports * clock}, 1),
        ComponentInstance("bus", "bus", Level.TILE, "tile.bus",
                          {**common, "width_bits": tile.bus.width_bits,
                           "actions_per_ns": tile.bus.width_bits * clock}, 1),
        ComponentInstance("router", "router", Level.TILE, "chip.noc", {
            **common, "flit_bits": noc.flit_bits, "ports": router_ports,
            "link_bits_per_cycle": noc.link_bandwidth_gbps / clock, "hop_latency_ns": noc.hop_latency_ns,
            "energy_pj_per_flit_hop": noc.energy_pj_per_flit_hop,
            "actions_per_ns": router_ports * noc.link_bandwidth_gbps / noc.flit_bits}, 1 / noc.tiles_per_router),
        ComponentInstance("vector_unit", "vector_unit", Level.TILE, "tile.vector_units", {
            **common, "ops_per_cycle": tile.vector_units.ops_per_cycle,
            "actions_per_ns": tile.vector_units.ops_per_cycle * clock}, tile.vector_units.count),
        ComponentInstance("tile_shift_add", "shift_add", Level.TILE, "tile.shift_add",
                          {**common, "actions_per_ns": SHIFT_ADD_VALUES_PER_CYCLE * clock}, tile.shift_add_units),
        ComponentInstance("maxpool", "maxpool", Level.TILE, "tile.maxpool", {**common, "actions_per_ns": clock},
                          tile.maxpool_units),
        ComponentInstance("tile_output_register", "output_register", Level.TILE, "tile.output_register",
                          {**common, "size_bytes": max(tile.output_register_bytes, 1), "actions_per_ns": clock},
                          1 if tile.output_register_bytes > 0 else 0),
        ComponentInstance("extra_peripherals", "extra_peripherals", Level.TILE, "tile.extra_peripherals",
                          {**common, "actions_per_ns": clock}, 1),
        ComponentInstance("offchip_link", "offchip_link", Level.CHIP, "chip.offchip_link", {
            **common, "bandwidth_gbps_per_link": level.offchip_link.bandwidth_gbps_per_link,
            "actions_per_ns": level.offchip_link.bandwidth_gbps_per_link}, level.offchip_link.links),
        ComponentInstance("dram", "dram", Level.OFFCHIP, "chip.dram", {
            "energy_pj_per_bit": level.dram.energy_pj_per_bit, "access_latency_ns": level.dram.access_latency_ns,
            "actions_per_ns": level.dram.bandwidth_gbps}, 1),
    ]


def config_latency_ns(chip: ChipConfig, name: str) -> float:
    """The latency the config itself sets for a component: the crossbar's read latency, the ADC's
    conversion time, one clock cycle for the rest. A user table without a latency takes this one."""
    if name == "crossbar":
        return chip.crossbar.read_latency_ns
    if name == "adc":
        return chip.adc.conversion_ns
    return chip.cycle_ns


# Latencies the config owns: a user table may leave them out or repeat them, not contradict them.
_CONFIG_OWNED_LATENCY = {"crossbar": "crossbar.read_latency_ns",
                         "adc": "adc.sample_rate_gsps, adc.converter and adc.rate_bits"}


def _table_figures(name: str, kind: str, path: str, chip: ChipConfig, choice: ComponentChoice,
                   context: dict[str, Any], source: str) -> ComponentFigures:
    table = choice.user_table.model_dump()
    owned = config_latency_ns(chip, name)
    given = table["latency_ns"]
    if given is not None and name in _CONFIG_OWNED_LATENCY and abs(given - owned) > 1e-9 * owned:
        raise ConfigError(source, [(f"{path}.user_table.latency_ns",
                                    f"got {given}; the timing takes this latency from {_CONFIG_OWNED_LATENCY[name]} "
                                    f"({owned:g} ns): allowed: leave latency_ns out, or give {owned:g}")])
    table["latency_ns"] = owned if given is None else given
    return evaluate_with_context(kind, "table", {**table, "actions_per_ns": context["actions_per_ns"]})


def _evaluate(name: str, kind: str, path: str, choice: ComponentChoice, context: dict[str, Any],
              source: str, chip: ChipConfig) -> ComponentFigures:
    if choice.model == "table":   # validated by UserTable; only its latency is checked here
        return _table_figures(name, kind, path, chip, choice, context, source)
    try:
        return evaluate_with_context(kind, choice.model, context)
    except ConfigError as error:  # name the config path, not only the model's parameter
        raise ConfigError(source, [(f"{path} ({name}, model '{choice.model}').{key}", message)
                                   for key, message in error.problems]) from None


def build_chip_model(chip: ChipConfig) -> ChipModel:
    """Evaluate every component of `chip` and roll area and power up per PE, tile and chip."""
    source = f"chip '{chip.name}'"
    check_models(chip, source)
    instances = component_instances(chip)
    pes, tiles = chip.tile.pes, chip.chip.tiles
    routers = ceil_div(tiles, chip.chip.noc.tiles_per_router)
    rollup: dict[str, ComponentRollup] = {}
    for instance in instances:
        name, kind, level, path, n = instance.name, instance.kind, instance.level, instance.path, instance.count
        choice = _choice_at(chip, path)
        figures = _evaluate(name, kind, path, choice, instance.context, source, chip)
        if level == PE:
            per_pe, per_tile, per_chip = n, n * pes, n * pes * tiles
        elif level == TILE:
            per_pe, per_tile, per_chip = 0, n, (routers if name == "router" else n * tiles)
        else:
            per_pe, per_tile, per_chip = 0, 0, n
        model = choice.model if choice.model != "default" else f"default ({default_model(kind)})"
        rollup[name] = ComponentRollup(name, kind, level, model, figures, per_pe, per_tile, per_chip)
    if chip.chip.embedding_reram_mb > 0:
        adc_context = next(instance.context for instance in instances if instance.name == "adc")
        rollup["embedding_reram"] = _embedding_reram(chip, rollup, adc_context, source)
    if chip.chip.embedding.cache_kb > 0:
        buffer_context = next(instance.context for instance in instances if instance.name == "buffer")
        rollup["embedding_cache"] = _embedding_cache(chip, buffer_context, source)

    def totals(count_of) -> LevelTotals:
        on_chip = [e for e in rollup.values() if e.level != OFFCHIP]
        return LevelTotals(
            power_mw=sum(count_of(e) * e.figures.peak_power_mw for e in on_chip),
            area_mm2=sum(count_of(e) * e.figures.area_um2 for e in on_chip) / UM2_PER_MM2,
            leakage_mw=sum(count_of(e) * e.figures.leakage_mw for e in on_chip),
        )

    return ChipModel(
        chip_name=chip.name, technology_nm=chip.technology_nm, clock_ghz=chip.clock_ghz,
        crossbar_cycle_ns=crossbar_cycle_ns(chip), rollup=rollup,
        counts={"crossbars_per_pe": chip.pe.crossbars, "pes_per_tile": pes, "tiles": tiles, "routers": routers,
                "crossbars_per_tile": chip.pe.crossbars * pes, "crossbars_total": chip.crossbars_total,
                "adcs_total": chip.pe.adcs * pes * tiles},
        pe=totals(lambda e: e.count_per_pe), tile=totals(lambda e: e.count_per_tile),
        chip=totals(lambda e: e.count_per_chip), energy_pj=_operation_energies(chip, rollup),
        defaulted_sections=tuple(chip.defaulted_sections()),
    )


def _embedding_reram(chip: ChipConfig, rollup: dict[str, ComponentRollup], adc_context: dict[str, Any],
                     source: str) -> ComponentRollup:
    """Dedicated ReRAM arrays holding embedding tables, read as memory (one row at a time)."""
    xbar, adc = chip.crossbar, chip.adc
    cells = xbar.rows * xbar.cols
    bits_per_array = cells * xbar.bits_per_cell
    arrays = math.ceil(chip.chip.embedding_reram_mb * 8 * 2**20 / bits_per_array)
    sense_per_array = ceil_div(xbar.cols, adc.columns_per_adc)
    cycle = crossbar_cycle_ns(chip)
    sense = _evaluate("embedding_reram sense amp", "adc", "adc", chip.adc,
                      {**adc_context, "bits": xbar.bits_per_cell}, source, chip)
    cell, dac = rollup["crossbar"].figures, rollup["dac"].figures
    row_pj = dac.energy_pj_per_action + xbar.cols * (cell.energy_pj_per_action + sense.energy_pj_per_action)
    energy_per_bit = row_pj / (xbar.cols * xbar.bits_per_cell)
    area = cell.area_um2 + xbar.rows * dac.area_um2 + sense_per_array * sense.area_um2
    bits_per_ns = chip.chip.tiles * xbar.cols * xbar.bits_per_cell / cycle
    peripheral_leak = sense_per_array * sense.leakage_mw  # only the sensing of one array per tile is powered
    figures = ComponentFigures(
        energy_pj_per_action=energy_per_bit, area_um2=area, latency_ns=cycle,
        leakage_mw=peripheral_leak * chip.chip.tiles / arrays,
        peak_power_mw=(energy_per_bit * bits_per_ns + peripheral_leak * chip.chip.tiles) / arrays,
        source="composed: arrays of the chip's crossbar cells, one row driver per row and one sense amplifier (the "
               "chip's ADC model at bits_per_cell bits) per columns_per_adc columns",
    )
    return ComponentRollup("embedding_reram", "crossbar", CHIP, f"{chip.crossbar.model} cells", figures,
                           0, 0, arrays)


def _embedding_cache(chip: ChipConfig, buffer_context: dict[str, Any], source: str) -> ComponentRollup:
    """The hot-row cache of embedding lookups: the chip's buffer model (tile.buffer.model) at the
    cache's size and kind, one port of the tile buffer's width; its energy per bit read."""
    lookup = chip.chip.embedding
    context = {**buffer_context, "size_kb": lookup.cache_kb, "kind": lookup.cache_kind, "ports": 1,
               "energy_pj_per_access": None, "actions_per_ns": chip.clock_ghz}
    figures = _evaluate("embedding_cache", "buffer", "chip.embedding", chip.tile.buffer, context, source, chip)
    width = chip.tile.buffer.width_bits
    per_bit = ComponentFigures(
        energy_pj_per_action=figures.energy_pj_per_action / width, area_um2=figures.area_um2,
        latency_ns=figures.latency_ns, leakage_mw=figures.leakage_mw, peak_power_mw=figures.peak_power_mw,
        source=f"the tile buffer's model at {lookup.cache_kb:g} KB {lookup.cache_kind} ({figures.source}); "
               f"per bit of a {width}-bit access")
    return ComponentRollup("embedding_cache", "buffer", CHIP, f"{chip.tile.buffer.model} buffer", per_bit, 0, 0, 1)


def _operation_energies(chip: ChipConfig, rollup: dict[str, ComponentRollup]) -> dict[str, float]:
    def e(name: str) -> float:
        return rollup[name].figures.energy_pj_per_action

    buffer_pj = e("buffer")
    energies = {
        "adc_conversion": e("adc"), "dac_drive": e("dac"), "cell_read": e("crossbar"), "sample_hold": e("sample_hold"),
        "shift_add": e("shift_add"),
        # One byte through a PE's registers: the simulator counts input and output bytes together,
        # which are about equal per vector, so the mean of the two registers' per-byte energies.
        "register_byte": 0.5 * (e("input_register") + e("output_register")),
        "input_register_byte": e("input_register"), "output_register_byte": e("output_register"),
        "buffer_access": buffer_pj, "buffer_access_256b": buffer_pj * 256 / chip.tile.buffer.width_bits,
        "bus_bit": e("bus"), "router_flit_hop": e("router"), "dram_bit": e("dram"), "vector_op": e("vector_unit"),
        "maxpool_op": e("maxpool"), "psum_add": e("tile_shift_add"), "tile_add": e("tile_shift_add"),
        "row_periphery": e("row_periphery"), "column_periphery": e("column_periphery"),
        "offchip_bit": e("offchip_link"), "cell_write": chip.crossbar.write_energy_pj_per_cell,
    }
    if "embedding_reram" in rollup:
        energies["embedding_reram_bit"] = e("embedding_reram")
    lookup = chip.chip.embedding
    io = lookup.dram_io_energy_fraction
    energies.update({
        "embedding_cache_bit": e("embedding_cache") if "embedding_cache" in rollup else 0.0,
        "dram_rank_bit": e("dram") * (1 - io), "dram_channel_bit": e("dram") * io,
        "near_memory_op": (lookup.near_memory_energy_pj_per_op if lookup.near_memory_energy_pj_per_op is not None
                           else e("vector_unit")),
    })
    return energies

"""ChipConfig: a typed, frozen, validated description of a ReRAM PIM chip.

A chip is parsed once from YAML (or a dict) into these objects; every other stage takes the typed
object. Unknown keys and out-of-range values are errors that name the key path, the value and what
is allowed (with the nearest valid key for a typo) -- see `load_chip_config`.

Hierarchy (ISAAC's naming in brackets): chip -> tiles -> PEs [IMAs] -> crossbars, with ADCs,
DACs, sample-and-hold and shift-and-add units inside each PE, an eDRAM/SRAM buffer, a bus and
digital vector units in each tile, and routers on a 2-D mesh joining the tiles.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_serializer, model_validator

from recpim.crossbar_numbers import Encoding, subtraction_allowed
from recpim.errors import ConfigError
from recpim.pim.nonideal import NonidealConfig
from recpim.units import ceil_div
from recpim.validation import StrictScalars, config_problems, set_dotted

# How spare PEs are used. How signed weights sit on crossbar columns: recpim.crossbar_numbers.Encoding.
ReplicationPolicy = Literal["none", "balance"]


class _Frozen(StrictScalars):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


PositiveInt = Annotated[int, Field(ge=1)]


class UserTable(_Frozen):
    """A fixed per-component table: always accepted in place of a fitted model."""

    energy_pj_per_action: float = Field(ge=0, le=1e6)
    area_um2: float = Field(ge=0, le=1e9)
    # One source of truth per latency: null takes the config's own figure (crossbar.read_latency_ns,
    # adc.conversion_ns (from sample_rate_gsps, converter and rate_bits), one clock cycle for the digital
    # parts); a table may only repeat it.
    latency_ns: float | None = Field(default=None, gt=0, le=1e6)
    leakage_mw: float = Field(default=0.0, ge=0, le=1e5)


class ComponentChoice(_Frozen):
    """Which registered model computes a component's figures (`table` uses `user_table`)."""

    model: str = "default"
    user_table: UserTable | None = None

    @model_validator(mode="after")
    def _table_needs_values(self) -> ComponentChoice:
        if self.model == "table" and self.user_table is None:
            raise ValueError("model 'table' needs a user_table with energy_pj_per_action and area_um2")
        return self


class DeviceParams(_Frozen):
    """ReRAM cell parameters; used to derive the cell read energy when it is not given."""

    r_on_ohm: float = Field(default=100e3, gt=0, le=1e9)
    r_off_ohm: float = Field(default=1.7e6, gt=0, le=1e12)
    read_voltage_v: float = Field(default=0.55, gt=0, le=5)
    read_pulse_ns: float = Field(default=10.0, gt=0, le=1e4)

    @model_validator(mode="after")
    def _off_above_on(self) -> DeviceParams:
        if self.r_off_ohm <= self.r_on_ohm:
            raise ValueError(f"r_off_ohm ({self.r_off_ohm}) must exceed r_on_ohm ({self.r_on_ohm})")
        return self


class CrossbarConfig(ComponentChoice):
    rows: int = Field(default=128, ge=8, le=4096)
    cols: int = Field(default=128, ge=8, le=4096)
    bits_per_cell: int = Field(default=2, ge=1, le=8)
    rows_read_at_once: int = Field(default=128, ge=1, le=4096)
    read_latency_ns: float = Field(default=100.0, gt=0, le=1e5)
    cell_read_energy_pj: float | None = Field(default=None, ge=0, le=100)
    device: DeviceParams = DeviceParams()
    write_energy_pj_per_cell: float = Field(default=10.0, ge=0, le=1e5)
    write_latency_ns_per_row: float = Field(default=100.0, ge=0, le=1e7)
    # Data-aware read energy (the mapping counts every cell of a driven row; the component model
    # charges the expectation). Defaults reproduce the data-blind figures exactly.
    input_bit_density: float = Field(default=1.0, ge=0, le=1)  # expected share of input bits that are 1
    weight_on_fraction: float = Field(default=0.5, ge=0, le=1)  # expected share of cells in the on state
    sense_time_ns: float | None = Field(default=None, gt=0, le=1e4)  # cell conducts this long; None: read pulse
    # Differential encodings: subtract the + and - column of a pair in analog before the ADC (one
    # conversion per pair, a signed sum one bit wider) instead of converting both columns.
    analog_subtraction: bool = False
    # Array periphery beside the cells: per row (switch matrix, level shifters) and per column (mux).
    row_periphery: ComponentChoice = ComponentChoice()
    column_periphery: ComponentChoice = ComponentChoice()
    # Device non-idealities the accuracy simulation applies (pim/nonideal.py); all off by default.
    nonideal: NonidealConfig = NonidealConfig()

    @model_serializer(mode="wrap")
    def _omit_ideal_cells(self, handler):
        """Leave `nonideal` out of a dump while it is all defaults, so the JSON of a chip that does not
        model device effects (sweep and search records, memo keys) is what it was before the section."""
        data = handler(self)
        if isinstance(data, dict) and self.nonideal == NonidealConfig():
            data.pop("nonideal", None)
        return data

    @model_validator(mode="after")
    def _read_within_rows(self) -> CrossbarConfig:
        if self.rows_read_at_once > self.rows:
            raise ValueError(f"rows_read_at_once ({self.rows_read_at_once}) cannot exceed rows ({self.rows})")
        return self


class DacConfig(ComponentChoice):
    bits: int = Field(default=1, ge=1, le=8)
    # DAC sharing: one DAC drives this many rows of a crossbar, one after another (rows / rows_per_dac
    # DACs per crossbar); a read whose rows share DACs first takes that many drive steps.
    rows_per_dac: int = Field(default=1, ge=1, le=4096)


class AdcConfig(ComponentChoice):
    bits: int = Field(default=8, ge=1, le=16)
    # How a conversion's time follows its resolution. "sar": successive approximation resolves one bit
    # per cycle of its internal clock, so a conversion takes bits cycles (ISAAC's ADC; NeuroSim's SarADC
    # takes log2(levels) + 1 cycles). "flash": every level's comparator fires at once, one cycle
    # whatever the bits (NeuroSim V1.4's default multilevel sense amplifier in parallel mode).
    converter: Literal["sar", "flash"] = "sar"
    # The conversion rate `sample_rate_gsps` is quoted at `rate_bits` of resolution (published rates are
    # quoted for one design point: ISAAC's 1.28 GS/s at 8 bits). A SAR ADC at `bits` converts at
    # sample_rate x rate_bits / bits; a flash ADC at sample_rate whatever its bits.
    sample_rate_gsps: float = Field(default=1.28, gt=0, le=100)
    rate_bits: int = Field(default=8, ge=1, le=16)
    columns_per_adc: int = Field(default=128, ge=1, le=4096)

    @property
    def conversion_ns(self) -> float:
        """One conversion at `bits`: the one source of the ADC's latency for both engines."""
        cycles = self.bits / self.rate_bits if self.converter == "sar" else 1.0
        return cycles / self.sample_rate_gsps


class PeConfig(_Frozen):
    """A processing element (ISAAC's IMA): crossbars with their converters and registers."""

    crossbars: PositiveInt = Field(default=8, le=1024)
    adcs: PositiveInt = Field(default=8, le=4096)
    shift_add_units: PositiveInt = Field(default=4, le=4096)
    input_register_bytes: PositiveInt = Field(default=2048, le=1 << 24)
    output_register_bytes: PositiveInt = Field(default=256, le=1 << 24)
    sample_hold: ComponentChoice = ComponentChoice()
    shift_add: ComponentChoice = ComponentChoice()
    input_register: ComponentChoice = ComponentChoice()
    output_register: ComponentChoice = ComponentChoice()


class BufferConfig(ComponentChoice):
    kind: Literal["edram", "sram"] = "edram"
    size_kb: float = Field(default=64, gt=0, le=1 << 20)
    width_bits: PositiveInt = Field(default=256, le=8192)
    ports: PositiveInt = Field(default=1, le=64)
    energy_pj_per_access: float | None = Field(default=None, ge=0, le=1e5)
    # line_buffer: a convolution's k x k windows are kept in line buffers, so each input element is
    # read from the buffer once; none: every window is read whole for every output position.
    input_reuse: Literal["line_buffer", "none"] = "line_buffer"


class BusConfig(ComponentChoice):
    width_bits: PositiveInt = Field(default=384, le=65536)


class VectorUnitConfig(ComponentChoice):
    """Digital units for what crossbars cannot do: products of activations, softmax, norms..."""

    count: PositiveInt = Field(default=2, le=1024)
    ops_per_cycle: PositiveInt = Field(default=32, le=65536)


class TileConfig(_Frozen):
    pes: PositiveInt = Field(default=12, le=1024)
    buffer: BufferConfig = BufferConfig()
    bus: BusConfig = BusConfig()
    vector_units: VectorUnitConfig = VectorUnitConfig()
    extra_peripherals: ComponentChoice = ComponentChoice()
    # Tile-level units ISAAC lists beside its IMAs (0 = none): a shift-and-add unit combining
    # partial sums across PEs, max-pool units, and an output register (ISAAC: 1, 1 and 3 KB).
    shift_add_units: int = Field(default=1, ge=0, le=4096)
    shift_add: ComponentChoice = ComponentChoice()
    maxpool_units: int = Field(default=1, ge=0, le=1024)
    maxpool: ComponentChoice = ComponentChoice()
    output_register_bytes: int = Field(default=3072, ge=0, le=1 << 24)
    output_register: ComponentChoice = ComponentChoice()
    # How a layer's output path (partial sums over the mesh to its home tile, their write into and read
    # back from that tile's buffer, the merge on its adders) meets the next waves' compute:
    # "overlapped" - double-buffered, the next waves compute meanwhile (ISAAC's pipeline, ISCA 2016);
    # "serial" - compute, buffer and merge one after another per group of output pixels (DNN+NeuroSim:
    # a layer's latency sums its subarray, buffer, interconnect and accumulation latencies).
    pipelining: Literal["overlapped", "serial"] = "overlapped"


class NocConfig(ComponentChoice):
    """Routers on a 2-D mesh; one router may serve several tiles (ISAAC: 4)."""

    tiles_per_router: PositiveInt = Field(default=4, le=64)
    flit_bits: PositiveInt = Field(default=256, le=8192)
    link_bandwidth_gbps: float = Field(default=38.4, gt=0, le=1e6)
    hop_latency_ns: float = Field(default=1.0, ge=0, le=1e4)
    energy_pj_per_flit_hop: float | None = Field(default=None, ge=0, le=1e5)


class DramConfig(ComponentChoice):
    """Off-chip DRAM holding embedding tables that do not live on chip."""

    bandwidth_gbps: float = Field(default=25.6, gt=0, le=1e6)
    energy_pj_per_bit: float = Field(default=20.0, ge=0, le=1e4)
    access_latency_ns: float = Field(default=50.0, ge=0, le=1e5)


class OffchipLinkConfig(ComponentChoice):
    """Chip-to-chip / host link (ISAAC: HyperTransport, 4 links of 6.4 GB/s). None unless the chip
    says so: a chip YAML without this section has no off-chip links (their area and leakage would
    otherwise arrive unasked)."""

    links: int = Field(default=0, ge=0, le=64)
    bandwidth_gbps_per_link: float = Field(default=51.2, gt=0, le=1e6)


class EmbeddingLookupConfig(_Frozen):
    """How embedding lookups are served (recpim.mapping.embedding_lookup; docs/fidelity.md):
    gather: rows read from DRAM or the ReRAM reserve and pooled on chip (recpim before issue 25);
    near_memory: DRAM tables pooled by a reduction unit per rank, RecNMP-style, only the pooled
    vector crossing the channel; in_crossbar: tables in the ReRAM reserve drive a bag's rows at
    once and the column currents add them, ReCross-style, read out by the chip's ADCs.
    cache_kb: a cache of hot rows (pinned from the access profile) in front of either memory."""

    mode: Literal["gather", "near_memory", "in_crossbar"] = "gather"
    cache_kb: float = Field(default=0.0, ge=0, le=1 << 20)
    cache_kind: Literal["sram", "edram"] = "sram"
    # Near memory: ranks read at once, each at the channel's bandwidth behind its own reduction unit
    # (RecNMP: 4 DIMMs x 2 ranks). The share of a DRAM bit's energy spent on the channel I/O, which a
    # rank-local read avoids (an assumption: DDR4 read I/O and termination are of this order).
    dram_ranks: PositiveInt = Field(default=8, le=256)
    dram_io_energy_fraction: float = Field(default=0.4, ge=0, le=1)
    # One addition of a rank's reduction unit (None: the chip's vector unit energy per op).
    near_memory_energy_pj_per_op: float | None = Field(default=None, ge=0, le=1e4)


class ChipLevelConfig(_Frozen):
    tiles: PositiveInt = Field(default=168, le=1 << 20)
    mesh_rows: PositiveInt = Field(default=14, le=4096)
    mesh_cols: PositiveInt = Field(default=12, le=4096)
    noc: NocConfig = NocConfig()
    dram: DramConfig = DramConfig()
    offchip_link: OffchipLinkConfig = OffchipLinkConfig()
    embedding_reram_mb: float = Field(default=0.0, ge=0, le=1 << 20)
    embedding: EmbeddingLookupConfig = EmbeddingLookupConfig()
    leakage_fraction: float = Field(default=0.1, ge=0, le=1)
    # Tiles a model does not use are power-gated (leak nothing); false: every tile leaks all the time.
    power_gating: bool = True

    @model_validator(mode="after")
    def _mesh_holds_tiles(self) -> ChipLevelConfig:
        if self.mesh_rows * self.mesh_cols < self.tiles:
            raise ValueError(
                f"mesh {self.mesh_rows}x{self.mesh_cols} has {self.mesh_rows * self.mesh_cols} slots "
                f"for {self.tiles} tiles; allowed: mesh_rows*mesh_cols >= tiles"
            )
        return self


class MappingPolicy(_Frozen):
    replication: ReplicationPolicy = "balance"
    time_multiplexed: bool = False
    # ReLU and pooling right after a layer run in that layer's output path (ISAAC/PUMA-style tiles:
    # the activation unit and max-pool unit sit between the crossbars and the output register);
    # false keeps them as their own vector-unit stages with a buffer round trip each.
    fuse_activations: bool = True


# Sections whose defaults switch a feature off (not cost figures a user should know were filled in).
_OFF_BY_DEFAULT = frozenset({"crossbar.nonideal"})


class ChipConfig(_Frozen):
    name: str = "custom"
    description: str = ""
    technology_nm: float = Field(default=32, ge=3, le=180)
    clock_ghz: float = Field(default=1.2, gt=0, le=10)
    # offset: unsigned codes plus a reference column per crossbar; differential: a + and a - array,
    # each sliced over all w bits; sign_magnitude: the same pair holding w - 1 magnitude bits, the
    # sign choosing the array.
    weight_encoding: Encoding = "offset"
    crossbar: CrossbarConfig = CrossbarConfig()
    dac: DacConfig = DacConfig()
    adc: AdcConfig = AdcConfig()
    pe: PeConfig = PeConfig()
    tile: TileConfig = TileConfig()
    chip: ChipLevelConfig = ChipLevelConfig()
    mapping: MappingPolicy = MappingPolicy()

    @model_validator(mode="after")
    def _subtraction_needs_pairs(self) -> ChipConfig:
        if self.crossbar.analog_subtraction and not subtraction_allowed(self.weight_encoding):
            raise ValueError("crossbar.analog_subtraction needs column pairs; allowed with weight_encoding "
                             "'differential' or 'sign_magnitude', not 'offset'")
        if self.crossbar.analog_subtraction and self.crossbar.cols % 2:
            raise ValueError(f"crossbar.analog_subtraction pairs columns; crossbar.cols={self.crossbar.cols} "
                             "must be even")
        if self.dac.rows_per_dac > self.crossbar.rows:
            raise ValueError(f"dac.rows_per_dac ({self.dac.rows_per_dac}) cannot exceed crossbar.rows "
                             f"({self.crossbar.rows})")
        return self

    @model_validator(mode="after")
    def _adcs_cover_columns(self) -> ChipConfig:
        needed = ceil_div(self.pe.crossbars * self.crossbar.cols, self.adc.columns_per_adc)
        if self.pe.adcs < needed:
            raise ValueError(
                f"pe.adcs={self.pe.adcs} cannot serve {self.pe.crossbars} crossbars x {self.crossbar.cols} "
                f"columns at adc.columns_per_adc={self.adc.columns_per_adc}; allowed: pe.adcs >= {needed}"
            )
        return self

    @property
    def crossbars_total(self) -> int:
        return self.pe.crossbars * self.tile.pes * self.chip.tiles

    @property
    def cycle_ns(self) -> float:
        return 1.0 / self.clock_ghz

    def defaulted_sections(self) -> list[str]:
        """Dotted names of the sections the config did not give (schema defaults filled them in)."""
        found: list[str] = []

        def walk(model: BaseModel, prefix: str) -> None:
            for name in type(model).model_fields:
                value = getattr(model, name)
                if not isinstance(value, BaseModel) or prefix + name in _OFF_BY_DEFAULT:
                    continue
                if name not in model.model_fields_set:
                    found.append(prefix + name)
                else:
                    walk(value, f"{prefix}{name}.")

        walk(self, "")
        return found

    def with_overrides(self, overrides: dict[str, Any]) -> ChipConfig:
        """A new validated chip with dotted-key overrides applied ({'crossbar.rows': 256, ...})."""
        data = self.model_dump()
        # `nonideal` is left out of dumps while ideal (CrossbarConfig): put its keys back to override them
        data["crossbar"].setdefault("nonideal", NonidealConfig().model_dump())
        for dotted, value in overrides.items():
            set_dotted(data, dotted, value)
        return chip_config_from_dict(data, source=f"{self.name} with overrides {overrides}")


def _boolean_problems(data: dict, model: Any = None, prefix: str = "") -> list[tuple[str, str]]:
    """YAML `true`/`false` where a number belongs (pydantic would quietly read them as 1/0)."""
    model = ChipConfig if model is None else model
    problems = []
    for key, value in data.items():
        field = model.model_fields.get(key) if isinstance(key, str) else None
        if field is None:
            continue
        annotation = field.annotation
        path = f"{prefix}{key}"
        numeric = {annotation, *getattr(annotation, "__args__", ())} & {int, float}
        if isinstance(value, bool) and numeric:
            problems.append((path, f"got {value!r}; allowed: a number, not true/false"))
        elif isinstance(value, dict):
            nested = next((a for a in (annotation, *getattr(annotation, "__args__", ())) if hasattr(a, "model_fields")),
                          None)
            if nested is not None:
                problems += _boolean_problems(value, nested, f"{path}.")
    return problems


def chip_config_from_dict(data: Any, source: str = "chip config") -> ChipConfig:
    if not isinstance(data, dict):
        raise ConfigError(source, [("", f"expected a mapping of sections, got {type(data).__name__}")])
    if problems := _boolean_problems(data):
        raise ConfigError(source, problems)
    try:
        return ChipConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(source, config_problems(error, ChipConfig)) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error (PyYAML keeps
    the last one silently, so a typo'd duplicate section would quietly replace the first)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key] + 1}, again on line "
                            f"{key_node.start_mark.line + 1}); allowed: each key once per section", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def load_chip_config(path_or_text: str | Path) -> ChipConfig:
    """Parse a YAML file path (or YAML text) into a validated ChipConfig."""
    path = Path(path_or_text) if not str(path_or_text).lstrip().startswith(("{", "name:")) else None
    try:
        is_file = path is not None and path.is_file()
    except (OSError, ValueError):  # a name too long or holding NUL: it is YAML text, not a path
        is_file = False
    if is_file:
        source = str(path)
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(source, [("", f"cannot read the file: {error}")]) from None
    else:
        text, source = str(path_or_text), "chip YAML"
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError) as error:
        # PyYAML raises ValueError for impossible dates (2020-02-30) and RecursionError for deep nesting.
        raise ConfigError(source, [("", f"not valid YAML: {error}")]) from None
    return chip_config_from_dict(data, source=source)


def chip_schema() -> dict:
    return ChipConfig.model_json_schema()

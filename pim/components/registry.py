"""The component model registry: one class per (component, model name).

Each model declares the parameters it accepts with their valid ranges, the source it was fitted
from, and returns `ComponentFigures` for ONE instance of the component. What one action means is
fixed per component (`COMPONENT_ACTIONS`) because the simulator multiplies activity counts by
`energy_pj_per_action`:

| component | one action |
|---|---|
| adc | one conversion at the chip's ADC bits |
| dac | one row driven for one input slice |
| crossbar | one cell read (pJ per cell per read); latency_ns is the read latency of the whole array |
| sample_hold | one column sampled |
| shift_add | one shift-and-add op |
| input_register, output_register | one byte accessed |
| buffer | one access of the buffer's width_bits |
| bus | one bit moved |
| router | one flit over one hop |
| dram | one bit (off chip) |
| vector_unit | one digital op |
| maxpool | one comparison (one input value) |
| offchip_link | one bit |
| extra_peripherals | one clock cycle of whatever logic the user lumps in |
| row_periphery | one row driven for one read (word-line switch matrix; area per row) |
| column_periphery | one column read out (column mux, bit line; area per column) |

Power split. A fitted model knows the energy of one action at full activity, E_total, which is
the published power divided by the published action rate. Where the source gives no split of
static and dynamic power, a chip-wide `leakage_fraction` f of that power is static:
energy_pj_per_action = (1 - f) E_total, leakage_mw = f E_total r and peak_power_mw = E_total r,
where r (`actions_per_ns`) is the rate of actions at full activity, set by the chip. So a roll-up
of peak power reproduces the published table for any f, and the simulator's
activity x energy + leakage x time equals the published power at full activity.
hwcomponents-adc splits its ADC energy the same way (20 % static).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from recpim.errors import ConfigError
from recpim.pim.components.params import RATE, Param
from recpim.validation import did_you_mean

COMPONENT_ACTIONS: dict[str, str] = {
    "adc": "one conversion at the chip's ADC bits",
    "dac": "one row driven for one input slice",
    "crossbar": "one cell read",
    "sample_hold": "one column sampled",
    "shift_add": "one shift-and-add op",
    "input_register": "one byte accessed",
    "output_register": "one byte accessed",
    "buffer": "one access of width_bits",
    "bus": "one bit moved",
    "router": "one flit over one hop",
    "dram": "one bit",
    "vector_unit": "one digital op",
    "maxpool": "one comparison",
    "offchip_link": "one bit",
    "extra_peripherals": "one clock cycle",
    "row_periphery": "one row driven for one read (its switch matrix)",
    "column_periphery": "one column read out (its mux and bit line)",
}


@dataclass(frozen=True)
class ComponentFigures:
    """The figures of ONE instance of a component (see COMPONENT_ACTIONS for what an action is)."""

    energy_pj_per_action: float
    area_um2: float
    latency_ns: float
    leakage_mw: float
    peak_power_mw: float  # power at full activity (dynamic + leakage), used for roll-ups
    source: str

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)




class ComponentModel:
    """Base class: subclasses set component, name, source, params and implement `figures`."""

    component: ClassVar[str]
    name: ClassVar[str]
    source: ClassVar[str]
    params: ClassVar[tuple[Param, ...]]

    def __init__(self, **values: Any):
        self.values = validate_params(self.component, self.name, self.params, values)

    def figures(self) -> ComponentFigures:
        raise NotImplementedError

    def split(self, total_energy_pj: float, area_um2: float, latency_ns: float,
              actions_per_ns: float | None = None) -> ComponentFigures:
        """Figures from the energy of one action at full activity (see the module docstring)."""
        fraction = self.values.get("leakage_fraction", 0.0)
        rate = self.values.get("actions_per_ns", 0.0) if actions_per_ns is None else actions_per_ns
        peak = total_energy_pj * rate
        return ComponentFigures(
            energy_pj_per_action=total_energy_pj * (1 - fraction), area_um2=area_um2, latency_ns=latency_ns,
            leakage_mw=fraction * peak, peak_power_mw=peak, source=self.source,
        )


    def exact(self, energy_pj: float, area_um2: float, latency_ns: float) -> ComponentFigures:
        """Figures when the chip gives the energy of one action itself (an override such as
        buffer.energy_pj_per_access): that energy is charged per action as given, and the leakage
        fraction adds static power on top of it."""
        fraction = self.values.get("leakage_fraction", 0.0)
        dynamic = energy_pj * self.values.get("actions_per_ns", 0.0)
        return ComponentFigures(
            energy_pj_per_action=energy_pj, area_um2=area_um2, latency_ns=latency_ns,
            leakage_mw=fraction * dynamic, peak_power_mw=(1 + fraction) * dynamic, source=self.source,
        )


def validate_params(component: str, model: str, params: tuple[Param, ...], values: dict[str, Any]) -> dict:
    known = {p.name: p for p in params}
    problems = []
    for key in values:
        if key not in known:
            problems.append((key, f"unknown parameter{did_you_mean(key, known)} allowed: {', '.join(known)}"))
    checked = {}
    for param in params:
        value = values.get(param.name)
        if (problem := param.problem(value)) is not None:
            problems.append((param.name, problem))
        checked[param.name] = value
    if problems:
        raise ConfigError(f"{component} model '{model}'", problems)
    return checked


_MODELS: dict[tuple[str, str], type[ComponentModel]] = {}
_DEFAULTS: dict[str, str] = {}


def register(cls: type[ComponentModel]) -> type[ComponentModel]:
    """Class decorator: make a model available as (cls.component, cls.name)."""
    if cls.component not in COMPONENT_ACTIONS:
        raise ValueError(f"unknown component {cls.component!r}")
    _MODELS[(cls.component, cls.name)] = cls
    return cls


def set_default(component: str, name: str) -> None:
    """`model: default` in a chip YAML means this model."""
    _DEFAULTS[component] = name


def default_model(component: str) -> str:
    return _DEFAULTS[component]


def model_names(component: str) -> list[str]:
    """Every name a chip YAML may give for this component's model."""
    return sorted(name for comp, name in _MODELS if comp == component) + ["default", "table"]


def resolve_model(component: str, name: str) -> type[ComponentModel]:
    if component not in COMPONENT_ACTIONS:
        allowed = ", ".join(COMPONENT_ACTIONS)
        raise ConfigError("component registry", [(component, f"unknown component; allowed: {allowed}")])
    if name == "default":
        name = _DEFAULTS[component]
    if name == "table":
        return TableModel
    if (component, name) not in _MODELS:
        names = model_names(component)
        message = f"unknown model '{name}'{did_you_mean(name, names)} allowed: {', '.join(names)}"
        raise ConfigError(f"{component} models", [("model", message)])
    return _MODELS[(component, name)]


def evaluate(component: str, name: str, **values: Any) -> ComponentFigures:
    """Figures of one instance of `component` computed by model `name` from `values`."""
    cls = resolve_model(component, name)
    if cls is TableModel:
        return TableModel(component, **values).figures()
    return cls(**values).figures()


def evaluate_with_context(component: str, name: str, context: dict[str, Any]) -> ComponentFigures:
    """Like `evaluate`, passing only the context entries the model declares as parameters."""
    cls = resolve_model(component, name)
    wanted = {p.name for p in cls.params}
    return evaluate(component, name, **{k: v for k, v in context.items() if k in wanted})


def describe_models() -> list[dict[str, Any]]:
    """Every registered model with its parameters, ranges and source (for docs and the CLI)."""
    rows = []
    for (component, name), cls in sorted(_MODELS.items()):
        rows.append({"component": component, "model": name, "default": _DEFAULTS.get(component) == name,
                     "source": cls.source, "params": {p.name: p.allowed() for p in cls.params}})
    return rows


class TableModel(ComponentModel):
    """A fixed user table (`model: table` with `user_table:`): always accepted for any component.

    The table gives the energy of one action and the leakage directly; peak power is
    energy x actions_per_ns + leakage.
    """

    name = "table"
    source = "user table"
    params = (
        Param("energy_pj_per_action", 0, 1e6, "pJ"),
        Param("area_um2", 0, 1e9, "um2"),
        Param("latency_ns", 0, 1e6, "ns"),
        Param("leakage_mw", 0, 1e5, "mW"),
        RATE,
    )

    def __init__(self, component: str = "any", **values: Any):
        self.component = component
        super().__init__(**values)

    def figures(self) -> ComponentFigures:
        v = self.values
        return ComponentFigures(
            energy_pj_per_action=v["energy_pj_per_action"], area_um2=v["area_um2"], latency_ns=v["latency_ns"],
            leakage_mw=v["leakage_mw"], peak_power_mw=v["energy_pj_per_action"] * v["actions_per_ns"] + v["leakage_mw"],
            source=self.source,
        )

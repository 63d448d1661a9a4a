"""recpim.pim.components: the registry of component models (ADC, DAC, crossbar, S+H, shift-and-add,
registers, buffer, bus, router, DRAM, vector unit, max-pool, chip-to-chip link).

Importing this package registers every model; see `registry` for what one action of each
component means and how static power is split off.
"""

from recpim.pim.components import adc, array, network, tile  # noqa: F401  (registers the models)
from recpim.pim.components.registry import (
    COMPONENT_ACTIONS,
    ComponentFigures,
    ComponentModel,
    Param,
    default_model,
    describe_models,
    evaluate,
    evaluate_with_context,
    model_names,
    register,
    resolve_model,
    set_default,
)

__all__ = [
    "COMPONENT_ACTIONS",
    "ComponentFigures",
    "ComponentModel",
    "Param",
    "default_model",
    "describe_models",
    "evaluate",
    "evaluate_with_context",
    "model_names",
    "register",
    "resolve_model",
    "set_default",
]

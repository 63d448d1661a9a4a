"""Validated configuration records and the one way their errors are told.

Every configuration record of recpim (chip sections, search space, subnet, settings, objectives)
is a pydantic model; a pydantic ValidationError is turned into a ConfigError that names each bad
key path and what is allowed there (`config_problems`), with the same wording everywhere. Dotted
key paths (`crossbar.rows`, `evolution.population`) are walked by one helper, which names the
allowed keys and the closest one when a key is unknown.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from recpim.errors import ConfigError

Problem = tuple[str, str]

# Seeds: non-negative and within a signed 64-bit integer, which numpy's SeedSequence, torch.manual_seed
# and every JSON reader take (numpy refuses negative seeds, torch seeds past 2**64).
MAX_SEED = 2**63 - 1


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """"; did you mean 'x'?" for the known name closest to `name`, or "" when none is close."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def unknown_key_message(key: str, allowed: Iterable[str], where: str = "") -> str:
    """"unknown key 'x' [in where]; did you mean 'y'? allowed keys: ..."."""
    allowed = sorted(allowed)
    place = f" in {where}" if where else ""
    return f"unknown key '{key}'{place}{did_you_mean(key, allowed)} allowed keys: {', '.join(allowed)}"


def _fields_at(model: type[BaseModel] | None, loc: tuple) -> list[str]:
    """Field names of the model nested at `loc` inside `model` (without loc's last element)."""
    for part in loc[:-1]:
        if isinstance(part, int):        # an item of a tuple or list of models: same model
            continue
        field = model.model_fields.get(part) if model is not None and hasattr(model, "model_fields") else None
        if field is None:
            return []
        model = field.annotation
        if getattr(model, "__args__", None):  # Optional[...], tuples of models and the like
            model = next((a for a in model.__args__ if hasattr(a, "model_fields")), model)
    return sorted(model.model_fields) if model is not None and hasattr(model, "model_fields") else []


def config_problems(error: ValidationError, model: type[BaseModel] | None = None,
                    rename: Callable[[tuple], tuple] | None = None) -> list[Problem]:
    """(key path, message) pairs of a pydantic error. A ConfigError raised inside a validator keeps
    its own problems; an unknown key lists the allowed keys of `model` at that place;
    `rename(loc) -> loc` may rewrite locations."""
    problems: list[Problem] = []
    for item in error.errors():
        cause = item.get("ctx", {}).get("error")
        if isinstance(cause, ConfigError):
            problems += cause.problems
            continue
        loc = tuple(rename(item["loc"]) if rename else item["loc"])
        path = ".".join(str(part) for part in loc)
        if item["type"] == "extra_forbidden":
            allowed = _fields_at(model, tuple(item["loc"]))
            problems.append((path, unknown_key_message(str(loc[-1]), allowed) if allowed else "unknown key"))
        elif item["type"] == "missing":   # the input is the whole enclosing object: not worth printing
            problems.append((path, "missing (a required key)"))
        else:
            value = item.get("input")
            shown = "{...}" if isinstance(value, dict) else repr(value)
            problems.append((path, f"got {shown}; allowed: {item['msg']}"))
    return problems


_SCALARS = (bool, int, float)


def _scalar_kinds(annotation: Any) -> frozenset[type] | None:
    """{bool, int, float} the annotation allows when it is made of those (and None) only; None
    when it allows anything else (a string, a Literal, a model...), which pydantic checks alone."""
    args = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) \
        else (annotation,)
    kinds = frozenset(arg for arg in args if arg is not type(None))
    return kinds if kinds and kinds <= set(_SCALARS) else None


def strict_scalar(model: type[BaseModel], field_name: str, value: Any) -> Any:
    """`value` unless a bool, int or float field is given another type: pydantic's lax mode would turn
    "yes" into True, "8" into 8 (also full-width "８") and 1 into True; configs are strict instead."""
    field = model.model_fields.get(field_name)
    kinds = _scalar_kinds(field.annotation) if field is not None else None
    if kinds is None or value is None:
        return value
    if isinstance(value, bool):
        ok = bool in kinds
    elif isinstance(value, int):
        ok = int in kinds or float in kinds
    elif isinstance(value, float):
        ok = float in kinds
    else:
        ok = False
    if not ok:
        wanted = " or ".join({bool: "true/false", int: "an integer", float: "a number"}[kind]
                             for kind in _SCALARS if kind in kinds)
        raise PydanticCustomError("strict_scalar", f"{wanted} (not a {type(value).__name__}: values are not "
                                                   "converted)")
    return value


class StrictScalars(BaseModel):
    """A base whose bool, int and float fields take only those types (see strict_scalar)."""

    @field_validator("*", mode="before")
    @classmethod
    def _strict_scalars(cls, value: Any, info: ValidationInfo) -> Any:
        return strict_scalar(cls, info.field_name, value)


class ValidatedModel(StrictScalars):
    """A frozen, closed (unknown keys rejected) configuration record whose construction raises
    ConfigError naming `config_source` and every bad key."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    config_source: ClassVar[str] = "configuration"

    def __init__(self, **data: Any):
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise ConfigError(self.config_source, config_problems(error, type(self))) from None


def set_dotted(data: dict[str, Any], dotted: str, value: Any, source: str = "override",
               create: bool = False) -> None:
    """data[a][b][c] = value for dotted "a.b.c". Each key must exist (ConfigError naming the allowed
    keys and the closest one) unless `create`, which makes missing levels."""
    parts = dotted.split(".")
    node: Any = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if not isinstance(node, dict):
            raise ConfigError(source, [(".".join(parts[:depth]), f"is a value, not a section; cannot set '{part}'")])
        if part not in node:
            if not create:
                raise ConfigError(source, [(".".join(parts[: depth + 1]), unknown_key_message(part, node))])
            if not last:
                node[part] = {}
        if last:
            node[part] = value
        else:
            node = node[part]


def get_dotted(data: Mapping[str, Any] | BaseModel, dotted: str, source: str = "key", root: str = "") -> Any:
    """The value at dotted "a.b.c" of nested mappings or models; ConfigError naming the allowed
    keys where a part is unknown (`root` names the top level in that message, e.g. "the chip")."""
    node: Any = data
    parts = dotted.split(".")
    for depth, part in enumerate(parts):
        known = list(node) if isinstance(node, Mapping) else list(type(node).model_fields) \
            if isinstance(node, BaseModel) else []
        if part not in known:
            parent = ".".join(parts[:depth]) or root
            raise ConfigError(source, [(".".join(parts[: depth + 1]), unknown_key_message(part, known, parent)
                                        if known else f"'{parent}' is a value, not a section")])
        node = node[part] if isinstance(node, Mapping) else getattr(node, part)
    return node


def read_typed(kind: type, data: Any, source: str, where: str = "") -> Any:
    """`data` read from disk as a `kind` (a dataclass or model: CostReport, SweepResult ...), every field
    present and of its type; a ConfigError naming `source`, `where` in it and each missing or mistyped
    key otherwise (code reading the object would fail deep inside with a KeyError or TypeError)."""
    try:
        return TypeAdapter(kind).validate_python(data)
    except ValidationError as error:
        problems = [(".".join(part for part in (where, path) if part), message)
                    for path, message in config_problems(error)]
        raise ConfigError(f"{kind.__name__} JSON {source}", problems) from None

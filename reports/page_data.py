"""Reading the fields a result page needs from a JSON object, with errors that name the file and
the key (a KeyError or TypeError deep in a renderer says neither)."""

from __future__ import annotations

import json
from typing import Any

from recpim.errors import ConfigError

_TYPE_NAMES = {dict: "an object", list: "a list", str: "a string", int: "an integer", float: "a number",
               bool: "true or false"}


def require(data: Any, source: str, **fields: type | tuple[type, ...]) -> dict[str, Any]:
    """`data` as an object holding each of `fields` (key -> expected type); one ConfigError naming
    `source` and every missing or mistyped key otherwise. Numbers may be ints where floats are asked."""
    if not isinstance(data, dict):
        raise ConfigError(f"result JSON {source}", [("", f"got {type(data).__name__}; allowed: an object")])
    problems = []
    for key, kind in fields.items():
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds:
            kinds = (*kinds, int)
        if key not in data:
            problems.append((key, "missing (a required key)"))
        elif not isinstance(data[key], kinds) or (bool not in kinds and isinstance(data[key], bool)):
            allowed = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds if k is not int or float not in kinds)
            problems.append((key, f"got {json.dumps(data[key])[:60]}; allowed: {allowed}"))
    if problems:
        raise ConfigError(f"result JSON {source}", problems)
    return data


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested objects as (dotted key, leaf) rows; lists of scalars joined, other lists as JSON."""
    if isinstance(value, dict):
        rows: list[tuple[str, Any]] = []
        for key, item in value.items():
            rows += flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return rows or [(prefix, "{}")]
    if isinstance(value, list):
        if all(isinstance(v, str | int | float | bool) or v is None for v in value):
            return [(prefix, ", ".join(str(v) for v in value) or "[]")]
        return [(prefix, json.dumps(value)[:200])]
    return [(prefix, value)]


def cell(value: Any) -> Any:
    """A value a table cell holds: numbers and text as they are, everything else as short JSON."""
    if value is None or isinstance(value, str | int | float):
        return value
    return json.dumps(value)[:120]

"""Errors every layer shares. Each says what is wrong and what is allowed."""

from __future__ import annotations

import json
from typing import Any


class RecpimError(Exception):
    """Base class: the CLI prints these as a one-line message instead of a traceback."""


class ConfigError(RecpimError, ValueError):
    """A configuration (chip YAML, search settings, subnet JSON) failed validation.

    `problems` holds one (key_path, message) pair per problem so callers can inspect them.
    """

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        lines = [f"invalid {source}: {len(problems)} problem(s)"]
        lines += [f"  {path or '<root>'}: {message}" for path, message in problems]
        super().__init__("\n".join(lines))


class CapacityError(RecpimError):
    """A model does not fit the chip; the message lists what each layer needs."""


class UnsupportedModelError(RecpimError):
    """A PyTorch model holds operations recpim cannot lower; the message lists every one."""


class DataError(RecpimError):
    """A dataset file is malformed (bad rows with on_bad_row='error', unknown format...)."""


def parse_json(text: str, source: str) -> Any:
    """json.loads, with malformed text reported as a ConfigError naming `source`."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(source, [("", f"not valid JSON: {error}")]) from None

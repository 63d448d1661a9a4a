"""Chip presets shipped as YAML package data: isaac, puma, neurosim-rram-22nm and default.

`load_chip("isaac")` loads a preset; `load_chip("my_chip.yaml")` loads a file. Either way the chip
is validated, including that every component names a registered model.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import yaml

from recpim.errors import ConfigError
from recpim.pim.chip_model import check_models
from recpim.pim.config import ChipConfig, chip_config_from_dict, load_chip_config
from recpim.validation import did_you_mean

_SUFFIX = ".yaml"


def list_presets() -> list[str]:
    """Names of the shipped presets."""
    return sorted(entry.name[: -len(_SUFFIX)] for entry in files(__name__).iterdir() if entry.name.endswith(_SUFFIX))


def preset_text(name: str) -> str:
    """The YAML text of a shipped preset."""
    if name not in list_presets():
        raise _unknown(name)
    return files(__name__).joinpath(name + _SUFFIX).read_text()


def load_chip(preset_or_path: str | Path) -> ChipConfig:
    """A validated ChipConfig from a preset name or a YAML file path."""
    text = str(preset_or_path)
    if text in list_presets():
        chip = chip_config_from_dict(yaml.safe_load(preset_text(text)), source=f"preset '{text}'")
        source = f"preset '{text}'"
    elif _is_file(text):
        chip, source = load_chip_config(Path(text)), text
    else:
        raise _unknown(text)
    check_models(chip, source)
    return chip


def _is_file(text: str) -> bool:
    try:
        return Path(text).is_file()
    except (OSError, ValueError):
        return False


def _unknown(name: str) -> ConfigError:
    presets = list_presets()
    message = f"'{name}' is neither a preset nor a YAML file{did_you_mean(name, presets)} presets: {', '.join(presets)}"
    return ConfigError("chip", [("", message)])

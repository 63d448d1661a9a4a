"""The supernet's input-sharing setting (arch/model/supernet.py explains the two layouts). Torch-free,
so that the training config (arch/train/config.py), which saves the setting with a run, can name it
without loading the supernet."""

from __future__ import annotations

from typing import Literal

# How the supernet shares a consumer's input weights across producers
InputSharing = Literal["per_source", "per_operator"]
INPUT_SHARING: tuple[str, ...] = ("per_source", "per_operator")

"""Where training and scoring run (`--device auto|cpu|cuda[:N]`) and at what precision
(`--precision fp32|bf16|fp16`).

`auto` picks CUDA when torch sees a GPU, else the CPU. Mixed precision is torch's autocast around
the forward pass (with a GradScaler for fp16, whose narrow exponent would flush small gradients to
zero); parameters, optimizer state and checkpoints stay fp32. What must stay exact stays exact:
fake quantisation runs with autocast off in fp32 (arch/model/modules.py), and scoring (including the
crossbar-arithmetic simulation) always runs in fp32/fp64 whatever the training precision.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch

from recpim.errors import ConfigError

DEVICE_CHOICES = "auto | cpu | cuda | cuda:N"
PRECISIONS = ("fp32", "bf16", "fp16")
Precision = Literal["fp32", "bf16", "fp16"]
_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def available_devices() -> list[str]:
    """The devices this process can use, as --device spells them."""
    return ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """torch.device for a --device value; a ConfigError naming the devices available otherwise."""
    if isinstance(spec, torch.device):
        spec = str(spec)
    if spec is None:
        spec = "auto"
    spec = spec.strip().lower()
    if not spec:   # an empty --device (an unset shell variable) is a mistake, not a choice
        raise ConfigError("device", [("device", f"empty; allowed are {DEVICE_CHOICES}; available here: "
                                                f"{', '.join(available_devices())}")])
    if spec == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    kind, _, index = spec.partition(":")
    if kind != "cuda" or (index and not index.isdigit()):
        raise ConfigError("device", [("device", f"{spec!r}: allowed are {DEVICE_CHOICES}; available here: "
                                                f"{', '.join(available_devices())}")])
    if not torch.cuda.is_available():
        raise ConfigError("device", [("device", f"{spec!r}: this torch sees no CUDA device (torch "
                                                f"{torch.__version__}, CUDA build: {torch.version.cuda or 'none'}); "
                                                f"available here: {', '.join(available_devices())}")])
    if index and int(index) >= torch.cuda.device_count():
        raise ConfigError("device", [("device", f"{spec!r}: there are {torch.cuda.device_count()} CUDA device(s); "
                                                f"available here: {', '.join(available_devices())}")])
    return torch.device(spec if index else "cuda")


@dataclass(frozen=True)
class PrecisionPolicy:
    """Autocast (and grad scaling) for one device and precision."""

    device: torch.device
    precision: Precision = "fp32"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ConfigError("precision", [("precision", f"{self.precision!r}: allowed are {', '.join(PRECISIONS)}")])
        if self.precision == "fp16" and self.device.type != "cuda":
            raise ConfigError("precision", [("precision", f"fp16 needs a CUDA device (got {self.device}); on the "
                                                          "CPU use bf16 or fp32")])

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        if self.precision == "fp32":
            yield
            return
        with torch.autocast(device_type=self.device.type, dtype=_AUTOCAST_DTYPES[self.precision]):
            yield

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        """fp16 only: bf16 has fp32's exponent range and needs no scaling."""
        return torch.amp.GradScaler(self.device.type) if self.precision == "fp16" else None


def memory_stats(device: torch.device) -> dict[str, float]:
    """Peak memory of this process on `device`, MiB (CUDA: allocator peak; CPU: peak RSS)."""
    if device.type == "cuda":
        return {"peak_allocated_mib": torch.cuda.max_memory_allocated(device) / 2**20,
                "peak_reserved_mib": torch.cuda.max_memory_reserved(device) / 2**20}
    import resource

    return {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}

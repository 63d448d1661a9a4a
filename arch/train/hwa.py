"""Hardware-aware training (issue 24, item 4): the device model's programming variation injected
into the weights every training step sees, as aihwkit's HWA training does, so that the trained
weights sit where a perturbation costs little.

The noise a weight sees on a chip: a wb-bit code split into S slices of c-bit cells, each cell off by
N(0, sigma^2) level spacings (the pair encodings: two cells per slice, one of them at 0), is off by
sigma sqrt(cells_per_slice sum_s 4^(c s)) codes, a fraction `weight_noise_std` of the largest code
2^(wb-1) - 1. `WeightNoiseMode` adds that fraction of max|W| times a fresh N(0, 1) to every weight
matrix an F.linear reads (the gradient flows through the clean weight: the noise is a constant of
the step). `train_standalone_hwa` trains a standalone subnet with it and `train_supernet_hwa` the
supernet (the mode wraps the whole training loop, so every step's sampled subnet sees fresh noise;
the supernet's own code is unchanged).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from recpim.arch.crossbar.arithmetic import CrossbarArithmetic
from recpim.arch.data.datasets import CtrDataset
from recpim.arch.model.standalone import StandaloneModel
from recpim.arch.model.subnet import SubnetConfig
from recpim.arch.model.supernet import init_embeddings
from recpim.arch.train.loop import (
    TrainConfig,
    TrainResult,
    configure_threads,
    init_weights,
    run_training,
    train_supernet,
)
from recpim.crossbar_numbers import PAIR_ENCODINGS
from recpim.errors import ConfigError


def weight_noise_std(arith: CrossbarArithmetic, weight_bits: int) -> float:
    """The standard deviation of a weight's programmed error on `arith`'s cells, as a fraction of the
    largest weight (module docstring). Relative sigma takes the mean cell (level (2^c - 1) / 2)."""
    device = arith.device
    if device is None or device.programming_sigma == 0:
        return 0.0
    c = arith.cell_bits
    top = 2**c - 1
    sigma = device.programming_sigma * {"level_spacing": 1.0, "window": float(top),
                                        "relative": top / 2 + device.off_conductance}[device.programming_sigma_unit]
    slices = math.ceil((weight_bits - 1 if arith.encoding == "sign_magnitude" else weight_bits) / c)
    cells = 2 if arith.encoding in PAIR_ENCODINGS else 1
    code_std = sigma * math.sqrt(cells * sum(4.0 ** (c * s) for s in range(slices)))
    return code_std / (2 ** (weight_bits - 1) - 1)


class WeightNoiseMode(TorchFunctionMode):
    """Inside it every F.linear reads W + std * max|W| * N(0, 1), fresh noise per call from `generator`."""

    def __init__(self, std: float, generator: torch.Generator | None = None):
        super().__init__()
        if not 0 <= std <= 10:
            raise ConfigError("hardware-aware training", [("weight_noise", f"must be in [0, 10], got {std}")])
        self.std = std
        self.generator = generator

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is not F.linear or self.std == 0:
            return func(*args, **kwargs)
        x, weight, *rest = args
        scale = weight.detach().abs().amax()
        noise = torch.randn(weight.shape, generator=self.generator, dtype=weight.dtype).to(weight.device)
        return func(x, weight + (self.std * scale * noise), *rest, **kwargs)


def train_standalone_hwa(subnet: SubnetConfig, dataset: CtrDataset, steps: int, weight_noise: float, seed: int = 0,
                         config: TrainConfig | None = None) -> StandaloneModel:
    """A quantisation-aware StandaloneModel of `subnet` trained as train_standalone does, with
    `weight_noise` (weight_noise_std) injected into its weights every step."""
    configure_threads()
    config = (config or TrainConfig(space=subnet.space)).model_copy(update={"steps": steps, "seed": seed})
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = StandaloneModel(subnet, dataset.schema, quantize=True)
        init_weights(model, config.init)
        init_embeddings(model.embeddings)
        mode = WeightNoiseMode(weight_noise, generator)

        def logits(batch, _step):
            with mode:
                return model(batch.dense, batch.sparse)

        run_training(model, logits, dataset, config, title="standalone (hardware-aware)")
    return model.eval()


def train_supernet_hwa(dataset: CtrDataset, config: TrainConfig, weight_noise: float, noise_seed: int = 0,
                       **training) -> TrainResult:
    """recpim.arch.train.loop.train_supernet (its keyword arguments in `training`) with `weight_noise`
    (weight_noise_std) injected into every weight matrix each training step reads."""
    with WeightNoiseMode(weight_noise, torch.Generator().manual_seed(noise_seed)):
        return train_supernet(dataset, config, **training)

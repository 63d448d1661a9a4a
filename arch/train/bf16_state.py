"""Adagrad and Adam whose state (Adagrad's sums, Adam's two moments) is kept in bfloat16 during
training (TrainConfig `optimizer_state_dtype="bf16"`, `--optimizer-state-dtype bf16`): half the bytes
of an unfinished run's CKPT.resume for the dense supernet, whose fp32 state is nearly all of it
(issue 26: 384 MB of NASRec-Small's weights under per-operator sharing, as many optimizer values).

The training itself keeps the bf16 values, so a resumed run continues from exactly what the
uninterrupted run holds and stays bit-identical (tests/test_bf16_optimizer_state.py); rounding only
at save time would not. Each step computes in fp32 from the stored bf16 state and the gradient
(the same formulas as torch.optim.Adagrad with lr_decay 0 and torch.optim.Adam without weight decay
or amsgrad), updates the weights from those fp32 values, and stores the new state rounded to bf16.

The rounding is stochastic (up with probability equal to the dropped fraction): round-to-nearest
would lose every increment below half a bf16 unit (2^-9 relative), so Adagrad's sums would stop
growing after a few hundred steps and Adam's second moment would never decay (0.999 v rounds back to
v). The random bits come from a generator seeded by (seed, the parameter's own step count, its index),
so they are the same in a resumed run and on every data-parallel rank. A value that a step leaves
as it is (an unused slice's zero gradient in Adagrad) is exactly representable and stays put.
Opt-in, because it changes the arithmetic of training (log-loss cost measured by
benchmarks/bench_resume_state.py --quality-only --quality-compare state_dtype, README)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

_LOW_BITS = 1 << 16          # float32 bits a bfloat16 drops
_KEEP_HIGH = -_LOW_BITS      # as an int32 mask: 0xFFFF0000


def stochastic_round_bf16(values: torch.Tensor, generator: torch.Generator, out: torch.Tensor | None = None
                          ) -> torch.Tensor:
    """fp32 `values` rounded to bfloat16 (into `out` when given), up (away from zero) with probability
    equal to the fraction of a bf16 unit dropped: add 16 random low bits to the fp32 bit pattern, then
    drop the low 16 bits. Finite values with no low bits (bf16-representable) and +-inf come back
    unchanged. (The noise is the low half of random_()'s 31 uniform bits: torch.randint over [0, 2^16)
    took 2.5x as long on the CPU.)"""
    if values.dtype != torch.float32:
        raise TypeError(f"stochastic_round_bf16 takes float32 values; got {values.dtype}")
    noise = torch.empty(values.shape, dtype=torch.int32, device=values.device).random_(generator=generator)
    bits = noise.bitwise_and_(_LOW_BITS - 1).add_(values.contiguous().view(torch.int32)).bitwise_and_(_KEEP_HIGH)
    rounded = bits.view(torch.float32)           # its dropped bits are zero: the conversion below is exact
    if out is None:
        return rounded.to(torch.bfloat16)
    return out.copy_(rounded)


def _generator(seed: int, step: int, index: int, device: torch.device) -> torch.Generator:
    """The rounding bits' generator of one parameter's update: a function of (seed, step, index) alone."""
    state = np.random.SeedSequence([seed, step, index]).generate_state(2, dtype=np.uint32)
    generator = torch.Generator(device=device)
    generator.manual_seed(int(state[0]) << 32 | int(state[1]))
    return generator


class _Bf16StateOptimizer(torch.optim.Optimizer):
    """Shared parts: dense gradients only, state created at a parameter's first gradient (a parameter
    never trained has none), one generator per parameter update."""

    def __init__(self, params: Iterable[nn.Parameter], defaults: dict, seed: int):
        if not defaults["lr"] > 0:
            raise ValueError(f"{type(self).__name__}: lr {defaults['lr']}; allowed: > 0")
        self.seed = int(seed)
        super().__init__(params, defaults)

    def _updates(self):
        """(group, index, parameter, state, step, generator) of each parameter with a gradient, its step counted."""
        index = 0
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    if param.grad.is_sparse:
                        raise TypeError(f"{type(self).__name__} takes dense gradients (the tables' sparse "
                                        "optimizer is separate: arch/train/optimizers.py)")
                    state = self.state[param]
                    if not state:
                        state["step"] = torch.tensor(0.0)
                        self._init_state(state, param)
                    state["step"] += 1
                    step = state["step"].item()       # a float, as torch's optimizers use it
                    yield group, param, state, step, _generator(self.seed, int(step), index, param.device)
                index += 1

    def _init_state(self, state: dict, param: nn.Parameter) -> None:
        raise NotImplementedError

    def _update(self, group: dict, param: nn.Parameter, state: dict, step: float,
                generator: torch.Generator) -> None:
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001 - torch's Optimizer.step signature
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group, param, state, step, generator in self._updates():
            self._update(group, param, state, step, generator)
        return loss

    def load_state_dict(self, state_dict: dict) -> None:
        """torch's, then the state back in bf16: torch casts floating state to the parameter's dtype on
        load, which would keep the same values (exactly) but write fp32 again at the next save."""
        super().load_state_dict(state_dict)
        for state in self.state.values():
            for key, value in state.items():
                if key != "step" and isinstance(value, torch.Tensor) and value.is_floating_point():
                    state[key] = value.to(torch.bfloat16)


class Bf16StateAdagrad(_Bf16StateOptimizer):
    """torch.optim.Adagrad (lr_decay 0, no weight decay, initial sum 0) with its sums kept in bf16."""

    def __init__(self, params: Iterable[nn.Parameter], lr: float = 1e-2, eps: float = 1e-10, seed: int = 0):
        super().__init__(params, {"lr": lr, "eps": eps}, seed)

    def _init_state(self, state: dict, param: nn.Parameter) -> None:
        state["sum"] = torch.zeros_like(param, dtype=torch.bfloat16, memory_format=torch.preserve_format)

    def _update(self, group: dict, param: nn.Parameter, state: dict, step: float,
                generator: torch.Generator) -> None:
        grad = param.grad
        total = state["sum"].float().addcmul_(grad, grad)
        param.addcdiv_(grad, total.sqrt().add_(group["eps"]), value=-group["lr"])
        stochastic_round_bf16(total, generator, out=state["sum"])


class Bf16StateAdam(_Bf16StateOptimizer):
    """torch.optim.Adam (no weight decay, no amsgrad) with both moments kept in bf16."""

    def __init__(self, params: Iterable[nn.Parameter], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, seed: int = 0):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps}, seed)

    def _init_state(self, state: dict, param: nn.Parameter) -> None:
        state["exp_avg"] = torch.zeros_like(param, dtype=torch.bfloat16, memory_format=torch.preserve_format)
        state["exp_avg_sq"] = torch.zeros_like(param, dtype=torch.bfloat16, memory_format=torch.preserve_format)

    def _update(self, group: dict, param: nn.Parameter, state: dict, step: float,
                generator: torch.Generator) -> None:
        grad = param.grad
        beta1, beta2 = group["betas"]
        first = state["exp_avg"].float().lerp_(grad, 1 - beta1)
        second = state["exp_avg_sq"].float().mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step_size = group["lr"] / (1 - beta1 ** step)
        denominator = (second.sqrt() / (1 - beta2 ** step) ** 0.5).add_(group["eps"])   # torch.optim.Adam's order
        param.addcdiv_(first, denominator, value=-step_size)
        stochastic_round_bf16(first, generator, out=state["exp_avg"])
        stochastic_round_bf16(second, generator, out=state["exp_avg_sq"])

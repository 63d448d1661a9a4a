"""Row-wise Adagrad for embedding tables: FBGEMM's EXACT_ROWWISE_ADAGRAD (torchrec's default for
embedding tables), one accumulated mean squared gradient per table row instead of one sum per weight.

For each row r a step's (coalesced) gradient reaches, with g_r its D values:

    state[r] += sum_d g_r[d]**2 / D
    w_r      -= lr * g_r / (sqrt(state[r]) + eps)

(fbgemm_gpu/codegen/genscript/optimizers.py, rowwise_adagrad: g_avg_square, momentum1[idx] and
multiplier = learning_rate / (sqrtf(new_sum_square_grads) + eps)). Rows the step did not read keep
their weights and their state. The state of a [rows, D] table is a [rows, 1] tensor: D times
smaller than torch's per-weight Adagrad sums or SparseAdam's two moments (the state takes the
table's dtype, as torch's optimizers' state does), which is what makes an
unfinished run's CKPT.resume small (issue 26). The update is computed in torch's sparse Adagrad's
order (g / (sqrt + eps), then times -lr), so with D = 1 it equals torch.optim.Adagrad bit for bit."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


class RowwiseAdagrad(torch.optim.Optimizer):
    """Row-wise Adagrad over 2-D parameters (embedding tables), for sparse or dense gradients.

    State per parameter: "sum" ([rows, 1], the accumulated mean squared gradient of each row) and
    "step" (a scalar tensor, as torch's optimizers keep it)."""

    def __init__(self, params: Iterable[nn.Parameter], lr: float = 1e-2, eps: float = 1e-10):
        if not lr > 0:
            raise ValueError(f"RowwiseAdagrad: lr {lr}; allowed: > 0")
        if not eps > 0:
            raise ValueError(f"RowwiseAdagrad: eps {eps}; allowed: > 0")
        super().__init__(params, {"lr": lr, "eps": eps})
        for group in self.param_groups:
            for param in group["params"]:
                if param.dim() != 2:
                    raise ValueError(f"RowwiseAdagrad takes [rows, dim] tables; got a parameter of shape "
                                     f"{tuple(param.shape)}")
                self.state[param] = {"step": torch.tensor(0.0),
                                     "sum": torch.zeros(param.shape[0], 1, dtype=param.dtype,
                                                        device=param.device)}

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001 - torch's Optimizer.step signature
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, eps = group["lr"], group["eps"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                state["step"] += 1
                _update(param, param.grad, state["sum"], lr, eps)
        return loss


def _update(param: torch.Tensor, grad: torch.Tensor, state_sum: torch.Tensor, lr: float, eps: float) -> None:
    """One row-wise Adagrad update of `param` in place (see the module docstring)."""
    if grad.is_sparse:
        grad = grad.coalesce()        # duplicates summed first: the update is not linear in the gradient
        rows, values = grad.indices()[0], grad.values()
        if rows.numel() == 0:
            return
        state_sum.index_add_(0, rows, values.square().sum(dim=1, keepdim=True) / values.shape[1])
        std = state_sum.index_select(0, rows).sqrt_().add_(eps)
        param.index_add_(0, rows, values / std, alpha=-lr)
    else:
        state_sum.add_(grad.square().sum(dim=1, keepdim=True) / grad.shape[1])
        param.add_(grad / state_sum.sqrt().add_(eps), alpha=-lr)

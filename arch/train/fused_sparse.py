"""SparseAdam over embedding tables that share one storage (arch/model/embeddings.py), in one update.

torch.optim.SparseAdam updates table after table: per table a coalesce, two sparse_masks, three
sparse adds and a dozen small tensors, ~8 ms a step for the 26 tables of the ranking benchmark's
space split among 8 subnets (issue 23 item 6). `JoinedSparseAdam` coalesces each table's gradient
as SparseAdam does (the same call on the same tensor: the sum of a row's duplicate reads, in the
order torch's sort puts them, is part of the result), then does the arithmetic once for the rows
of every table, on moments kept in one tensor per moment with each table's state a view into it.

Bit for bit SparseAdam: every value goes through the same elementwise operations with the same
operands (old moment, new gradient, the table's step); reading a moment at the gradient's rows is
what sparse_mask reads, and writing old + update back is what the sparse add writes (one addition
per element, rows unique after coalescing). tests/test_fused_embeddings.py compares the two over
training steps. Tables whose steps differ (a table no batch read) or that are not laid out in one
storage are updated by SparseAdam's own code, as is everything with maximize=True.

The state dict is SparseAdam's, table by table (each moment cloned out of the joint tensor, so a
file never holds the whole joint storage for one table's view), and loads either way: a state
dict from torch.optim.SparseAdam is joined into one tensor at the next step."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.optim.optimizer import _to_scalar

from recpim.arch.model.embeddings import joined_rows


def _runs(params: list[torch.Tensor]) -> list[list[torch.Tensor]]:
    """`params` cut into maximal runs of consecutive row blocks of one storage (joined_rows)."""
    runs: list[list[torch.Tensor]] = []
    for param in params:
        if runs and joined_rows([runs[-1][-1], param]) is not None:   # starts where the previous one ends
            runs[-1].append(param)
        else:
            runs.append([param])
    return runs


class JoinedSparseAdam(torch.optim.SparseAdam):
    """torch.optim.SparseAdam whose update of joined tables is one set of calls (module docstring)."""

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001 - torch's Optimizer.step signature
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            with_grad = [p for p in group["params"] if p.grad is not None]
            for param in with_grad:
                if not param.grad.is_sparse:
                    raise RuntimeError("SparseAdam does not support dense gradients, please consider Adam instead")
            for run in _runs(with_grad):
                self._step_run(group, run)
        return loss

    def _state(self, param: torch.Tensor) -> dict[str, Any]:
        state = self.state[param]
        if len(state) == 0:              # SparseAdam's initial state
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        return state

    def _joined_moment(self, run: list[torch.Tensor], key: str) -> torch.Tensor:
        """The run's `key` moments as one tensor whose row blocks are the tables' state (joined once)."""
        moments = [self.state[param][key] for param in run]
        joined = joined_rows(moments)
        if joined is not None:
            return joined
        whole = torch.cat(moments)
        start = 0
        for param in run:
            self.state[param][key] = whole[start:start + param.shape[0]]
            start += param.shape[0]
        return whole

    def _step_run(self, group: dict[str, Any], run: list[torch.Tensor]) -> None:
        beta1, beta2 = group["betas"]
        states = [self._state(param) for param in run]
        for state in states:
            state["step"] += 1
        steps = {state["step"] for state in states}
        if len(run) == 1 or len(steps) > 1 or group.get("maximize", False):
            torch.optim._functional.sparse_adam(
                run, [param.grad for param in run], [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states],
                [s["step"] for s in states], eps=group["eps"], beta1=beta1, beta2=beta2, lr=_to_scalar(group["lr"]),
                maximize=group.get("maximize", False))
            return
        rows, values, start = [], [], 0
        for param in run:
            grad = param.grad.coalesce()            # SparseAdam's own call: duplicates summed in its order
            rows.append(grad._indices()[0] + start)
            values.append(grad._values())
            start += param.shape[0]
        index, grad_values = torch.cat(rows), torch.cat(values)
        if grad_values.numel() == 0:
            return
        exp_avg, exp_avg_sq = self._joined_moment(run, "exp_avg"), self._joined_moment(run, "exp_avg_sq")
        weights = joined_rows(run)
        # SparseAdam's lines (torch/optim/_functional.py sparse_adam), on every table's rows at once
        old_exp_avg_values = exp_avg.index_select(0, index)
        exp_avg_update_values = grad_values.sub(old_exp_avg_values).mul_(1 - beta1)
        old_exp_avg_sq_values = exp_avg_sq.index_select(0, index)
        exp_avg_sq_update_values = grad_values.pow(2).sub_(old_exp_avg_sq_values).mul_(1 - beta2)
        numer = exp_avg_update_values.add_(old_exp_avg_values)        # = exp_avg after its sparse add
        exp_avg.index_copy_(0, index, numer)
        exp_avg_sq_update_values.add_(old_exp_avg_sq_values)          # = exp_avg_sq after its sparse add
        exp_avg_sq.index_copy_(0, index, exp_avg_sq_update_values)
        denom = exp_avg_sq_update_values.sqrt_().add_(group["eps"])
        step = steps.pop()
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = _to_scalar(group["lr"]) * math.sqrt(bias_correction2) / bias_correction1
        weights.index_add_(0, index, -step_size * numer.div_(denom))

    def state_dict(self) -> dict[str, Any]:
        """SparseAdam's state dict; each moment cloned out of the joint tensor (module docstring)."""
        state = super().state_dict()
        state["state"] = {key: {name: value.clone() if isinstance(value, torch.Tensor) and value.dim() else value
                                for name, value in entry.items()} for key, entry in state["state"].items()}
        return state

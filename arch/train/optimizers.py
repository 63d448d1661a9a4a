"""The supernet's optimizer: NASRec's Adagrad (or Adam) for the dense parameters with a warm-up +
cosine schedule, and an optimizer for the embedding tables (sparse Adagrad or SparseAdam, or
row-wise Adagrad with one state value per row: arch/train/rowwise.py), stepped and checkpointed as
one (arch/train/loop.py explains why each choice)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from recpim.arch.model.embeddings import EmbeddingTables
from recpim.arch.model.shared_gradients import gradient_support
from recpim.arch.train.bf16_state import Bf16StateAdagrad, Bf16StateAdam
from recpim.arch.train.config import TrainConfig
from recpim.arch.train.fused_sparse import JoinedSparseAdam
from recpim.arch.train.rowwise import RowwiseAdagrad


class WarmupCosine:
    """lr multiplier: linear warm-up over the first `warmup` steps, then cosine decay to 0 at
    `total`. A plain object so LambdaLR's state_dict keeps (and restores) its numbers."""

    def __init__(self, total: int, warmup: int):
        self.total, self.warmup = total, warmup

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        span = max(1, self.total - self.warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - self.warmup) / span)))


class SplitOptimizer:
    """The dense parameters' optimizer and the embedding tables' sparse one, stepped, zeroed and
    checkpointed as one (torch has no optimizer that is fused for dense and takes sparse grads)."""

    def __init__(self, dense: torch.optim.Optimizer, sparse: torch.optim.Optimizer | None):
        self.parts = [dense] + ([sparse] if sparse is not None else [])

    def zero_grad(self, set_to_none: bool = True) -> None:
        for part in self.parts:
            part.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for part in self.parts:
            part.step()

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return [group for part in self.parts for group in part.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {"parts": [part.state_dict() for part in self.parts]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for part, saved in zip(self.parts, state["parts"], strict=True):
            part.load_state_dict(saved)


class SplitScheduler:
    """One LambdaLR per part of a SplitOptimizer, with the same schedule."""

    def __init__(self, optimizer: SplitOptimizer, schedule: Callable[[int], float]):
        self.parts = [torch.optim.lr_scheduler.LambdaLR(part, schedule) for part in optimizer.parts]

    def step(self) -> None:
        for part in self.parts:
            part.step()

    def get_last_lr(self) -> list[float]:
        return [lr for part in self.parts for lr in part.get_last_lr()]

    def state_dict(self) -> dict[str, Any]:
        return {"parts": [part.state_dict() for part in self.parts]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for part, saved in zip(self.parts, state["parts"], strict=True):
            part.load_state_dict(saved)


def embedding_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for module in model.modules() if isinstance(module, EmbeddingTables) for p in module.parameters()]


def use_sparse_embeddings(model: nn.Module, enabled: bool) -> None:
    """Switch every EmbeddingTables of `model` to sparse (or dense) gradients."""
    for module in model.modules():
        if isinstance(module, EmbeddingTables):
            module.sparse_gradients = enabled


def _dense_optimizer(kind: type, params: list[nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer_state_dtype == "bf16":       # the state kept in bf16 (arch/train/bf16_state.py)
        if kind is torch.optim.Adagrad:
            return Bf16StateAdagrad(params, lr=config.lr, eps=config.adagrad_eps, seed=config.seed)
        return Bf16StateAdam(params, lr=config.lr, seed=config.seed)
    options: dict[str, Any] = {"lr": config.lr}
    if kind is torch.optim.Adagrad:
        options["eps"] = config.adagrad_eps
    try:
        return kind(params, fused=True, **options)
    except (RuntimeError, TypeError):  # pragma: no cover - torch without a fused CPU kernel
        return kind(params, foreach=True, **options)


def make_optimizer(model: nn.Module, config: TrainConfig, total_steps: int) -> tuple[SplitOptimizer, SplitScheduler]:
    """Adagrad (or Adam) with the warm-up + cosine schedule; fused where torch offers it (one pass
    over each updated tensor). Parameters a step did not use have no gradient and are left
    untouched; the zero gradient of an unused slice of a used tensor leaves Adagrad's update of
    that slice at exactly zero (Adam's moments would decay there, so Adagrad suits the supernet).
    With config.sparse_embeddings the tables train with sparse gradients: sparse Adagrad (Adagrad
    accepts them, unfused), or SparseAdam (lazy Adam) beside Adam. config.embedding_optimizer
    "rowwise" gives the tables row-wise Adagrad instead (one state value per row, sparse or dense
    gradients), beside either dense optimizer. config.optimizer_state_dtype "bf16" keeps the dense
    optimizer's state in bfloat16 (arch/train/bf16_state.py; unfused)."""
    use_sparse_embeddings(model, config.sparse_embeddings)
    rowwise = config.embedding_optimizer == "rowwise"
    table_params = embedding_parameters(model) if config.sparse_embeddings or rowwise else []
    table_ids = {id(p) for p in table_params}
    dense_params = [p for p in model.parameters() if id(p) not in table_ids]
    kind = torch.optim.Adagrad if config.optimizer == "adagrad" else torch.optim.Adam
    tables = None
    if table_params:
        table_lr = config.embedding_lr or config.lr   # tables may learn at their own rate (issue 21's lever)
        if rowwise:
            tables = RowwiseAdagrad(table_params, lr=table_lr, eps=config.adagrad_eps)
        elif kind is torch.optim.Adagrad:
            tables = torch.optim.Adagrad(table_params, lr=table_lr, eps=config.adagrad_eps, foreach=False)
        else:
            tables = JoinedSparseAdam(table_params, lr=table_lr)   # SparseAdam in one update (fused_sparse.py)
    optimizer = SplitOptimizer(_dense_optimizer(kind, dense_params, config), tables)
    schedule = WarmupCosine(total_steps, int(round(config.warmup_fraction * total_steps)))
    return optimizer, SplitScheduler(optimizer, schedule)


# float32's unit roundoff: a rounded sum, product or square root is within a factor (1 +- u) of the exact one
_FLOAT32_ROUNDOFF = 2.0 ** -24


def clip_gradients(params: list[nn.Parameter], max_norm: float) -> None:
    """torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=True), the same arithmetic, except that on
    the CPU the gradients are not multiplied when its factor min(max_norm / (norm + 1e-6), 1) is 1 (the
    usual case after the first steps): a multiplication by 1.0 changes no bit, and on the wide space it
    was a tenth of a sampled step (issue 23 item 6). On a GPU the factor stays on the device (no sync).
    Whether the factor is 1 is first decided, where it surely is, from a bound on the norm that reads
    only the gradients' nonzero regions (_norm_surely_below); otherwise from the norm itself."""
    if not params:
        return
    if _norm_surely_below(params, max_norm):
        return
    grads = [p.grad for p in params]
    total = torch.nn.utils.get_total_norm(grads, 2.0, False, True)
    if total.device.type == "cpu" and bool(max_norm / (total + 1e-6) >= 1.0):
        return
    torch.nn.utils.clip_grads_with_norm_(params, max_norm, total, foreach=True)


def _norm_surely_below(params: list[nn.Parameter], max_norm: float) -> bool:
    """True only when the total norm torch would compute for these gradients is surely small enough
    that clipping's factor is 1 (gradient_norm_bound), so the exact norm need not be computed."""
    bound = gradient_norm_bound(params)
    # torch's test is max_norm / (total + 1e-6) >= 1 in float32: this margin covers those two roundings
    return bound is not None and bound <= max_norm * (1.0 - 1e-5) - 2e-6


def gradient_norm_bound(params: list[nn.Parameter]) -> float | None:
    """An upper bound on the total norm torch.nn.utils.get_total_norm computes for these (float32, CPU)
    gradients, reading only their nonzero regions: the shared weights' gradients are zero outside the
    regions the backward pass wrote (shared_gradients.gradient_support; a split step of the wide space
    writes ~10 % of their elements, while the norm read every one, ~9 ms a step). The bound is
    rigorous whatever order either sum adds in: a float32 sum of n squares is within a factor
    (1 +- u)^(n + 2) of the exact one, so the exact squared norm is at most the sum over the pieces'
    rows of n columns of (our row norm)^2 / (1 - u)^(n + 2) (a region that overlaps another counts
    twice: still an upper bound), and torch's squared total at most the exact one times
    (1 + u)^(largest tensor + tensors + 8). None for another dtype or device (NaN for a non-finite
    gradient); the caller then computes the norm as torch does, so the decision, and every bit after
    it, is torch's."""
    grads = [p.grad for p in params]
    if any(g.dtype != torch.float32 or g.device.type != "cpu" or g.is_sparse for g in grads):
        return None
    rows: list[torch.Tensor] = []       # pieces as [rows, columns]: a row-wise norm reads a strided view 6x faster
    for param in params:
        support = gradient_support(param)
        rows.extend([param.grad.reshape(1, -1)] if support is None else support)
    if not rows:
        return 0.0
    u = _FLOAT32_ROUNDOFF
    norms = torch.cat([torch.linalg.vector_norm(piece, dim=1) for piece in rows]).double()
    columns = torch.repeat_interleave(torch.tensor([piece.shape[1] for piece in rows], dtype=torch.float64),
                                      torch.tensor([piece.shape[0] for piece in rows]))
    exact_squared = (norms.square() / (1.0 - u) ** (columns + 2)).sum()
    largest = max(grad.numel() for grad in grads)
    return float(exact_squared.sqrt()) * (1.0 + u) ** ((largest + len(grads) + 8) / 2)

"""Data-parallel training over torch.distributed (launched by torchrun): gloo on CPU, NCCL on CUDA.

Each rank holds the whole model; a step's global batch (TrainConfig.batch_size rows, the same rows
one process would take) is split into equal contiguous slices, one per rank; every rank trains the
same subnet (a function of seed and step, arch/train/loop.py), so every rank's autograd graph uses
the same parameters, and the gradients are averaged before clipping and the optimizer step. The
result equals one process with the same global batch up to float summation order (a test checks
20 steps of two gloo ranks against one process).

Why the gradients are averaged here and not by DistributedDataParallel: the supernet trains a
different single path each step through two entry points (Supernet.forward and forward_full),
so DDP would need its wrapper's forward for both and find_unused_parameters (a graph walk every
step); and DDP expects sparse gradients only from nn.Embedding/EmbeddingBag modules built with
sparse=True (torch/nn/parallel/distributed.py, produces_sparse_gradient), while the tables here
switch F.embedding(sparse=...) per run. Averaging by hand is one all-reduce of every dense
gradient flattened into one buffer (DDP's bucketing, with one bucket) and, per embedding table,
an all-gather of the rows each rank touched, which works alike on gloo and NCCL and keeps sparse
gradients sparse (a step moves O(batch x fields) rows, never whole tables).

The ranks stop together: at each step boundary they share whether any got SIGINT/SIGTERM
(`agree_to_stop`, one all-reduce of one integer), so all raise StopRequested at the same step and
rank 0 saves. A rank that dies makes the others' next collective fail; that failure is RankLost,
and rank 0, when it survives, saves the last completed step before the run ends
(arch/train/launch.py starts the ranks of `--nproc N` and forwards signals to them).

Checkpoints and progress come from rank 0 only. A checkpoint holds no rank-specific state (every
rank has the same model and optimizer state), so a run resumes with any number of ranks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from recpim.errors import ConfigError, RecpimError
from recpim.interrupts import Interrupts, StopRequested


@dataclass(frozen=True)
class DistContext:
    """This process's place in the process group."""

    rank: int
    world_size: int
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, global_batch: int) -> slice:
        """This rank's rows of a global batch of `global_batch` rows."""
        if global_batch % self.world_size:
            raise ConfigError("distributed training", [("batch_size", f"{global_batch} rows do not split evenly "
                                                                      f"over {self.world_size} ranks")])
        size = global_batch // self.world_size
        return slice(self.rank * size, (self.rank + 1) * size)

    @staticmethod
    def current() -> DistContext | None:
        """The initialised process group's context (None: not distributed, or a group of one)."""
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return None
        return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def init_from_env(device: torch.device) -> DistContext | None:
    """Join the process group torchrun describes in the environment (RANK, WORLD_SIZE,
    MASTER_ADDR, ...): NCCL for CUDA devices, gloo otherwise. None when not launched by torchrun."""
    if not launched_by_torchrun():
        return None
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo", init_method="env://")
    return DistContext.current()


def device_for_rank(device: torch.device, context: DistContext | None) -> torch.device:
    """CUDA ranks use the GPU of their local rank (one GPU per process, as torchrun places them)."""
    if context is None or device.type != "cuda":
        return device
    torch.cuda.set_device(context.local_rank)
    return torch.device("cuda", context.local_rank)


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class RankLost(RecpimError):
    """A collective failed: another rank died (killed, out of memory) or stopped answering.
    `updated`: whether this step's optimizer update had already been applied when it failed."""

    def __init__(self, message: str, updated: bool = False):
        super().__init__(message)
        self.updated = updated


@contextmanager
def _collective(what: str, updated: bool = False) -> Iterator[None]:
    """Turn the backend's error of a collective whose peer is gone into RankLost (gloo: 'Connection
    closed by peer' and a 50-line trace; NCCL: a DistBackendError)."""
    try:
        yield
    except (RuntimeError, dist.DistError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise RankLost(f"{what} failed: another rank ended or stopped answering ({first[:200]})", updated) from None


def agree_to_stop(interrupts: Interrupts, context: DistContext | None, device: torch.device) -> None:
    """interrupts.check() for every rank at once: at a step boundary the ranks share whether any of
    them got SIGINT/SIGTERM, and all raise StopRequested at the same step (a rank that stopped alone
    would leave the others waiting in the next step's collective)."""
    if context is None:
        interrupts.check()
        return
    flag = torch.tensor([interrupts.requested or 0], dtype=torch.int64, device=device)
    with _collective("the step boundary's stop check"):
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    if int(flag):
        if interrupts.requested is None:
            interrupts.requested = int(flag)
        raise StopRequested(int(flag))


def _all_gather_sparse_mean(grad: torch.Tensor, world_size: int) -> torch.Tensor:
    """The mean over ranks of a sparse [rows, dim] gradient, by gathering every rank's rows."""
    grad = grad.coalesce()
    indices, values = grad.indices(), grad.values()
    count = torch.tensor([indices.shape[1]], device=values.device)
    counts = [torch.zeros_like(count) for _ in range(world_size)]
    dist.all_gather(counts, count)
    most = int(max(int(c) for c in counts))
    padded_indices = torch.zeros((indices.shape[0], most), dtype=indices.dtype, device=indices.device)
    padded_values = torch.zeros((most, *values.shape[1:]), dtype=values.dtype, device=values.device)
    padded_indices[:, : indices.shape[1]] = indices
    padded_values[: values.shape[0]] = values
    all_indices = [torch.empty_like(padded_indices) for _ in range(world_size)]
    all_values = [torch.empty_like(padded_values) for _ in range(world_size)]
    dist.all_gather(all_indices, padded_indices)
    dist.all_gather(all_values, padded_values)
    kept = [int(c) for c in counts]
    merged_indices = torch.cat([i[:, :k] for i, k in zip(all_indices, kept, strict=True)], dim=1)
    merged_values = torch.cat([v[:k] for v, k in zip(all_values, kept, strict=True)]) / world_size
    return torch.sparse_coo_tensor(merged_indices, merged_values, grad.shape).coalesce()


def average_gradients(model: nn.Module, context: DistContext | None) -> None:
    """Replace every gradient by its mean over the ranks (see the module docstring)."""
    if context is None:
        return
    with _collective("averaging the gradients"):
        _average_gradients(model, context)


def _align_gradients(model: nn.Module) -> None:
    """Give every parameter that some rank's step used a gradient on every rank (zeros where this rank
    did not use it), so the collectives below see the same tensors everywhere. Ranks train different
    subnets when a step splits its batch among several (TrainConfig.subnets_per_step); a parameter no
    rank used keeps no gradient, as in one process."""
    params = list(model.parameters())
    # per parameter: used here, and used with a sparse gradient (embedding rows) here
    flags = torch.tensor([[p.grad is not None, p.grad is not None and p.grad.is_sparse] for p in params],
                         dtype=torch.uint8).reshape(-1, 2)
    dist.all_reduce(flags, op=dist.ReduceOp.MAX)
    for p, (anywhere, sparse) in zip(params, flags.tolist(), strict=True):
        if anywhere and p.grad is None:
            p.grad = (torch.sparse_coo_tensor(torch.zeros((2, 0), dtype=torch.long, device=p.device),
                                              torch.zeros((0, *p.shape[1:]), dtype=p.dtype, device=p.device),
                                              p.shape) if sparse else torch.zeros_like(p))


def _average_gradients(model: nn.Module, context: DistContext) -> None:
    _align_gradients(model)
    dense = [p for p in model.parameters() if p.grad is not None and not p.grad.is_sparse]
    if dense:
        flat = torch.cat([p.grad.reshape(-1) for p in dense])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= context.world_size
        offset = 0
        for p in dense:
            n = p.grad.numel()
            p.grad.copy_(flat[offset:offset + n].view_as(p.grad))
            offset += n
    for p in model.parameters():
        if p.grad is not None and p.grad.is_sparse:
            p.grad = _all_gather_sparse_mean(p.grad, context.world_size)


def mean_over_ranks(value: float, context: DistContext | None, device: torch.device) -> float:
    """The mean of a scalar over the ranks (the global batch's loss from the ranks' losses)."""
    if context is None:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    with _collective("averaging the loss", updated=True):    # after the optimizer step
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return float(tensor) / context.world_size


def broadcast_parameters(model: nn.Module, context: DistContext | None) -> None:
    """Make every rank start from rank 0's weights (they are equal already when every rank seeds
    the same; this makes it so whatever the initialisation did)."""
    if context is None:
        return
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            dist.broadcast(tensor, src=0)

"""What one supernet step trains: NASRec's single sampled subnet (with its full-path warm-up), or
the sandwich rule with in-place distillation (BigNAS, Yu et al. 2020; Once-for-All, Cai et al.
2020), and the penalty on the embedding rows a batch reads.

The sandwich rule, adapted to NASRec's spaces: every step trains the largest network and several
children on the same batch, their gradients averaged in one update.
- The largest network (the teacher, trained on the labels), `sandwich_teacher`: "largest_subnet"
  (default) is the step's sampled subnet with every block at the space's largest widths -- a
  single-operator space has no one largest child, so the step's operators and connections at full
  width stand in for it; "full_path" is the whole supernet (Supernet.forward_full: every operator at
  maximum width on every earlier source, NASRec's warm-up path), which costs 5-20x a subnet step in
  wide spaces (measured in benchmarks/bench_ranking.py's wide space: 5.3 s against 0.3 s per step).
- The children ("students") are the step's sampled subnet, the smallest variant of a second sample
  (every block at the space's smallest dense and sparse widths) and further samples; each draw is a
  function of (seed, step), so a resumed run trains the same children.
- In-place distillation: each student learns from the labels and from the largest network's
  predictions of the same batch, `distill_weight` of the way: (1 - w) BCE(student, label) +
  w BCE(student, sigmoid(teacher)). The teacher's predictions are detached: a student's loss never
  pushes the teacher towards the student.
Why: with one sampled subnet per step, an operator's weights (and, with per-operator input sharing,
each producer's input columns in each consumer) see a small fraction of the steps, so the shared
weights learn little per step (issue 21); the sandwich trains more of them on every batch, and
distillation gives the small children a smoother target than the noisy click labels.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from recpim.arch.data.parsing import CtrBatch
from recpim.arch.model.space import SearchSpace
from recpim.arch.model.subnet import SubnetConfig, sample_subnet
from recpim.arch.model.supernet import Supernet
from recpim.arch.train.config import TrainConfig


def subnet_for_step(space: SearchSpace, seed: int, step: int) -> SubnetConfig:
    """The subnet that supernet step `step` trains (single-operator any-connection sampling)."""
    return sample_subnet(space, np.random.default_rng([seed, step]))


def subnets_for_step(space: SearchSpace, seed: int, step: int, count: int) -> list[SubnetConfig]:
    """The `count` subnets of step `step` under `subnets_per_step`: the step's own subnet first (so
    count 1 is exactly NASRec's step), then draws seeded by (seed, step, 0x5B, k)."""
    return [subnet_for_step(space, seed, step)] + [
        sample_subnet(space, np.random.default_rng([seed, step, 0x5B, k])) for k in range(1, count)]


def split_batch_loss(supernet: Supernet, subnets: list[SubnetConfig], batch: CtrBatch, quant: bool,
                     shard: slice | None = None, global_rows: int | None = None) -> torch.Tensor:
    """Mean over `subnets` of each one's BCE on its own contiguous part of the (global) batch: the
    parts differ in size by at most one row; with more subnets than rows the extra subnets are left
    out. Why: the shared weights see several structures in every update, so one structure's gradient
    no longer pulls them away from the others (bench_supernet_learning.py: with one subnet per step the
    wide space's shared weights learn nothing in 1500 steps).

    A data-parallel rank holds rows `shard` of a global batch of `global_rows`: the parts are cut from
    the global batch, each rank computes its rows' share, scaled so that the mean over ranks (what
    averaging the gradients takes) is the one-process loss: sum over parts of (their BCE sum over this
    rank's rows) / part size, times ranks / parts."""
    local_rows = len(batch.label)
    global_rows = local_rows if global_rows is None else global_rows
    offset = 0 if shard is None else shard.start
    bounds = np.linspace(0, global_rows, len(subnets) + 1).round().astype(int)
    parts = [(subnet, a, b) for subnet, a, b in zip(subnets, bounds[:-1], bounds[1:], strict=True) if b > a]
    total = batch.label.new_zeros(())
    rows = _batch_rows(supernet, subnets, parts, batch, quant) if shard is None else None
    # the parts' rows as one split (its backward joins their gradients into one tensor; slices would
    # each zero-fill a batch-sized one and add them)
    part_rows = rows.split([b - a for _, a, b in parts]) if rows is not None else [None] * len(parts)
    for (subnet, a, b), own_rows in zip(parts, part_rows, strict=True):
        lo, hi = max(a, offset) - offset, min(b, offset + local_rows) - offset
        if hi <= lo:
            continue
        logits = supernet(batch.dense[lo:hi], batch.sparse[lo:hi], subnet, quant=quant, rows=own_rows).float()
        total = total + F.binary_cross_entropy_with_logits(logits, batch.label[lo:hi], reduction="sum") / (b - a)
    return total * (global_rows / local_rows) / len(parts)


def _batch_rows(supernet: Supernet, subnets: list[SubnetConfig], parts: list[tuple[SubnetConfig, int, int]],
                batch: CtrBatch, quant: bool) -> torch.Tensor | None:
    """The embedding rows of the whole batch, looked up once for all its parts (issue 23 item 6: one
    gather and one sparse gradient per table instead of one per part and their sparse sums), or None
    where the parts must look up their own: quantised reads, a searched embedding dim, or a part of
    fewer than 2 rows. Bit for bit the per-part lookups: the rows are the same, and each table's sparse
    gradient is the batch's ids in batch order with their rows' gradients, which is what autograd
    gathered from the parts (it adds them up in part order: tests/test_fused_embeddings.py checks a
    whole split step). A one-row part's gradient would count as coalesced, and autograd would then
    merge it rather than append it, so such steps keep the per-part lookups."""
    full = supernet.schema.embedding_dim
    if quant or any(subnet.dim(full) != full for subnet in subnets) or any(b - a < 2 for _, a, b in parts):
        return None
    return supernet.embeddings(batch.sparse)


def smallest_variant(subnet: SubnetConfig) -> SubnetConfig:
    """`subnet` with every block at its space's smallest dense and sparse widths (same operators,
    connections, mergers and bits): the bottom slice of the sandwich."""
    space = subnet.search_space
    blocks = tuple(block.model_copy(update={"dense_width": min(space.dense_widths),
                                            "sparse_width": min(space.sparse_widths)}) for block in subnet.blocks)
    dims = {"embedding_dim": min(space.embedding_dims)} if space.embedding_dims else {}
    smallest = subnet.model_copy(update={"blocks": blocks, **dims})
    return smallest.validate_in(space)


def largest_variant(subnet: SubnetConfig) -> SubnetConfig:
    """`subnet` with every block at its space's largest dense and sparse widths: the top slice."""
    space = subnet.search_space
    blocks = tuple(block.model_copy(update={"dense_width": max(space.dense_widths),
                                            "sparse_width": max(space.sparse_widths)}) for block in subnet.blocks)
    dims = {"embedding_dim": max(space.embedding_dims)} if space.embedding_dims else {}
    return subnet.model_copy(update={"blocks": blocks, **dims}).validate_in(space)


def sandwich_students(space: SearchSpace, seed: int, step: int, count: int) -> list[SubnetConfig]:
    """The `count` children of step `step`: its sampled subnet, the smallest variant of a second
    sample, then further samples (each drawn from (seed, step, k))."""
    students = [subnet_for_step(space, seed, step)][:count]
    if count >= 2:
        students.append(smallest_variant(sample_subnet(space, np.random.default_rng([seed, step, 1]))))
    students += [sample_subnet(space, np.random.default_rng([seed, step, k])) for k in range(2, count)]
    return students


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, label: torch.Tensor,
                      weight: float) -> torch.Tensor:
    """(1 - weight) BCE(student, label) + weight BCE(student, sigmoid(teacher)); the teacher's
    logits are detached, so no gradient of this loss reaches the teacher."""
    hard = F.binary_cross_entropy_with_logits(student_logits.float(), label)
    if weight == 0:
        return hard
    soft_targets = torch.sigmoid(teacher_logits.detach().float())
    soft = F.binary_cross_entropy_with_logits(student_logits.float(), soft_targets)
    return (1.0 - weight) * hard + weight * soft


def embedding_penalty(supernet: Supernet, batch: CtrBatch) -> torch.Tensor:
    """Mean over the batch of the squared norm of the embedding rows it reads (L2 on the rows a
    step touches, which the sparse optimizers cannot apply as weight decay)."""
    rows = supernet.embeddings(batch.sparse)
    return rows.float().pow(2).sum(dim=(1, 2)).mean()


def supernet_step_loss(supernet: Supernet, space: SearchSpace, config: TrainConfig, warmup_steps: int,
                       batch: CtrBatch, step: int, shard: slice | None = None) -> torch.Tensor:
    """The loss of supernet step `step` under `config`'s recipe (module docstring); `shard`: this
    data-parallel rank's rows of the global batch (split steps cut their parts from the global batch)."""
    if config.sandwich_students:
        if config.sandwich_teacher == "full_path":
            teacher = supernet.forward_full(batch.dense, batch.sparse)
        else:
            teacher = supernet(batch.dense, batch.sparse, largest_variant(subnet_for_step(space, config.seed, step)),
                               quant=config.quant_aware)
        losses = [F.binary_cross_entropy_with_logits(teacher.float(), batch.label)]
        for subnet in sandwich_students(space, config.seed, step, config.sandwich_students):
            student = supernet(batch.dense, batch.sparse, subnet, quant=config.quant_aware)
            losses.append(distillation_loss(student, teacher, batch.label, config.distill_weight))
        loss = torch.stack(losses).mean()
    elif uses_full_path(config.seed, step, warmup_steps):
        logits = supernet.forward_full(batch.dense, batch.sparse)
        loss = F.binary_cross_entropy_with_logits(logits.float(), batch.label)
    elif config.subnets_per_step > 1:
        loss = split_batch_loss(supernet, subnets_for_step(space, config.seed, step, config.subnets_per_step),
                                batch, config.quant_aware, shard, config.batch_size if shard is not None else None)
    else:
        logits = supernet(batch.dense, batch.sparse, subnet_for_step(space, config.seed, step),
                          quant=config.quant_aware)
        loss = F.binary_cross_entropy_with_logits(logits.float(), batch.label)
    if config.embedding_l2:
        loss = loss + config.embedding_l2 * embedding_penalty(supernet, batch)
    return loss


def full_path_probability(step: int, warmup_steps: int) -> float:
    """NASRec's warm-up: the chance that step `step` trains the full supernet, falling linearly
    from 1 at step 0 to 0 at `warmup_steps` (and 0 from then on)."""
    if warmup_steps <= 0 or step >= warmup_steps:
        return 0.0
    return 1.0 - step / warmup_steps


def uses_full_path(seed: int, step: int, warmup_steps: int) -> bool:
    """Whether step `step` trains the full supernet: a draw seeded by (seed, step), like the subnet."""
    probability = full_path_probability(step, warmup_steps)
    return probability > 0 and float(np.random.default_rng([seed, step, 0xF011]).random()) < probability

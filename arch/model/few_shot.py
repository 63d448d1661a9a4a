"""Few-shot supernets (Zhao et al., "Few-shot neural architecture search", ICML 2021): the one-shot
supernet split into one sub-supernet per choice of block 1's dense operator, each warm-started
from the one-shot weights and trained further on its own part of the space only.

Why block 1's dense operator: it is the first operator every subnet runs on the raw dense
features, and the operators differ most there (an FC, a Dot-Product, a Gating and a Sum read
source 0 in unrelated ways), so splitting on it removes the strongest co-adaptation between
operators that share weights downstream. Every subnet belongs to exactly one part
(`FewShotSupernet.part_of`); a subnet's inherited weights are its part's slices, so a part's
inherited subnet equals that part's Supernet.forward of it.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from recpim.arch.model.space import BINARY_DENSE_OPS, DenseOp, SearchSpace
from recpim.arch.model.subnet import SubnetConfig, sample_subnet
from recpim.arch.model.supernet import Supernet
from recpim.errors import ConfigError


def split_choices(space: SearchSpace) -> tuple[DenseOp, ...]:
    """The parts of `space`'s split: one per dense operator block 1 may use."""
    return tuple(space.dense_ops)


def with_first_dense_op(subnet: SubnetConfig, op: DenseOp) -> SubnetConfig:
    """`subnet` with block 1's dense operator replaced by `op` (block 1 reads source 0 only, so its
    connections follow: the one input set (0,) or, for Gating and Sum, left = right = 0)."""
    block = subnet.blocks[0]
    update = (dict(dense_op=op, dense_inputs=(), dense_left=0, dense_right=0) if op in BINARY_DENSE_OPS
              else dict(dense_op=op, dense_inputs=(0,), dense_left=None, dense_right=None))
    blocks = (block.model_copy(update=update), *subnet.blocks[1:])
    return subnet.model_copy(update={"blocks": blocks}).validate_in(subnet.search_space)


def sample_in_part(space: SearchSpace, op: DenseOp, rng) -> SubnetConfig:
    """A subnet of the part `op`: a subnet of the space, drawn as sample_subnet draws, with block 1's
    dense operator set to `op` (uniform over the part's other choices)."""
    return with_first_dense_op(sample_subnet(space, rng), op)


class FewShotSupernet(nn.Module):
    """One Supernet per part of the split; `forward(dense, sparse, subnet)` runs the subnet's part."""

    def __init__(self, parts: dict[DenseOp, Supernet]):
        super().__init__()
        spaces = [part.space for part in parts.values()]
        if not spaces or any(space != spaces[0] for space in spaces):
            raise ConfigError("few-shot supernet", [("parts", "every part must hold the same search space")])
        self.space = spaces[0]
        choices = split_choices(self.space)
        if set(parts) != set(choices):
            allowed = ", ".join(op.value for op in choices)
            raise ConfigError("few-shot supernet", [("parts", f"one part per dense operator of block 1: {allowed}")])
        self.parts = nn.ModuleDict({op.value: parts[op] for op in split_choices(self.space)})

    @classmethod
    def from_one_shot(cls, supernet: Supernet) -> FewShotSupernet:
        """Warm start: every part begins as a copy of the one-shot supernet's weights."""
        return cls({op: copy.deepcopy(supernet) for op in split_choices(supernet.space)})

    def part_of(self, subnet: SubnetConfig) -> DenseOp:
        return subnet.blocks[0].dense_op

    def part(self, subnet: SubnetConfig) -> Supernet:
        return self.parts[self.part_of(subnet).value]

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor, subnet: SubnetConfig, **options) -> torch.Tensor:
        return self.part(subnet)(dense, sparse, subnet, **options)

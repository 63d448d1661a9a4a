"""Few-shot supernets: the split covers the space exactly once, and a part's inherited subnet is
that part's slice of the weights."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny_supernet import SMALL_SCHEMA, small_full_space, small_train_config

from recpim.arch.data.datasets import open_dataset
from recpim.arch.model.few_shot import FewShotSupernet, sample_in_part, split_choices, with_first_dense_op
from recpim.arch.model.subnet import sample_subnet
from recpim.arch.model.supernet import Supernet, extract_standalone
from recpim.arch.train.few_shot import train_few_shot

SPACE = small_full_space("few_shot_small")


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 100_000))
def test_every_subnet_belongs_to_exactly_one_part(seed):
    """Membership read from the parts' sub-spaces (a subnet is in part `op` when setting block 1's
    dense operator to `op` leaves it unchanged), independently of FewShotSupernet.part_of."""
    torch.manual_seed(0)
    few_shot = FewShotSupernet.from_one_shot(Supernet(SPACE, SMALL_SCHEMA))
    subnet = sample_subnet(SPACE, seed)
    owners = [op for op in split_choices(SPACE) if with_first_dense_op(subnet, op) == subnet]
    assert owners == [few_shot.part_of(subnet)]
    assert few_shot.part(subnet) is few_shot.parts[owners[0].value]
    # the parts' subnets are exactly the space's subnets: moving a subnet to another part changes
    # block 1's operator only, and each part's own samples stay in it
    for op in split_choices(SPACE):
        moved = with_first_dense_op(subnet, op)
        assert few_shot.part_of(moved) == op and not moved.problems(SPACE)
        assert moved.blocks[1:] == subnet.blocks[1:]
        assert few_shot.part_of(sample_in_part(SPACE, op, np.random.default_rng(seed))) == op
    assert len({id(part) for part in few_shot.parts.values()}) == len(SPACE.dense_ops)


def test_a_parts_inherited_subnet_equals_its_slice_and_training_touches_only_its_part():
    dataset = open_dataset("synthetic:1500", schema=SMALL_SCHEMA, seed=3)
    torch.manual_seed(0)
    one_shot = Supernet(SPACE, SMALL_SCHEMA).eval()
    before = {k: v.clone() for k, v in one_shot.state_dict().items()}
    few_shot = train_few_shot(one_shot, dataset, small_train_config(SPACE, steps=1), steps_per_part=3)
    assert all(torch.equal(before[k], v) for k, v in one_shot.state_dict().items())   # the one-shot is kept
    batch = dataset.materialize("val")
    for seed in range(6):
        subnet = sample_subnet(SPACE, seed)
        part = few_shot.part(subnet)
        inherited = extract_standalone(part, subnet).eval()
        with torch.no_grad():
            assert torch.allclose(few_shot(batch.dense, batch.sparse, subnet), inherited(batch.dense, batch.sparse),
                                  atol=1e-5)
    # each part trained on its own: parts differ from the warm start and from each other
    states = [part.state_dict() for part in few_shot.parts.values()]
    assert all(any(not torch.equal(before[k], s[k]) for k in before) for s in states)
    assert any(not torch.equal(states[0][k], states[1][k]) for k in before)

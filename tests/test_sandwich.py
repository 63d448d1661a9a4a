"""Issue 21's levers: the streamed synthetic train split, the sandwich rule with in-place
distillation, the tables' own learning rate and the embedding L2 penalty."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny_supernet import SMALL_SCHEMA, small_full_space, small_train_config

from recpim.arch.data.datasets import open_dataset
from recpim.arch.model.subnet import sample_subnet
from recpim.arch.model.supernet import Supernet
from recpim.arch.train.loop import train_batches, train_supernet
from recpim.arch.train.optimizers import make_optimizer
from recpim.arch.train.sandwich import (
    distillation_loss,
    embedding_penalty,
    sandwich_students,
    smallest_variant,
    split_batch_loss,
    subnet_for_step,
    subnets_for_step,
    supernet_step_loss,
)
from recpim.errors import ConfigError

SPACE = small_full_space("sandwich_small")
STREAM = "synthetic:1500:interactions:stream"


def _row_digests(batch) -> list[str]:
    rows = np.concatenate([batch.dense.numpy().view(np.uint8).reshape(len(batch.label), -1),
                           batch.sparse.numpy().view(np.uint8).reshape(len(batch.label), -1)], axis=1)
    return [hashlib.sha1(row.tobytes()).hexdigest() for row in rows]


def test_the_stream_never_repeats_a_row_and_is_reproducible_from_its_seeds():
    dataset = open_dataset(STREAM, seed=4)
    assert dataset.train_stream is not None and dataset.name == STREAM
    batches = train_batches(dataset, 256, seed=7)
    first = [next(batches) for _ in range(40)]          # 10 240 rows, 8.5 times the fixed train split
    digests = [d for b in first for d in _row_digests(b)]
    assert len(set(digests)) == len(digests)
    fixed = dataset.materialize("train")
    assert not set(_row_digests(fixed)) & set(digests)   # fresh rows, not the fixed draw's
    again = train_batches(open_dataset(STREAM, seed=4), 256, seed=7, start_step=25)
    assert torch.equal(next(again).sparse, first[25].sparse)   # a resumed run continues the same stream
    other = next(train_batches(dataset, 256, seed=8))
    assert not torch.equal(other.sparse, first[0].sparse)      # another training seed, another stream
    # the val split is the fixed draw's, as without :stream
    plain = open_dataset("synthetic:1500:interactions", seed=4)
    assert torch.equal(dataset.materialize("val").sparse, plain.materialize("val").sparse)


def test_a_stream_needs_a_step_count_and_a_known_mode():
    with pytest.raises(ConfigError, match="stream"):
        open_dataset("synthetic:1500:interactions:forever")
    dataset = open_dataset(STREAM, schema=SMALL_SCHEMA, seed=3)
    config = small_train_config(SPACE, steps=1).model_copy(update={"steps": None, "data": STREAM})
    with pytest.raises(ConfigError, match="number of steps"):
        train_supernet(dataset, config, space=SPACE)


def test_distillation_sends_no_gradient_to_the_teacher():
    teacher = torch.randn(32, requires_grad=True)
    student = torch.randn(32, requires_grad=True)
    label = (torch.rand(32) < 0.3).float()
    distillation_loss(student, teacher, label, 0.5).backward()
    assert teacher.grad is None and student.grad is not None and bool(student.grad.abs().sum() > 0)
    # weight 0 is plain BCE on the labels; weight 1 learns the teacher's probabilities only
    assert torch.allclose(distillation_loss(student, teacher, label, 0.0),
                          torch.nn.functional.binary_cross_entropy_with_logits(student, label))
    same = distillation_loss(teacher.detach(), teacher, label, 1.0)
    p = torch.sigmoid(teacher.detach())
    entropy = -(p * p.log() + (1 - p) * (1 - p).log()).mean()
    assert float(same) == pytest.approx(float(entropy), rel=1e-5)   # at the teacher: its own entropy


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 4))
def test_the_sandwich_children_are_valid_and_the_second_is_the_smallest(seed, count):
    students = sandwich_students(SPACE, seed, 3, count)
    assert len(students) == count
    for subnet in students:
        assert not subnet.problems(SPACE)
    if count >= 2:
        smallest = students[1]
        assert {b.dense_width for b in smallest.blocks} == {min(SPACE.dense_widths)}
        assert {b.sparse_width for b in smallest.blocks} == {min(SPACE.sparse_widths)}
    assert [s.to_json() for s in students] == [s.to_json() for s in sandwich_students(SPACE, seed, 3, count)]


def test_smallest_variant_keeps_operators_and_connections():
    subnet = sample_subnet(SPACE, 11)
    smallest = smallest_variant(subnet)
    for block, small in zip(subnet.blocks, smallest.blocks, strict=True):
        assert (block.dense_op, block.sparse_op, block.dense_inputs, block.sparse_inputs) == \
            (small.dense_op, small.sparse_op, small.dense_inputs, small.sparse_inputs)


@pytest.mark.parametrize("teacher", ["largest_subnet", "full_path"])
def test_a_sandwich_step_trains_the_teacher_and_every_child(teacher):
    """One sandwich step reaches strictly more weights than the step's one subnet: the teacher's
    and every child's."""
    dataset = open_dataset("synthetic:1500", schema=SMALL_SCHEMA, seed=3)
    config = small_train_config(SPACE, steps=4, sandwich_students=3, distill_weight=0.5, sandwich_teacher=teacher,
                                subnets_per_step=1)
    torch.manual_seed(0)
    supernet = Supernet(SPACE, SMALL_SCHEMA, config.input_sharing)
    batch = next(train_batches(dataset, 64, seed=5))
    loss = supernet_step_loss(supernet, SPACE, config, 0, batch, step=0)
    loss.backward()
    used = {name for name, p in supernet.named_parameters() if p.grad is not None and float(p.grad.abs().sum()) > 0}
    plain = Supernet(SPACE, SMALL_SCHEMA, config.input_sharing)
    one = supernet_step_loss(plain, SPACE, config.model_copy(update={"sandwich_students": 0}), 0, batch, step=0)
    one.backward()
    single = {name for name, p in plain.named_parameters() if p.grad is not None and float(p.grad.abs().sum()) > 0}
    assert single < used      # the sandwich reaches strictly more weights than the step's one subnet


def test_embedding_lr_and_l2_reach_the_tables():
    config = small_train_config(SPACE, steps=4, embedding_lr=0.5, embedding_l2=1e-3)
    supernet = Supernet(SPACE, SMALL_SCHEMA)
    optimizer, _ = make_optimizer(supernet, config, 4)
    lrs = sorted({group["lr"] for part in optimizer.parts for group in part.param_groups})
    assert lrs == sorted({config.lr, 0.5})
    dataset = open_dataset("synthetic:1500", schema=SMALL_SCHEMA, seed=3)
    batch = next(train_batches(dataset, 64, seed=5))
    penalty = embedding_penalty(supernet, batch)
    rows = supernet.embeddings(batch.sparse)
    assert float(penalty) == pytest.approx(float(rows.pow(2).sum() / len(batch.label)), rel=1e-5)
    with_l2 = supernet_step_loss(supernet, SPACE, config.model_copy(update={"embedding_l2": 1.0}), 0, batch, 0)
    without = supernet_step_loss(supernet, SPACE, config.model_copy(update={"embedding_l2": 0.0}), 0, batch, 0)
    assert float(with_l2 - without) == pytest.approx(float(penalty), rel=1e-3)


def test_a_streamed_sandwich_run_trains_and_resumes_bit_for_bit(tmp_path):
    dataset = open_dataset(STREAM, schema=SMALL_SCHEMA, seed=3)
    config = small_train_config(SPACE, steps=6, data=STREAM, sandwich_students=2, distill_weight=0.5,
                                subnets_per_step=1)
    whole = train_supernet(dataset, config, space=SPACE, checkpoint=tmp_path / "a.pt")
    train_supernet(dataset, config, space=SPACE, checkpoint=tmp_path / "b.pt", until_step=3)
    resumed = train_supernet(dataset, config, space=SPACE, checkpoint=tmp_path / "b.pt", resume=True)
    assert whole.losses[3:] == resumed.losses
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_the_converged_truth_stops_on_a_validation_rise():
    """A model that overfits a small train split (a large table per field, Adam at a high rate)
    stops when its held-out loss has risen for `patience` checks, and keeps the best check's weights."""
    from recpim.arch.data.synthetic import synthetic_schema
    from recpim.arch.train.scoring import train_standalone_converged

    schema = synthetic_schema(num_dense=4, num_sparse=5, vocab_size=400, embedding_dim=8)
    dataset = open_dataset("synthetic:1200", schema=schema, seed=3)
    subnet = sample_subnet(SPACE, 2)
    config = small_train_config(SPACE, steps=1, optimizer="adam", lr=0.03, warmup_fraction=0.0)
    # scored on the split it stopped on, so the kept weights must give the best check's loss again
    result = train_standalone_converged(subnet, dataset, max_steps=400, config=config, check_every=10, patience=3,
                                        split="test")
    losses = result.stop_losses
    assert result.stopped_early and result.steps_run < 400
    best = losses.index(min(losses))
    assert len(losses) - 1 - best == 3 and all(later > losses[best] for later in losses[best + 1:])
    assert result.best_step == 10 * (best + 1) and result.score.train_steps == result.best_step
    assert result.score.logloss == pytest.approx(min(losses), rel=1e-6)


def test_probes_log_fixed_subnets_train_and_val_loss_during_training():
    from recpim.arch.train.probes import ProbeLog

    dataset = open_dataset("synthetic:1500", schema=SMALL_SCHEMA, seed=3)
    probes = ProbeLog.sample(dataset, [sample_subnet(SPACE, 1), sample_subnet(SPACE, 2)], every=2, rows=128)
    train_supernet(dataset, small_train_config(SPACE, steps=6), space=SPACE, probes=probes)
    assert [(r.step, r.probe) for r in probes.records] == [(s, p) for s in (2, 4, 6) for p in (0, 1)]
    assert all(0 < r.train_logloss < 5 and 0 < r.val_logloss < 5 for r in probes.records)


@settings(max_examples=8, deadline=None)
@given(count=st.integers(1, 9), rows=st.integers(3, 70))
def test_a_split_step_is_the_mean_of_each_subnets_loss_on_its_own_rows(count, rows):
    """subnets_per_step: the batch's rows are cut into contiguous parts differing by at most one row,
    covering every row once; part k trains the step's k-th subnet; the loss is the parts' mean."""
    dataset = open_dataset("synthetic:1500", schema=SMALL_SCHEMA, seed=3)
    batch = next(train_batches(dataset, rows, seed=5))
    torch.manual_seed(0)
    supernet = Supernet(SPACE, SMALL_SCHEMA, "per_operator")
    subnets = subnets_for_step(SPACE, 0, 7, count)
    assert subnets[0] == subnet_for_step(SPACE, 0, 7) and subnets == subnets_for_step(SPACE, 0, 7, count)
    bounds = [int(b) for b in np.linspace(0, rows, count + 1).round()]
    sizes = [b - a for a, b in zip(bounds, bounds[1:], strict=False)]
    assert sum(sizes) == rows and max(sizes) - min(sizes) <= 1
    with torch.no_grad():
        parts = [torch.nn.functional.binary_cross_entropy_with_logits(
            supernet(batch.dense[a:b], batch.sparse[a:b], subnet), batch.label[a:b])
            for subnet, a, b in zip(subnets, bounds, bounds[1:], strict=False) if b > a]
        got = split_batch_loss(supernet, subnets, batch, quant=False)
    assert float(got) == pytest.approx(float(torch.stack(parts).mean()), rel=1e-6)


def test_one_subnet_per_step_is_the_plain_step_and_a_split_reaches_more_weights():
    dataset = open_dataset("synthetic:1500", schema=SMALL_SCHEMA, seed=3)
    batch = next(train_batches(dataset, 64, seed=5))
    config = small_train_config(SPACE, steps=4, full_path_fraction=0.0, subnets_per_step=1)

    def grads(cfg):
        torch.manual_seed(0)
        supernet = Supernet(SPACE, SMALL_SCHEMA, cfg.input_sharing)
        loss = supernet_step_loss(supernet, SPACE, cfg, 0, batch, step=2)
        loss.backward()
        used = {n for n, p in supernet.named_parameters() if p.grad is not None and float(p.grad.abs().sum())}
        return float(loss), used

    plain_loss, plain = grads(config)
    # one part is exactly NASRec's step: the step's own subnet on the whole batch
    torch.manual_seed(0)
    supernet = Supernet(SPACE, SMALL_SCHEMA, config.input_sharing)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        supernet(batch.dense, batch.sparse, subnet_for_step(SPACE, config.seed, 2)), batch.label)
    assert plain_loss == float(expected)
    assert subnets_for_step(SPACE, config.seed, 2, 1) == [subnet_for_step(SPACE, config.seed, 2)]
    _, split = grads(config.model_copy(update={"subnets_per_step": 6}))
    assert plain < split
    with pytest.raises(ConfigError, match="subnets_per_step"):
        small_train_config(SPACE, steps=4, subnets_per_step=2, sandwich_students=2)


def test_a_split_run_resumes_bit_for_bit(tmp_path):
    dataset = open_dataset(STREAM, schema=SMALL_SCHEMA, seed=3)
    config = small_train_config(SPACE, steps=6, data=STREAM, subnets_per_step=3)
    whole = train_supernet(dataset, config, space=SPACE, checkpoint=tmp_path / "a.pt")
    train_supernet(dataset, config, space=SPACE, checkpoint=tmp_path / "b.pt", until_step=3)
    resumed = train_supernet(dataset, config, space=SPACE, checkpoint=tmp_path / "b.pt", resume=True)
    assert whole.losses[3:] == resumed.losses

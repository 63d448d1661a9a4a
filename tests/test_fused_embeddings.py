"""Issue 23 item 6: the embedding tables kept in one storage, looked up in one gather and updated by
SparseAdam in one set of calls (arch/model/embeddings.py, arch/train/fused_sparse.py), with the per-field
lookups' and torch.optim.SparseAdam's values bit for bit, and their state dicts unchanged."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny_supernet import SMALL_SCHEMA, small_full_space
from torch.utils._python_dispatch import TorchDispatchMode

from recpim.arch.model.embeddings import EmbeddingTables, joined_rows
from recpim.arch.model.supernet import Supernet
from recpim.arch.train.config import TrainConfig
from recpim.arch.train.fused_sparse import JoinedSparseAdam
from recpim.arch.train.loop import train_step
from recpim.arch.train.optimizers import make_optimizer
from recpim.arch.train.sandwich import supernet_step_loss

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class CountOps(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(func._schema.name)
        return func(*args, **(kwargs or {}))


def _per_field(weights: list[torch.Tensor], ids: torch.Tensor, sparse: bool) -> torch.Tensor:
    """What EmbeddingTables computed before: one F.embedding per field, stacked."""
    return torch.stack([F.embedding(ids[:, f], w, sparse=sparse) for f, w in enumerate(weights)], dim=1)


def test_the_tables_start_with_nn_embeddings_own_weights():
    torch.manual_seed(3)
    tables = EmbeddingTables([5, 7, 1, 20], 4)
    after = torch.rand(1)
    torch.manual_seed(3)
    separate = [torch.nn.Embedding(size, 4) for size in (5, 7, 1, 20)]
    assert all(torch.equal(a.weight, b.weight) for a, b in zip(tables.tables, separate, strict=True))
    assert torch.equal(after, torch.rand(1))       # and the same draws used: what is built next starts alike


def test_the_tables_share_one_storage_and_a_lookup_is_one_gather():
    tables = EmbeddingTables([5, 7, 3], 4)
    assert joined_rows([t.weight for t in tables.tables]) is not None
    ids = torch.tensor([[0, 6, 2], [4, 0, 0]])
    with CountOps() as ops:
        rows = tables(ids)
    assert ops.names.count("aten::embedding") == 1
    assert torch.equal(rows, _per_field([t.weight for t in tables.tables], ids, False))


@settings(max_examples=40, deadline=None)
@given(vocab=st.lists(st.integers(1, 9), min_size=1, max_size=6), lookups=st.integers(1, 4),
       rows=st.integers(1, 12), sparse=st.booleans(), seed=st.integers(0, 10_000))
def test_values_and_every_tables_gradient_are_the_per_field_lookups_bit_for_bit(vocab, lookups, rows, sparse, seed):
    # several lookups summed, as a step split among subnets makes them: the sparse gradients accumulate in
    # the same order (the sum of a row's duplicate reads depends on it once SparseAdam coalesces)
    generator = torch.Generator().manual_seed(seed)
    tables = EmbeddingTables(vocab, 3)
    tables.sparse_gradients = sparse
    plain = [torch.nn.Parameter(t.weight.detach().clone()) for t in tables.tables]
    batches = [torch.stack([torch.randint(0, v, (rows,), generator=generator) for v in vocab], dim=1)
               for _ in range(lookups)]
    upstream = [torch.randn(rows, len(vocab), 3, generator=generator) for _ in range(lookups)]
    mine = [tables(ids) for ids in batches]
    reference = [_per_field(plain, ids, sparse) for ids in batches]
    assert all(torch.equal(a, b) for a, b in zip(mine, reference, strict=True))
    sum((r * u).sum() for r, u in zip(mine, upstream, strict=True)).backward()
    sum((r * u).sum() for r, u in zip(reference, upstream, strict=True)).backward()
    for table, ref in zip(tables.tables, plain, strict=True):
        assert table.weight.grad.is_sparse == ref.grad.is_sparse == sparse
        if sparse:
            assert torch.equal(table.weight.grad._indices(), ref.grad._indices())
            assert torch.equal(table.weight.grad._values(), ref.grad._values())
        else:
            assert torch.equal(table.weight.grad, ref.grad)


def test_an_id_past_its_table_is_refused_naming_the_field():
    tables = EmbeddingTables([5, 7], 2)
    with pytest.raises(IndexError, match="id 5 of field 0 .*5 rows"):
        tables(torch.tensor([[5, 0]]))     # row 5 of the joined tensor would be table 1's row 0
    with pytest.raises(IndexError, match="id -1 of field 1"):
        tables(torch.tensor([[0, -1]]))


def test_tables_given_storages_of_their_own_are_joined_again_with_their_values():
    tables = EmbeddingTables([4, 3], 2)
    table = tables.tables[1].weight
    table.data = torch.arange(6, dtype=torch.float32).reshape(3, 2)   # what .to() or a .data assignment does
    assert joined_rows([t.weight for t in tables.tables]) is None
    rows = tables(torch.tensor([[1, 2]]))
    assert rows[0, 1].tolist() == [4.0, 5.0]
    assert tables.tables[1].weight is table and joined_rows([t.weight for t in tables.tables]) is not None


def test_a_state_dict_of_separate_tables_loads_into_the_joined_storage():
    source, target = EmbeddingTables([4, 3], 2), EmbeddingTables([4, 3], 2)
    saved = {key: value.clone() for key, value in source.state_dict().items()}   # one storage per table
    assert sorted(saved) == ["tables.0.weight", "tables.1.weight"]
    target.load_state_dict(saved)
    assert all(torch.equal(a.weight, b.weight) for a, b in zip(source.tables, target.tables, strict=True))
    assert joined_rows([t.weight for t in target.tables]) is not None


def _train_tables(optimizer_class, vocab, steps, seed, state=None):
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    tables = EmbeddingTables(vocab, 3)
    tables.sparse_gradients = True
    optimizer = optimizer_class(list(tables.parameters()), lr=0.05)
    for step in range(steps):
        optimizer.zero_grad()
        for _ in range(2):   # two lookups a step, many duplicate rows
            ids = torch.stack([torch.randint(0, v, (6,), generator=generator) for v in vocab], dim=1)
            (tables(ids) * torch.randn(6, len(vocab), 3, generator=generator)).sum().backward()
        optimizer.step()
        if step == 0 and state is not None:
            optimizer.load_state_dict(state)
    return tables, optimizer


@settings(max_examples=25, deadline=None)
@given(vocab=st.lists(st.integers(1, 8), min_size=1, max_size=5), steps=st.integers(1, 4), seed=st.integers(0, 999))
def test_joined_sparse_adam_is_sparse_adam_bit_for_bit(vocab, steps, seed):
    mine, mine_opt = _train_tables(JoinedSparseAdam, vocab, steps, seed)
    torchs, torch_opt = _train_tables(torch.optim.SparseAdam, vocab, steps, seed)
    assert all(torch.equal(a.weight, b.weight) for a, b in zip(mine.tables, torchs.tables, strict=True))
    mine_state, torch_state = mine_opt.state_dict(), torch_opt.state_dict()
    assert mine_state["param_groups"] == torch_state["param_groups"]
    for key, entry in torch_state["state"].items():
        assert mine_state["state"][key]["step"] == entry["step"]
        for name in ("exp_avg", "exp_avg_sq"):
            saved = mine_state["state"][key][name]
            assert torch.equal(saved, entry[name])
            # cloned out of the joint moment: a file holds this table's state, not every table's
            assert saved.untyped_storage().nbytes() == saved.numel() * saved.element_size()


def test_sparse_adams_state_dict_loads_and_training_goes_on_bit_for_bit():
    vocab = [6, 4, 5]
    _, torch_opt = _train_tables(torch.optim.SparseAdam, vocab, 1, 7)
    saved = torch_opt.state_dict()
    mine, _ = _train_tables(JoinedSparseAdam, vocab, 3, 7, state=saved)
    torchs, _ = _train_tables(torch.optim.SparseAdam, vocab, 3, 7, state=saved)
    assert all(torch.equal(a.weight, b.weight) for a, b in zip(mine.tables, torchs.tables, strict=True))


@pytest.mark.parametrize("fields", [3, 9])
def test_the_tables_update_costs_the_same_calls_for_any_number_of_tables(fields):
    # SparseAdam spent two sparse_masks, three sparse adds and a dozen small ops per table
    config = TrainConfig(optimizer="adam", lr=0.01)
    tables = EmbeddingTables([5] * fields, 2)
    model = torch.nn.ModuleDict({"tables": tables, "head": torch.nn.Linear(1, 1)})
    optimizer, _ = make_optimizer(model, config, 10)
    (tables(torch.zeros(4, fields, dtype=torch.int64)) ** 2).sum().backward()
    with CountOps() as ops:
        optimizer.parts[-1].step()
    assert "aten::sparse_mask" not in ops.names
    counts = {name: ops.names.count(name) for name in ("aten::index_select", "aten::index_copy_", "aten::index_add_")}
    assert counts == {"aten::index_select": 2, "aten::index_copy_": 2, "aten::index_add_": 1}


def test_a_split_supernet_step_trains_as_the_per_field_lookups_and_sparse_adam_did(monkeypatch):
    # the whole step, 8 subnets per batch, against the tables as they were: each part looking its rows up,
    # one F.embedding per field (the loop EmbeddingTables.forward still takes for quantised reads), and
    # torch's SparseAdam; here the batch is looked up once for all parts, in one gather
    from recpim.arch.data.datasets import open_dataset
    from recpim.arch.train import optimizers, sandwich
    from recpim.arch.train.loop import train_batches

    space = small_full_space("fused_tables_space")
    dataset = open_dataset("synthetic:1500", schema=SMALL_SCHEMA)
    config = TrainConfig(data="synthetic:1500", space=space.name, steps=20, batch_size=64, optimizer="adam",
                         lr=0.01, full_path_fraction=0.0, subnets_per_step=8, seed=2)

    def run() -> tuple[list[float], dict[str, torch.Tensor]]:
        torch.manual_seed(0)
        model = Supernet(space, dataset.schema, config.input_sharing)
        optimizer, scheduler = make_optimizer(model, config, 20)
        batches = train_batches(dataset, 64, config.seed)
        losses = [train_step(model, None, next(batches), optimizer, scheduler, config.grad_clip_norm,
                             loss_fn=lambda b, s=step: supernet_step_loss(model, space, config, 0, b, s))
                  for step in range(4)]
        return losses, {k: v.clone() for k, v in model.state_dict().items()}

    losses, weights = run()
    monkeypatch.setattr(EmbeddingTables, "_lookup_all", lambda self, ids: torch.stack(
        [F.embedding(ids[:, f], t.weight, sparse=self.sparse_gradients) for f, t in enumerate(self.tables)], dim=1))
    monkeypatch.setattr(optimizers, "JoinedSparseAdam", torch.optim.SparseAdam)
    monkeypatch.setattr(sandwich, "_batch_rows", lambda *args: None)    # each part looks its rows up itself
    old_losses, old_weights = run()
    assert losses == old_losses
    assert all(torch.equal(weights[key], old_weights[key]) for key in old_weights)


@pytest.mark.parametrize(("batch_rows", "gathers"), [(64, 1), (12, 8)])
def test_a_split_step_looks_its_batch_up_once_unless_a_part_has_one_row(batch_rows, gathers):
    # 12 rows among 8 subnets leave parts of one row: their gradients would count as coalesced and be
    # merged, not appended, so each part then looks up its own rows (one gather each)
    from recpim.arch.data.datasets import open_dataset
    from recpim.arch.train.loop import train_batches

    space = small_full_space("fused_tables_once_space")
    dataset = open_dataset("synthetic:1500", schema=SMALL_SCHEMA)
    config = TrainConfig(data="synthetic:1500", space=space.name, batch_size=batch_rows, subnets_per_step=8)
    model = Supernet(space, dataset.schema, config.input_sharing)
    batch = next(train_batches(dataset, batch_rows, 0))
    with CountOps() as ops:
        supernet_step_loss(model, space, config, 0, batch, 0)
    assert ops.names.count("aten::embedding") == gathers
